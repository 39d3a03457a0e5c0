/**
 * shaping-cpu → `shaping-cpu` (and `shaping-throttled`): the gateway's CPU per
 * delivered message with a share's delivery shaping (`quota.messages_per_second` /
 * `quota.bytes_per_second` token buckets, src/quota/shaper.ts) on versus off, so
 * quotas never become the bottleneck (Quotas issue).
 *
 * Where the per-delivery work is smallest, the buckets weigh most: this benchmark
 * serves every sample from the tap's ring, not from Kafka. A holder stream (its own
 * share) opens `from=latest` on an empty topic, which starts the tap at offset 0; then
 * N records are produced and the holder waits until it has them all, so the ring holds
 * the whole topic. A sample opens K SSE streams `from=earliest` of one share at once:
 * each starts in tap mode at the ring's first entry (the gateway runs with
 * STREAMSHARE_REPLAY_MAX_PER_SHARE=0, so a stream that would need a replay reader is
 * refused instead of silently measuring Kafka) and is written as fast as the client
 * reads. The record's view and SSE frame are computed once per share (in the warm-up)
 * and cached on the ring entry, so what a timed delivery costs is the per-subscriber
 * path: ring lookup, cursor alignment, usage and metrics, the shaper, `res.write`.
 *
 * Baseline: a share with no rate quota (the shaper's lookup only). Candidate: the same
 * policy, a share with messages_per_second = 10,000,000 and bytes_per_second =
 * 10,000,000,000 (the schema's maxima): both buckets are taken from for every message
 * but never run dry (burst = a tenth of a second of the rate), so this measures the
 * bookkeeping, not waiting. That nothing waited is checked per sample from the admin
 * /metrics (`streamshare_quota_throttled_seconds_total` of the share stays 0).
 * Metric: gateway CPU (utime+stime of the `node dist/main.js` child, /proc/<pid>/stat)
 * from the first stream request until every stream counted N records / (K × N).
 *
 * Second result (`shaping-throttled`, BENCH_SHAPING_THROTTLE_RATE, default 2000 msg/s,
 * 0 = skip): the candidate share PATCHed down to that rate, K streams from earliest for
 * a fixed time; gateway CPU per delivered message (raw, and with the gateway's idle
 * CPU rate subtracted) and its share of a core while throttled: waiting off the quota
 * must be timers, not a busy loop.
 */
import { Agent } from 'undici'
import { startBenchGateway, waitReady, createPartner } from './lib/gateway.js'
import { createShareWithQuota, getShare, metricValue, patchShareQuota, scrapeMetrics } from './lib/admin.js'
import { benchCluster, benchTopic, cleanUp, produceAll } from './lib/kafka.js'
import { CountingSseStream } from './lib/clients.js'
import { PaddedOrders } from './lib/records.js'
import { idleCpuCores, median, procCpuUs, procRssMb, roundOrder, sleep, withTimeout } from './lib/util.js'

/** This file produces these results (`node bench/run.js shaping-throttled` runs this file). */
export const results = ['shaping-cpu', 'shaping-throttled']

const PRODUCT = 'orders'
const PARTITIONS = 3
const RECORD_BYTES = 1024
/** The admin schema's maxima: buckets consulted on every message, never empty. */
const UNBOUNDED_QUOTA = { messages_per_second: 10_000_000, bytes_per_second: 10_000_000_000 }

