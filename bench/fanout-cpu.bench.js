/**
 * fanout-cpu: the gateway's CPU per delivered message with 1, 100 and 1000 SSE
 * subscribers of ONE share (one view), all connected (from=latest) before a fixed
 * number of records is produced at a steady rate.
 *
 * Per delivery = gateway CPU (utime+stime of the `node dist/main.js` child, from
 * /proc/<pid>/stat) from the first record produced until every subscriber has counted
 * every record, divided by records × subscribers. The tap reads, decodes, checks and
 * filters each record once and the view's bytes are framed once; what grows with the
 * subscriber count is the per-subscriber write. Baseline = the 1-subscriber figure
 * (the whole per-record cost), candidate = the 1000-subscriber figure.
 * Target (Stream engine issue): candidate ≤ 1/10 of the baseline (ratio ≤ 0.1).
 *
 * The client (this process) opens every stream with one undici Agent and counts
 * `event: record` frames in the raw bytes without parsing them, so one process can
 * keep up with 1000 streams; its CPU is reported too. The producer runs in its own
 * process.
 */
import { Agent } from 'undici'
import { PASSTHROUGH_POLICY, startBenchGateway, issueShareToken } from './lib/gateway.js'
import { benchCluster, benchTopic, cleanUp } from './lib/kafka.js'
import { CountingSseStream } from './lib/clients.js'
import { producePaced } from './lib/paced-producer.js'
import { idleCpuCores, median, procCpuUs, procRssMb, sleep, withTimeout } from './lib/util.js'

const PRODUCT = 'orders'
const PARTITIONS = 3
const RECORD_BYTES = 1024
const RATE = 1000
const PRODUCE_BATCH = 50
const OPEN_CONCURRENCY = 50
/** What the gateway is given so that slow reads by this one busy client do not cut subscribers. */
const GATEWAY_LIMITS = {
  STREAMSHARE_STREAM_MAX_BUFFERED_BYTES: String(64 * 1024 * 1024),
  STREAMSHARE_STREAM_STALL_TIMEOUT_MS: '600000',
  // The ring must hold what the slowest subscriber has not read yet: 1 GiB is never the bound here.
  STREAMSHARE_RING_MAX_BYTES: String(1024 * 1024 * 1024),
  // Pre-authentication and per-share request limits (Quotas): 1000+ streams of one share are
  // opened from one address within seconds, which those limits exist to refuse.
  STREAMSHARE_IP_CONNECTIONS_PER_MINUTE: '1000000',
  STREAMSHARE_DEFAULT_REQUESTS_PER_MINUTE: '10000000'
}

