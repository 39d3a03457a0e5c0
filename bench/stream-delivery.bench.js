/**
 * stream-delivery: end-to-end delivery throughput of one NDJSON stream through the real
 * gateway, against a partner reading the same topic directly with kafkajs.
 *
 * Both sides start cold for every sample (new consumer group / new HTTP stream, from the
 * earliest offset) and are timed from "start reading" until the Nth record is parsed in
 * the reading process. Samples alternate between the two, the order flipping each round,
 * so broker page cache, CPU frequency and background noise hit both alike.
 *
 * The gateway runs as its own process (`node dist/main.js`), exactly as deployed, so its
 * CPU time can be read from /proc/<pid>/stat separately from the client's.
 */
import os from 'node:os'
import { DemoDataGenerator } from '../dist/dev/demo-data.js'
import { issueShareToken, startBenchGateway } from './lib/gateway.js'
import { benchCluster, benchTopic, cleanUp, produceAll, readWithKafkajs } from './lib/kafka.js'
import { readThroughGateway } from './lib/clients.js'
import { median as med, sleep } from './lib/util.js'

const PRODUCT = 'orders'
const PARTITIONS = 3

export async function run ({ quick, brokers, log }) {
  const records = Number(process.env.BENCH_RECORDS ?? (quick ? 3000 : 30000))
  const samples = quick ? 2 : 5
  const warmups = quick ? 0 : 1
  const topic = benchTopic('stream-delivery')
  const cluster = benchCluster(brokers)
  const groups = []
  let gateway

  try {
    // --- data: N demo orders on a fresh 3-partition topic -------------------------------
    await cluster.ensureTopics([{ topic, partitions: PARTITIONS }])
    // All in the partner's region and not test orders: partner-basic's `where` passes every
    // record, so the stream delivers all N (with mixed regions it would deliver ~40%).
    const generator = new DemoDataGenerator(42)
    const avgBytes = await produceAll(cluster, topic, records, () => {
      const r = generator.order()
      return { key: r.key, value: JSON.stringify({ ...r.value, region: 'eu-west', status: 'confirmed' }), headers: r.headers }
    })
    log(`  produced ${records} orders (${avgBytes.toFixed(0)} B avg value) to ${topic}`)

    // --- gateway: a private policies copy pointing `orders` at the bench topic -----------
    gateway = await startBenchGateway({ brokers, product: PRODUCT, topic, log })
    // A partner and a share through the admin API, as an admin would issue them.
    const token = await issueShareToken(gateway.adminUrl, gateway.adminToken, 'partner-basic', { product: PRODUCT })
    const streamUrl = `${gateway.partnerUrl}/v1/streams/${PRODUCT}?from=earliest&format=ndjson`

    const baseline = () => readWithKafkajs(brokers, topic, records, groups)
    const candidate = () => readThroughGateway(streamUrl, token, records, { format: 'ndjson', gatewayPid: gateway.pid })

    // --- warm-up (untimed), then alternating samples ------------------------------------
    for (let i = 0; i < warmups; i++) { await baseline(); await settle(); await candidate(); await settle() }
    const base = []
    const cand = []
    for (let i = 0; i < samples; i++) {
      const order = i % 2 === 0 ? [['b', baseline], ['c', candidate]] : [['c', candidate], ['b', baseline]]
      for (const [which, fn] of order) {
        const s = await fn()
        ;(which === 'b' ? base : cand).push(s)
        log(`  sample ${i + 1}/${samples} ${which === 'b' ? 'kafkajs' : 'gateway'}: ${Math.round(s.rate)} rec/s, first record after ${s.firstMs.toFixed(0)} ms, ` +
          `cpu ${s.cpuUsPerRecord.toFixed(1)} µs/rec${s.gatewayCpuUsPerRecord === undefined ? '' : ` (gateway ${s.gatewayCpuUsPerRecord.toFixed(1)}, client ${s.clientCpuUsPerRecord.toFixed(1)})`}`)
        await settle()
      }
    }

    const cpuBase = med(base.map(s => s.cpuUsPerRecord))
    const cpuCand = med(cand.map(s => s.cpuUsPerRecord))
    return {
      name: 'stream-delivery',
      description: `${records.toLocaleString('en-US')} demo orders, ${PARTITIONS} partitions, read from earliest: records/s until the last record is parsed by the reader`,
      unit: 'records/s',
      better: 'higher',
      baseline: { label: 'kafkajs consumer (eachBatch + JSON.parse)', samples: base.map(s => s.rate), details: base },
      candidate: { label: 'gateway NDJSON stream (child process) + undici client', samples: cand.map(s => s.rate), details: cand },
      cpu: {
        unit: 'CPU µs per record (user+system), median',
        baseline: cpuBase,
        candidate: cpuCand,
        candidateGateway: med(cand.map(s => s.gatewayCpuUsPerRecord)),
        candidateClient: med(cand.map(s => s.clientCpuUsPerRecord)),
        ratio: cpuCand / cpuBase,
        note: 'lower is better; candidate = gateway process + NDJSON client process'
      },
      params: { records, partitions: PARTITIONS, samples, warmups, avgValueBytes: Math.round(avgBytes), topic, gatewayProfiled: gateway.profiled },
      notes: [
        'Ratio = candidate/baseline throughput: higher is better, 1.0 = the gateway delivers as fast as reading Kafka directly.',
        'Each sample starts cold: new consumer group (baseline) or new HTTP stream (candidate; from earliest, so a private replay reader that hands over to the tap at the end), so group join time is inside the timing for both; firstMs in details shows it.',
        'The gateway runs in a child process (node dist/main.js, log level info); its CPU comes from /proc/<pid>/stat (utime+stime, clock-tick resolution). Client CPU is process.cpuUsage() of the bench process, which is idle except for the reader being measured.',
        'The baseline consumer uses the same consumer settings as the gateway TopicReader (maxWait 1000 ms, eachBatch, no commits); it JSON.parses each value and does nothing else (no schema check, no envelope, no HTTP).',
        `Broker, gateway and client share one machine (${os.cpus().length} cores): the candidate has one more process competing for CPU, which is part of what the gateway costs.`
      ]
    }
  } finally {
    await gateway?.close()
    await cleanUp(cluster, { topics: [topic], groups, log })
  }
}

/** Lets the previous reader leave its group and the sockets close before the next sample. */
const settle = () => sleep(500)