export async function run ({ quick, brokers, log }) {
  const records = Number(process.env.BENCH_SHAPING_RECORDS ?? (quick ? 3000 : 20000))
  const subscribers = Number(process.env.BENCH_SHAPING_SUBSCRIBERS ?? (quick ? 4 : 10))
  const rounds = Number(process.env.BENCH_SHAPING_ROUNDS ?? (quick ? 2 : 11))
  const policy = process.env.BENCH_SHAPING_POLICY ?? 'partner-basic'
  const throttleRate = Number(process.env.BENCH_SHAPING_THROTTLE_RATE ?? 2000)
  const throttleSeconds = Number(process.env.BENCH_SHAPING_THROTTLE_SECONDS ?? (quick ? 3 : 10))
  const throttleSamples = quick ? 1 : 3
  const gatewayLimits = {
    // The ring holds the whole topic (records plus every share's cached views and frames).
    STREAMSHARE_RING_MAX_RECORDS: String(Math.max(20000, records + 1000)),
    STREAMSHARE_RING_MAX_BYTES: String(4 * 1024 ** 3),
    // Every sample must be served from the ring: a stream that would need Kafka is refused (429).
    STREAMSHARE_REPLAY_MAX_PER_SHARE: '0',
    STREAMSHARE_STREAM_MAX_BUFFERED_BYTES: String(64 * 1024 * 1024),
    STREAMSHARE_STREAM_STALL_TIMEOUT_MS: '600000',
    STREAMSHARE_IP_CONNECTIONS_PER_MINUTE: '1000000',
    STREAMSHARE_DEFAULT_REQUESTS_PER_MINUTE: '10000000'
  }
  const topic = benchTopic('shaping-cpu')
  const cluster = benchCluster(brokers)
  let gateway
  let holder
  let holderAgent

  try {
    await cluster.ensureTopics([{ topic, partitions: PARTITIONS }])
    gateway = await startBenchGateway({ brokers, product: PRODUCT, topic, env: gatewayLimits, log })
    const { adminUrl, adminToken } = gateway
    await waitReady(adminUrl, adminToken)
    const partner = await createPartner(adminUrl, adminToken, { region: 'eu-west' })
    const holderShare = await createShareWithQuota(adminUrl, adminToken, { partner, product: PRODUCT, policy })
    const shares = {
      off: await createShareWithQuota(adminUrl, adminToken, { partner, product: PRODUCT, policy }),
      on: await createShareWithQuota(adminUrl, adminToken, { partner, product: PRODUCT, policy, quota: UNBOUNDED_QUOTA })
    }
    const streamUrl = `${gateway.partnerUrl}/v1/streams/${PRODUCT}`

    // --- fill the ring: the holder starts the tap at the (empty) topic's end, then N records
    holderAgent = new Agent({ connections: 4, pipelining: 1, bodyTimeout: 0 })
    holder = await CountingSseStream.open(`${streamUrl}?from=latest`, holderShare.token, holderAgent)
    await sleep(500)
    const orders = new PaddedOrders(42, RECORD_BYTES)
    const avgBytes = await produceAll(cluster, topic, records, () => orders.next())
    await withTimeout(holder.waitFor(records), () => `holder stream (${holder.count}/${records} records)`, 120_000)
    if (holder.count !== records) throw new Error(`holder stream got ${holder.count} of ${records} records`)
    log(`  ${records} orders of ${avgBytes.toFixed(0)} B in ${topic} and in the gateway's ring; ${subscribers} SSE streams per sample, ${rounds} round(s), policy orders/${policy}`)

    const ctx = { streamUrl, adminUrl, gatewayPid: gateway.pid, records, subscribers, log }
    // Untimed warm-up of each share: computes and caches each record's view and frame for the
    // share (a per-share, once-per-record cost) and JITs the delivery path.
    for (const side of ['off', 'on']) {
      const w = await fullSpeedSample({ ...ctx, share: shares[side] })
      log(`  warm-up ${side}: ${w.gatewayCpuUsPerDelivery.toFixed(2)} µs/delivery (first pass computes every view), ${Math.round(w.deliveriesPerSecond)} deliveries/s`)
    }

    const got = { off: [], on: [] }
    const pairs = []
    for (let round = 0; round < rounds; round++) {
      const pair = {}
      for (const side of roundOrder(['off', 'on'], round)) {
        const s = await fullSpeedSample({ ...ctx, share: shares[side] })
        got[side].push(s)
        pair[side] = s.gatewayCpuUsPerDelivery
        log(`  round ${round + 1}/${rounds} shaping ${side}: gateway ${s.gatewayCpuUsPerDelivery.toFixed(3)} µs/delivery (${s.gatewayCpuMs.toFixed(0)} ms CPU), ` +
          `client ${s.clientCpuUsPerDelivery.toFixed(2)} µs/delivery, ${Math.round(s.deliveriesPerSecond)} deliveries/s over ${(s.elapsedMs / 1000).toFixed(2)} s, ` +
          `throttled ${s.throttledSeconds.toFixed(3)} s, gateway RSS ${s.gatewayRssMb.toFixed(0)} MiB`)
      }
      pairs.push(pair.on / pair.off)
    }
    const throttledWhileUnbounded = got.on.reduce((a, s) => a + s.throttledSeconds, 0) + got.off.reduce((a, s) => a + s.throttledSeconds, 0)
    if (throttledWhileUnbounded > 0) log(`  WARNING: ${throttledWhileUnbounded.toFixed(3)} s of throttling with the unbounded quota: the candidate measured waiting, not bookkeeping`)
    const allComplete = [...got.off, ...got.on].every(s => s.complete === subscribers)

    // --- throttled: the candidate share PATCHed down to a rate that binds -----------------
    const throttled = []
    let idleCores
    if (throttleRate > 0) {
      await patchShareQuota(adminUrl, adminToken, shares.on.id, { messages_per_second: throttleRate, bytes_per_second: UNBOUNDED_QUOTA.bytes_per_second })
      idleCores = await idleCpuCores(gateway.pid, 3000)
      for (let i = 0; i < throttleSamples; i++) {
        const s = await throttledSample({ ...ctx, share: shares.on, seconds: throttleSeconds, idleCores })
        throttled.push(s)
        log(`  throttled ${i + 1}/${throttleSamples} (${throttleRate} msg/s): ${s.deliveries} deliveries in ${(s.elapsedMs / 1000).toFixed(1)} s = ${Math.round(s.deliveriesPerSecond)}/s, ` +
          `gateway ${s.gatewayCpuUsPerDelivery.toFixed(2)} µs/delivery (idle-corrected ${s.gatewayCpuUsPerDeliveryIdleCorrected.toFixed(2)}), ${(s.gatewayCpuCores * 100).toFixed(1)}% of a core ` +
          `(idle ${(idleCores * 100).toFixed(1)}%), throttled ${s.throttledSeconds.toFixed(1)} s`)
      }
    }
    const usage = Object.fromEntries(await Promise.all(Object.entries(shares).map(async ([k, s]) => [k, (await getShare(adminUrl, adminToken, s.id)).usage])))

    const med = (arr, key) => median(arr.map(s => s[key]))
    const off = { cpu: med(got.off, 'gatewayCpuUsPerDelivery'), rate: med(got.off, 'deliveriesPerSecond'), client: med(got.off, 'clientCpuUsPerDelivery') }
    const on = { cpu: med(got.on, 'gatewayCpuUsPerDelivery'), rate: med(got.on, 'deliveriesPerSecond'), client: med(got.on, 'clientCpuUsPerDelivery') }
    const fmt = (x, d = 2) => x.toFixed(d)
    const intl = (x) => Math.round(x).toLocaleString('en-US')
    const params = {
      records,
      subscribers,
      rounds,
      warmups: 1,
      policy: `orders/${policy}`,
      recordBytes: Math.round(avgBytes),
      partitions: PARTITIONS,
      transport: 'sse',
      from: 'earliest (served from the tap ring)',
      candidateQuota: UNBOUNDED_QUOTA,
      throttle: throttleRate > 0 ? { messages_per_second: throttleRate, bytes_per_second: UNBOUNDED_QUOTA.bytes_per_second, seconds: throttleSeconds, samples: throttleSamples } : 'off',
      gatewayEnv: gatewayLimits,
      topic,
      gatewayProfiled: gateway.profiled
    }
    const commonNotes = [
      'Every sample: K SSE streams of one share opened at once from earliest and served from the tap ring (the whole topic is in it; STREAMSHARE_REPLAY_MAX_PER_SHARE=0 refuses any stream that would need Kafka), each counted until it has all N records. Window: from the first request until the last stream has N records. Gateway CPU from /proc/<pid>/stat (clock ticks) / (K × N).',
      'Each record\'s view and SSE frame are computed once per share in the untimed warm-up and cached on the ring entry; timed deliveries cost the per-subscriber path only (ring lookup, cursor alignment, usage, two counters and a histogram, the shaper, res.write), which is where the buckets weigh most.',
      'The client (bench process, one undici Agent) counts "event: record" frames in the raw bytes without parsing; it shares the 2 cores with the gateway (the broker is idle: nothing is fetched during a sample).',
      `Gateway settings: ${Object.entries(gatewayLimits).map(([k, v]) => `${k}=${v}`).join(', ')}.`
    ]
    const shapingCpu = {
      name: 'shaping-cpu',
      description: `gateway CPU µs per delivered message, ${intl(records)} records of ${Math.round(avgBytes)} B served from the tap ring to ${subscribers} SSE streams of one share (orders/${policy}, from earliest), shaping off vs on (buckets consulted, never empty)`,
      unit: 'CPU µs/delivery',
      better: 'lower',
      target: { ratio: 1.1, text: 'shaping costs ≤ 10% CPU per message (Quotas issue)' },
      baseline: { label: 'share without rate quota', samples: got.off.map(s => s.gatewayCpuUsPerDelivery), details: got.off },
      candidate: { label: `share with messages_per_second ${intl(UNBOUNDED_QUOTA.messages_per_second)}, bytes_per_second ${intl(UNBOUNDED_QUOTA.bytes_per_second)}`, samples: got.on.map(s => s.gatewayCpuUsPerDelivery), details: got.on },
      perRoundRatios: pairs,
      throughput: { unit: 'deliveries/s (all streams), median', baseline: off.rate, candidate: on.rate, ratio: on.rate / off.rate },
      clientCpuUsPerDelivery: { baseline: off.client, candidate: on.client },
      throttledSecondsWithUnboundedQuota: throttledWhileUnbounded,
      allStreamsGotEveryRecord: allComplete,
      shareUsage: usage,
      summary: [
        `gateway CPU µs per delivery (median of ${rounds}): shaping off **${fmt(off.cpu, 3)}**, on **${fmt(on.cpu, 3)}** (per-round on/off ${pairs.map(r => fmt(r, 3)).join(', ')}; median ${fmt(median(pairs), 3)}); ` +
          `throughput ${intl(off.rate)} vs ${intl(on.rate)} deliveries/s (${fmt(on.rate / off.rate, 3)}×); client ${fmt(off.client)} / ${fmt(on.client)} µs/delivery; ` +
          `throttled ${throttledWhileUnbounded === 0 ? '0 s (never waited)' : `${fmt(throttledWhileUnbounded, 3)} s (!)`}; ${allComplete ? 'every stream got every record' : 'NOT every stream got every record (see JSON)'}`
      ],
      params,
      notes: [
        'Ratio = CPU per delivery with the buckets / without: lower is better; target ≤ 1.1. perRoundRatios pairs the two samples of each round (they ran back to back).',
        'Candidate quota: messages_per_second 10,000,000 and bytes_per_second 10,000,000,000 (the admin schema maxima; bursts of 1,000,000 messages / 1 GB), so ShareShaper.delay takes from both buckets for every message and always returns 0: throttledSecondsWithUnboundedQuota (streamshare_quota_throttled_seconds_total of both shares over all samples, admin /metrics) must be 0.',
        ...commonNotes
      ]
    }
    if (throttleRate === 0) return shapingCpu

    const tCpu = median(throttled.map(s => s.gatewayCpuUsPerDelivery))
    const tCpuIdle = median(throttled.map(s => s.gatewayCpuUsPerDeliveryIdleCorrected))
    const tCores = median(throttled.map(s => s.gatewayCpuCores))
    const tRate = median(throttled.map(s => s.deliveriesPerSecond))
    const tThrottled = throttled.reduce((a, s) => a + s.throttledSeconds, 0)
    // A busy wait would keep the gateway's thread at ~1 core (plus GC); waiting on timers leaves
    // it mostly idle. Half a core separates the two with margin on this noisy 2-core machine.
    const coresLimit = 0.5
    const shapingThrottled = {
      name: 'shaping-throttled',
      description: `gateway CPU µs per delivered message while a share is throttled to ${intl(throttleRate)} msg/s (${subscribers} SSE streams from the tap ring, ${throttleSeconds} s per sample) vs the unshaped full-speed delivery of shaping-cpu`,
      unit: 'CPU µs/delivery',
      better: 'lower',
      target: { text: `no busy wait while throttled: gateway ≤ ${coresLimit} core at ${intl(throttleRate)} msg/s`, cores: tCores, met: tCores <= coresLimit && tThrottled > 0 },
      baseline: { label: 'no rate quota, full speed (shaping-cpu baseline)', samples: got.off.map(s => s.gatewayCpuUsPerDelivery) },
      candidate: { label: `throttled to ${intl(throttleRate)} msg/s (raw, gateway idle CPU included)`, samples: throttled.map(s => s.gatewayCpuUsPerDelivery), details: throttled },
      gatewayIdleCores: idleCores,
      summary: [
        `throttled to ${intl(throttleRate)} msg/s: delivered ${intl(tRate)}/s, gateway ${fmt(tCpu)} µs/delivery raw, **${fmt(tCpuIdle)}** with its idle CPU (${fmt(idleCores * 100, 1)}% of a core) subtracted, ` +
          `**${fmt(tCores * 100, 1)}% of a core** (target ≤ ${coresLimit * 100}%: ${tCores <= coresLimit ? 'met' : 'missed'}); streamshare_quota_throttled_seconds_total rose by ${fmt(tThrottled, 1)} s over ${throttled.length} sample(s)`
      ],
      params,
      notes: [
        `The shaping-cpu candidate share PATCHed to messages_per_second ${throttleRate} (bytes_per_second left unbounded), then ${throttleSamples} sample(s): K streams from earliest, counted for ${throttleSeconds} s, then closed. Per delivery = gateway CPU in that window / messages delivered; idle-corrected subtracts the gateway's CPU rate measured over 3 s with only the holder stream open (tap fetch loop, timers).`,
        'Ratio = throttled CPU per delivery (raw) / unshaped CPU per delivery at full speed: at full speed a pump delivers many ring entries per wake-up and the socket coalesces writes; throttled, each wake-up (a timer per subscription, after waiting off the debt) delivers one or two messages, each its own socket write. The target is on the share of a core (a busy wait would hold ~1 core), not on the ratio.',
        ...commonNotes
      ]
    }
    return [shapingCpu, shapingThrottled]
  } finally {
    holder?.close()
    await holderAgent?.destroy().catch(() => {})
    await gateway?.close()
    await cleanUp(cluster, { topics: [topic], log })
  }
}