export async function run ({ quick, brokers, log }) {
  const records = Number(process.env.BENCH_FANOUT_RECORDS ?? (quick ? 1000 : 5000))
  const counts = (process.env.BENCH_FANOUT_COUNTS ?? '1,100,1000').split(',').map(Number)
  const policy = process.env.BENCH_FANOUT_POLICY ?? 'partner-basic'
  const rounds = Number(process.env.BENCH_FANOUT_ROUNDS ?? (quick ? 1 : 3))
  const topic = benchTopic('fanout-cpu')
  const cluster = benchCluster(brokers)
  let gateway

  try {
    await cluster.ensureTopics([{ topic, partitions: PARTITIONS }])
    gateway = await startBenchGateway({ brokers, product: PRODUCT, topic, extraPolicies: PASSTHROUGH_POLICY, env: GATEWAY_LIMITS, log })
    const token = await issueShareToken(gateway.adminUrl, gateway.adminToken, policy, { product: PRODUCT })
    const url = `${gateway.partnerUrl}/v1/streams/${PRODUCT}?from=latest`
    log(`  ${records} records at ~${RATE}/s per sample, subscribers ${counts.join('/')}, ${rounds} round(s), policy orders/${policy}`)

    const byCount = new Map(counts.map(n => [n, []]))
    let seed = 100
    // Untimed warm-up: JIT the tap, view and write paths, grow the heap.
    const warm = await sample({ url, token, n: 10, records: quick ? 300 : 1000, brokers, topic, gatewayPid: gateway.pid, seed: seed++, log })
    log(`  warm-up (10 subscribers, ${warm.records} records): ${warm.gatewayCpuUsPerDelivery.toFixed(2)} µs/delivery, ${warm.complete}/10 complete`)
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? counts : [...counts].reverse()
      for (const n of order) {
        const s = await sample({ url, token, n, records, brokers, topic, gatewayPid: gateway.pid, seed: seed++, log })
        byCount.get(n).push(s)
        log(`  round ${round + 1}/${rounds}, ${n} subscriber(s): gateway ${s.gatewayCpuUsPerDelivery.toFixed(2)} µs/delivery ` +
          `(${(s.gatewayCpuMs).toFixed(0)} ms CPU, idle-corrected ${s.gatewayCpuUsPerDeliveryIdleCorrected.toFixed(2)}), client ${s.clientCpuUsPerDelivery.toFixed(2)} µs/delivery, ` +
          `${s.complete}/${n} complete, ${Math.round(s.deliveriesPerSecond)} deliveries/s over ${(s.elapsedMs / 1000).toFixed(1)} s, gateway RSS ${s.gatewayRssMb.toFixed(0)} MiB`)
      }
    }

    const figure = (n, key) => median(byCount.get(n).map(s => s[key]))
    const lo = counts[0]
    const hi = counts[counts.length - 1]
    const perCount = Object.fromEntries(counts.map(n => [n, {
      gatewayCpuUsPerDelivery: figure(n, 'gatewayCpuUsPerDelivery'),
      gatewayCpuUsPerDeliveryIdleCorrected: figure(n, 'gatewayCpuUsPerDeliveryIdleCorrected'),
      clientCpuUsPerDelivery: figure(n, 'clientCpuUsPerDelivery'),
      deliveriesPerSecond: figure(n, 'deliveriesPerSecond'),
      elapsedMs: figure(n, 'elapsedMs'),
      clientCpuCores: figure(n, 'clientCpuCores'),
      gatewayCpuCores: figure(n, 'gatewayCpuCores'),
      incompleteSubscribers: Math.max(...byCount.get(n).map(s => n - s.complete))
    }]))
    const allComplete = [...byCount.values()].flat().every(s => s.complete === s.subscribers)
    const fmt2 = (x) => x.toFixed(2)
    return {
      name: 'fanout-cpu',
      description: `gateway CPU µs per delivered message, ${records.toLocaleString('en-US')} records of ${RECORD_BYTES} B at ~${RATE}/s to N SSE subscribers of one share (orders/${policy}), from latest`,
      unit: 'CPU µs/delivery',
      better: 'lower',
      target: { ratio: 0.1, text: 'CPU per delivery at 1000 subscribers ≤ 1/10 of the per-record CPU at 1 subscriber (Stream engine issue)' },
      baseline: { label: `${lo} subscriber`, samples: byCount.get(lo).map(s => s.gatewayCpuUsPerDelivery), details: byCount.get(lo) },
      candidate: { label: `${hi} subscribers`, samples: byCount.get(hi).map(s => s.gatewayCpuUsPerDelivery), details: byCount.get(hi) },
      subscriberCounts: perCount,
      ...Object.fromEntries(counts.filter(n => n !== lo && n !== hi).map(n => [`details${n}`, byCount.get(n)])),
      allSubscribersGotEveryRecord: allComplete,
      summary: [
        `gateway CPU µs per delivery (median of ${rounds}): ` + counts.map(n => `${n} sub → **${fmt2(perCount[n].gatewayCpuUsPerDelivery)}**`).join(', ') +
          `; idle-corrected ${counts.map(n => fmt2(perCount[n].gatewayCpuUsPerDeliveryIdleCorrected)).join(' / ')}` +
          `; client ${counts.map(n => fmt2(perCount[n].clientCpuUsPerDelivery)).join(' / ')} µs/delivery` +
          `; ${allComplete ? 'every subscriber got every record' : 'NOT every subscriber got every record (see JSON)'}` +
          `; delivery took ${counts.map(n => `${(perCount[n].elapsedMs / 1000).toFixed(1)} s`).join(' / ')}`
      ],
      params: { records, warmup: { subscribers: 10, records: quick ? 300 : 1000 }, rate: RATE, produceBatch: PRODUCE_BATCH, counts, rounds, policy: `orders/${policy}`, recordBytes: RECORD_BYTES, partitions: PARTITIONS, transport: 'sse', from: 'latest', gatewayEnv: GATEWAY_LIMITS, topic, gatewayProfiled: gateway.profiled },
      notes: [
        'Ratio = CPU per delivery with the most subscribers / with one: lower is better; the target is ≤ 0.1.',
        'Window: from the first record produced until every subscriber counted every record (or 15 min). Gateway CPU in that window / (records × subscribers). Raw figure in the ratio; the idle-corrected one subtracts the gateway CPU rate measured over 2 s of idleness right before (timers, registry and tap fetch loops), which weighs most at 1 subscriber.',
        'All subscribers use one share and one token, so one view: the tap computes each record\'s view once and frames its bytes once; every aligned subscriber writes the same string.',
        'The client counts "event: record" frames in the raw bytes (no JSON parse) with one undici Agent (connections ≥ subscribers, pipelining 1, no body timeout); it runs on the same 2 cores as the gateway, the broker and the producer (own process, batches of 50 every 50 ms). Client CPU is process.cpuUsage() of the bench process; clientCpuCores/gatewayCpuCores in subscriberCounts show whether a side was saturated.',
        `Gateway limits raised so a busy client is not cut: ${Object.entries(GATEWAY_LIMITS).map(([k, v]) => `${k}=${v}`).join(', ')}.`
      ]
    }
  } finally {
    await gateway?.close()
    await cleanUp(cluster, { topics: [topic], log })
  }
}

