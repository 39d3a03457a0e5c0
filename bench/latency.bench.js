/**
 * latency: producer timestamp → client receive latency at ~1k records/s, through one
 * SSE subscriber of the real gateway (candidate) and through a raw kafkajs consumer
 * (baseline) reading the same topic at the same time, in the same process.
 *
 * Latency of a record = Date.now() when the client has it − the Kafka record's
 * CreateTime (set by the producer's client when it encodes the produce request; the
 * gateway passes it on as the envelope's `timestamp`, ms precision). Both sides are
 * recorded into hdr-histogram-js histograms (ms). The producer runs in its own process.
 * Records are assigned to samples by their sequence number (from the order id in the
 * key), so both sides' samples hold exactly the same records.
 *
 * Harness ratio: p99 candidate / p99 baseline (median of the per-sample p99s; lower is
 * better). Target (Stream engine issue): p99 overhead over the baseline ≤ 3 ms.
 */
import { writeFile } from 'node:fs/promises'
import os from 'node:os'
import { randomBytes } from 'node:crypto'
import hdr from 'hdr-histogram-js'
import { PASSTHROUGH_POLICY, startBenchGateway, issueShareToken } from './lib/gateway.js'
import { benchCluster, benchTopic, cleanUp, startReferenceConsumer } from './lib/kafka.js'
import { openStream, SseParser } from './lib/clients.js'
import { producePaced } from './lib/paced-producer.js'
import { PaddedOrders } from './lib/records.js'
import { median, procCpuUs, sleep, withTimeout } from './lib/util.js'

const PRODUCT = 'orders'
const PARTITIONS = 3
const RECORD_BYTES = 1024
const RATE = 1000
const PRODUCE_BATCH = 10 // one produce request every 10 ms
const SEED = 11
/** The tap's fetch wait (src/engine/product-tap.ts); the baseline uses the same. */
const TAP_MAX_WAIT_MS = 250

const newHistogram = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000, numberOfSignificantValueDigits: 3 })