/** streamshare_quota_throttled_seconds_total and delivered messages of one share, from the admin /metrics. */
async function shareCounters (adminUrl, shareId) {
  const text = await scrapeMetrics(adminUrl)
  return {
    throttledSeconds: metricValue(text, 'streamshare_quota_throttled_seconds_total', { share: shareId }),
    delivered: metricValue(text, 'streamshare_delivered_messages_total', { share: shareId })
  }
}

/** Opens `n` SSE streams of a share at once (from earliest). */
async function openStreams (url, token, n, agent) {
  return await Promise.all(Array.from({ length: n }, () => CountingSseStream.open(url, token, agent)))
}

/** K streams from earliest, each read at full speed until it has every record. */
async function fullSpeedSample ({ streamUrl, adminUrl, gatewayPid, records, subscribers, share, log }) {
  const agent = new Agent({ connections: subscribers + 10, pipelining: 1, bodyTimeout: 0, headersTimeout: 60_000 })
  let streams = []
  try {
    const m0 = await shareCounters(adminUrl, share.id)
    const gw0 = procCpuUs(gatewayPid)
    const cpu0 = process.cpuUsage()
    const start = performance.now()
    streams = await openStreams(`${streamUrl}?from=earliest`, share.token, subscribers, agent)
    const openMs = performance.now() - start
    let timedOut = false
    try {
      await withTimeout(Promise.all(streams.map(s => s.waitFor(records))), () => `${subscribers} streams (${streams.map(s => s.count).join('/')} of ${records})`, 300_000)
    } catch (err) {
      timedOut = true
      log(`  ${err.message}`)
    }
    const elapsedMs = performance.now() - start
    const gatewayUs = procCpuUs(gatewayPid) - gw0
    const client = process.cpuUsage(cpu0)
    const gatewayRssMb = procRssMb(gatewayPid)
    const deliveries = streams.reduce((sum, s) => sum + Math.min(s.count, records), 0)
    for (const s of streams) s.close()
    streams = []
    await sleep(500) // the gateway closes the streams (and audits them) before the next sample
    const m1 = await shareCounters(adminUrl, share.id)
    const clientUs = client.user + client.system
    return {
      subscribers,
      records,
      complete: deliveries === subscribers * records ? subscribers : -1,
      timedOut,
      deliveries,
      openMs,
      elapsedMs,
      gatewayCpuMs: gatewayUs / 1000,
      gatewayCpuUsPerDelivery: gatewayUs / deliveries,
      gatewayCpuCores: gatewayUs / 1000 / elapsedMs,
      clientCpuUsPerDelivery: clientUs / deliveries,
      clientCpuCores: clientUs / 1000 / elapsedMs,
      deliveriesPerSecond: deliveries / (elapsedMs / 1000),
      throttledSeconds: m1.throttledSeconds - m0.throttledSeconds,
      deliveredByMetric: m1.delivered - m0.delivered,
      gatewayRssMb
    }
  } finally {
    for (const s of streams) s.close()
    await agent.destroy().catch(() => {})
  }
}