async function sample ({ url, token, n, records, brokers, topic, gatewayPid, seed, log }) {
  const agent = new Agent({ connections: Math.max(1100, n + 100), pipelining: 1, bodyTimeout: 0, headersTimeout: 60_000, connect: { timeout: 30_000 } })
  const streams = []
  try {
    // --- connect every subscriber (from=latest) before anything is produced -------------
    const t0 = performance.now()
    for (let i = 0; i < n; i += OPEN_CONCURRENCY) {
      const batch = await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, n - i) }, () => CountingSseStream.open(url, token, agent)))
      streams.push(...batch)
    }
    const openMs = performance.now() - t0
    await sleep(2000) // stream-open audit writes and logs settle
    // The gateway's CPU rate while idle with n open streams (timers, fetch loops).
    const idleRate = await idleCpuCores(gatewayPid, 2000) * 1000 // µs per ms

    // --- produce, and wait until every subscriber has every record -----------------------
    const gw0 = procCpuUs(gatewayPid)
    const cpu0 = process.cpuUsage()
    const start = performance.now()
    const produced = producePaced({ brokers, topic, count: records, rate: RATE, batch: PRODUCE_BATCH, seed, bytes: RECORD_BYTES })
    const all = Promise.all(streams.map(s => s.waitFor(records)))
    let timedOut = false
    try {
      await withTimeout(all, () => `${n} subscribers`, 15 * 60_000)
    } catch (err) {
      timedOut = true
      log(`  ${err.message}`)
    }
    const elapsedMs = performance.now() - start
    const gatewayUs = procCpuUs(gatewayPid) - gw0
    const clientCpu = process.cpuUsage(cpu0)
    const producer = await produced
    const gatewayRssMb = procRssMb(gatewayPid)

    const complete = streams.filter(s => s.count >= records).length
    const deliveries = streams.reduce((sum, s) => sum + Math.min(s.count, records), 0)
    const clientUs = clientCpu.user + clientCpu.system
    return {
      subscribers: n,
      records,
      complete,
      ended: streams.filter(s => s.ended).length,
      errors: [...new Set(streams.filter(s => s.error !== undefined).map(s => s.error.message))],
      timedOut,
      received: { min: Math.min(...streams.map(s => s.count)), max: Math.max(...streams.map(s => s.count)) },
      deliveries,
      openMs,
      elapsedMs,
      gatewayCpuMs: gatewayUs / 1000,
      gatewayCpuUsPerDelivery: gatewayUs / deliveries,
      gatewayCpuUsPerDeliveryIdleCorrected: Math.max(0, gatewayUs - idleRate * elapsedMs) / deliveries,
      gatewayIdleCpuCores: idleRate / 1000,
      gatewayCpuCores: gatewayUs / 1000 / elapsedMs,
      clientCpuUsPerDelivery: clientUs / deliveries,
      clientCpuCores: clientUs / 1000 / elapsedMs,
      deliveriesPerSecond: deliveries / (elapsedMs / 1000),
      bytesPerSubscriber: median(streams.map(s => s.bytes)),
      gatewayRssMb,
      producer
    }
  } finally {
    for (const s of streams) s.close()
    await agent.destroy().catch(() => {})
    await sleep(n >= 100 ? 3000 : 1000) // the gateway closes the streams (and audits them) before the next sample
  }
}