export async function run ({ quick, brokers, log }) {
  const samples = quick ? 2 : 4
  const perSample = Number(process.env.BENCH_LATENCY_SAMPLE_RECORDS ?? (quick ? 2500 : 5000)) // 2.5 s / 5 s at 1k/s
  const warmup = quick ? 1000 : 3000
  const total = warmup + samples * perSample
  const policy = process.env.BENCH_LATENCY_POLICY ?? 'partner-basic'
  const topic = benchTopic('latency')
  const cluster = benchCluster(brokers)
  const groupId = `streamshare-bench.latency.${randomBytes(6).toString('hex')}`
  let gateway
  let consumer
  let stream

  try {
    await cluster.ensureTopics([{ topic, partitions: PARTITIONS }])
    // BENCH_LATENCY_GATEWAY_ENV='{"STREAMSHARE_RING_MAX_RECORDS":"500"}': extra gateway settings, for experiments.
    const extra = JSON.parse(process.env.BENCH_LATENCY_GATEWAY_ENV ?? '{}')
    gateway = await startBenchGateway({ brokers, product: PRODUCT, topic, extraPolicies: PASSTHROUGH_POLICY, env: extra, log })
    const token = await issueShareToken(gateway.adminUrl, gateway.adminToken, policy, { product: PRODUCT })

    // The first order id the producer will send: records map to samples by id - first.
    const firstId = Number(new PaddedOrders(SEED, RECORD_BYTES).next().key.slice(2))
    const hist = { kafkajs: Array.from({ length: samples }, newHistogram), gateway: Array.from({ length: samples }, newHistogram) }
    const seen = { kafkajs: 0, gateway: 0 }
    const seenIds = { kafkajs: new Set(), gateway: new Set() }
    // BENCH_LATENCY_DUMP=<file>: every record's latency on both sides, for diagnosis (when do the slow ones happen).
    const dump = process.env.BENCH_LATENCY_DUMP ? { kafkajs: new Array(total), gateway: new Array(total), ts: new Array(total) } : undefined
    const record = (side, key, ts, now) => {
      const index = Number(key.slice(2)) - firstId
      if (!(index >= 0 && index < total) || seenIds[side].has(index)) return
      seenIds[side].add(index)
      seen[side]++
      if (dump !== undefined) { dump[side][index] = now - ts; dump.ts[index] = ts }
      if (index < warmup) return
      hist[side][Math.floor((index - warmup) / perSample)].recordValue(Math.max(0, now - ts))
    }

    // --- candidate: one SSE subscriber from latest (tap mode) ------------------------------
    const res = await openStream(`${gateway.partnerUrl}/v1/streams/${PRODUCT}?from=latest`, token, 'sse')
    stream = res.body
    stream.setEncoding('utf8')
    const parser = new SseParser((type, data) => {
      if (type !== 'record') return
      const env = JSON.parse(data)
      record('gateway', env.key, Date.parse(env.timestamp), parser.now)
    })
    stream.on('data', (chunk) => { parser.now = Date.now(); parser.feed(chunk) })
    stream.on('error', () => {})

    // --- baseline: a kafkajs consumer on the same topic (empty so far: from the beginning) --
    const reference = startReferenceConsumer({
      brokers,
      clientId: 'streamshare-bench-latency',
      groupId,
      topic,
      maxWaitMs: TAP_MAX_WAIT_MS,
      onMessage: (m, now) => {
        const value = JSON.parse(m.value.toString('utf8')) // parsed like the gateway client parses its envelope
        record('kafkajs', value.order_id, Number(m.timestamp), now)
      }
    })
    consumer = reference.consumer
    await reference.firstFetch
    await sleep(1000)

    // --- produce at ~1k/s; both sides receive the same records ---------------------------
    log(`  producing ${total} records (${warmup} warm-up + ${samples} × ${perSample}) at ~${RATE}/s, policy orders/${policy}`)
    const gw0 = procCpuUs(gateway.pid)
    const cpu0 = process.cpuUsage()
    const producer = await producePaced({ brokers, topic, count: total, rate: RATE, batch: PRODUCE_BATCH, seed: SEED, bytes: RECORD_BYTES })
    const wait = async () => { while (seen.kafkajs < total || seen.gateway < total) await sleep(50) }
    await withTimeout(wait(), () => `receiving ${total} records (kafkajs ${seen.kafkajs}, gateway ${seen.gateway})`, 60_000).catch(err => log(`  ${err.message}`))
    const gatewayCpuMs = (procCpuUs(gateway.pid) - gw0) / 1000
    const clientCpu = process.cpuUsage(cpu0)

    if (dump !== undefined) await writeFile(process.env.BENCH_LATENCY_DUMP, JSON.stringify(dump))
    const summary = (h) => ({ count: h.totalCount, p50: h.getValueAtPercentile(50), p90: h.getValueAtPercentile(90), p99: h.getValueAtPercentile(99), p999: h.getValueAtPercentile(99.9), max: h.maxValue, mean: Math.round(h.mean * 100) / 100 })
    const merged = (side) => { const m = newHistogram(); for (const h of hist[side]) m.add(h); return m }
    const all = { kafkajs: summary(merged('kafkajs')), gateway: summary(merged('gateway')) }
    const per = { kafkajs: hist.kafkajs.map(summary), gateway: hist.gateway.map(summary) }
    for (let i = 0; i < samples; i++) log(`  sample ${i + 1}/${samples}: kafkajs p50 ${per.kafkajs[i].p50} / p99 ${per.kafkajs[i].p99} ms, gateway p50 ${per.gateway[i].p50} / p99 ${per.gateway[i].p99} ms`)
    const overheadP99 = all.gateway.p99 - all.kafkajs.p99
    const overheadP50 = all.gateway.p50 - all.kafkajs.p50
    const medianOverheadP99 = median(per.gateway.map((g, i) => g.p99 - per.kafkajs[i].p99))
    log(`  all: kafkajs p50 ${all.kafkajs.p50} / p99 ${all.kafkajs.p99} ms, gateway p50 ${all.gateway.p50} / p99 ${all.gateway.p99} ms; p99 overhead ${overheadP99} ms; received kafkajs ${seen.kafkajs}, gateway ${seen.gateway} of ${total}`)
    const fmtSide = (s) => `p50 ${s.p50} ms, p99 ${s.p99} ms, p99.9 ${s.p999} ms, max ${s.max} ms`
    return {
      name: 'latency',
      description: `producer CreateTime → client receive, ${samples * perSample} records of ${RECORD_BYTES} B at ~${RATE}/s (${(samples * perSample / RATE).toFixed(0)} s), 1 SSE subscriber (orders/${policy}, from latest) vs a kafkajs consumer at the same time: p99 ms`,
      unit: 'ms p99',
      better: 'lower',
      target: { text: 'p99 overhead over the baseline ≤ 3 ms (Stream engine issue)', overheadMs: overheadP99, met: overheadP99 <= 3 },
      baseline: { label: 'kafkajs consumer (eachBatch, maxWait 250 ms)', samples: per.kafkajs.map(s => s.p99), details: per.kafkajs },
      candidate: { label: 'gateway SSE stream + undici client', samples: per.gateway.map(s => s.p99), details: per.gateway },
      overall: all,
      overheadMs: { p50: overheadP50, p99: overheadP99, medianOfSampleP99: medianOverheadP99 },
      received: { kafkajs: seen.kafkajs, gateway: seen.gateway, produced: total },
      // Informational: the gateway's CPU per record at this rate, and the bench process's (both readers).
      cpuUsPerRecord: { gateway: gatewayCpuMs * 1000 / total, benchProcess: (clientCpu.user + clientCpu.system) / total },
      summary: [
        `over all ${samples * perSample} records — kafkajs: ${fmtSide(all.kafkajs)}; gateway: ${fmtSide(all.gateway)}; ` +
          `**p99 overhead ${overheadP99} ms** (p50 ${overheadP50} ms; target ≤ 3 ms: ${overheadP99 <= 3 ? 'met' : 'missed'})`
      ],
      params: { samples, perSample, warmup, gatewayEnv: extra, rate: RATE, produceBatch: PRODUCE_BATCH, recordBytes: RECORD_BYTES, partitions: PARTITIONS, policy: `orders/${policy}`, transport: 'sse', baselineMaxWaitMs: TAP_MAX_WAIT_MS, histogram: 'hdr-histogram-js, 1 ms .. 1 h, 3 significant digits, values in ms', producer, gatewayProfiled: gateway.profiled, topic },
      notes: [
        'Latency = Date.now() at receive (taken once per received chunk / fetched batch) − the record CreateTime (ms). Both clocks are this machine\'s; both sides are quantised to 1 ms alike.',
        'Both readers run in this process at the same time on the same records; the producer is a separate process sending 10 records every 10 ms (acks=all, idempotent), so the 10 records of a request share one CreateTime.',
        `The baseline consumer uses the tap's consumer settings (maxWait ${TAP_MAX_WAIT_MS} ms, eachBatch, no commits) and JSON.parses each value; the SSE client splits each event and JSON.parses the envelope.`,
        'Samples are consecutive slices of the produced sequence (by order id), after a warm-up slice that is not recorded; the ratio uses the median of the per-sample p99s, the overhead the p99 over all recorded records.',
        `Broker, gateway, producer and client share one machine (${os.cpus().length} cores).`
      ]
    }
  } finally {
    stream?.destroy()
    await consumer?.disconnect().catch(() => {})
    await gateway?.close()
    await cleanUp(cluster, { topics: [topic], groups: [groupId], log })
  }
}