/** K streams from earliest of a throttled share, counted for `seconds`. */
async function throttledSample ({ streamUrl, adminUrl, gatewayPid, subscribers, share, seconds, idleCores }) {
  const agent = new Agent({ connections: subscribers + 10, pipelining: 1, bodyTimeout: 0, headersTimeout: 60_000 })
  let streams = []
  try {
    const m0 = await shareCounters(adminUrl, share.id)
    const gw0 = procCpuUs(gatewayPid)
    const start = performance.now()
    streams = await openStreams(`${streamUrl}?from=earliest`, share.token, subscribers, agent)
    await sleep(seconds * 1000)
    const elapsedMs = performance.now() - start
    const gatewayUs = procCpuUs(gatewayPid) - gw0
    const deliveries = streams.reduce((sum, s) => sum + s.count, 0)
    const perStream = streams.map(s => s.count)
    for (const s of streams) s.close()
    streams = []
    await sleep(500)
    const m1 = await shareCounters(adminUrl, share.id)
    return {
      subscribers,
      deliveries,
      perStream,
      elapsedMs,
      gatewayCpuMs: gatewayUs / 1000,
      gatewayCpuUsPerDelivery: gatewayUs / deliveries,
      gatewayCpuUsPerDeliveryIdleCorrected: Math.max(0, gatewayUs - idleCores * 1000 * elapsedMs) / deliveries,
      gatewayCpuCores: gatewayUs / 1000 / elapsedMs,
      deliveriesPerSecond: deliveries / (elapsedMs / 1000),
      throttledSeconds: m1.throttledSeconds - m0.throttledSeconds
    }
  } finally {
    for (const s of streams) s.close()
    await agent.destroy().catch(() => {})
  }
}

