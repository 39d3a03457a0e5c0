/**
 * stream-throughput → four results, `stream-passthrough`, `stream-full-policy`,
 * `stream-minimal-proxy` and `stream-minimal-proxy-checked`: delivered records/s to one
 * SSE subscriber (from earliest) through the real gateway, once through a passthrough
 * policy and once through the full `orders/partner-basic` policy, and through a
 * minimal kafkajs → SSE proxy without and with the per-record parse and schema check
 * (ceilings for any gateway here), against a raw kafkajs `eachBatch` consumer reading
 * the same topic.
 *
 * One topic, one data set (N orders padded to 1 KB, 3 partitions), one gateway, one
 * partner with two shares. Every round runs the five readers one after another, the
 * order rotated and reversed between rounds; all results use the same baseline
 * samples (the baseline ran side by side with every candidate).
 *
 * Targets (Stream engine issue): passthrough ≥ 0.8× the baseline, full policy ≥ 0.5×.
 */
import { randomBytes } from 'node:crypto'
import os from 'node:os'
import path from 'node:path'
import { PASSTHROUGH_POLICY, startBenchGateway, waitReady, createPartner, createShare, ROOT } from './lib/gateway.js'
import { spawnPortServer } from './lib/port-server.js'
import { benchCluster, benchTopic, cleanUp, produceAll, readWithKafkajs } from './lib/kafka.js'
import { readThroughGateway } from './lib/clients.js'
import { PaddedOrders } from './lib/records.js'
import { median, roundOrder, sleep } from './lib/util.js'

/** This file produces these results (`node bench/run.js stream-passthrough` runs this file). */
export const results = ['stream-passthrough', 'stream-full-policy', 'stream-minimal-proxy', 'stream-minimal-proxy-checked']

/** Starts bench/lib/minimal-proxy.js (30 s start timeout); resolves with its URL, pid and stop(). */
async function startMinimalProxy (brokers, topic, checkWith) {
  const proxy = await spawnPortServer({
    name: 'minimal proxy',
    args: [path.join(ROOT, 'bench', 'lib', 'minimal-proxy.js'), brokers, topic, ...(checkWith === undefined ? [] : ['--check', checkWith])],
    // It prints `port=<n>` once listening.
    onLine: (line) => { const m = /^port=(\d+)$/.exec(line); return m === null ? undefined : Number(m[1]) }
  })
  return { url: `http://127.0.0.1:${proxy.ready}/`, pid: proxy.pid, stop: proxy.stop }
}

const PRODUCT = 'orders'
const PARTITIONS = 3
const RECORD_BYTES = 1024

export async function run ({ quick, brokers, log }) {
  const records = Number(process.env.BENCH_RECORDS ?? (quick ? 3000 : 30000))
  const samples = quick ? 2 : 5
  const warmups = quick ? 0 : 1
  const topic = benchTopic('stream-throughput')
  const cluster = benchCluster(brokers)
  const groups = []
  let gateway
  let proxy
  let checkedProxy

  try {
    await cluster.ensureTopics([{ topic, partitions: PARTITIONS }])
    const orders = new PaddedOrders(42, RECORD_BYTES)
    const avgBytes = await produceAll(cluster, topic, records, () => orders.next())
    log(`  produced ${records} orders padded to ${avgBytes.toFixed(0)} B to ${topic}`)

    gateway = await startBenchGateway({ brokers, product: PRODUCT, topic, extraPolicies: PASSTHROUGH_POLICY, log })
    const { adminToken, policiesDir } = gateway
    log(`  policies copy: ${gateway.policyCheck}`)
    await waitReady(gateway.adminUrl, adminToken)
    const partner = await createPartner(gateway.adminUrl, adminToken, { region: 'eu-west' })
    const tokens = {
      passthrough: await createShare(gateway.adminUrl, adminToken, { partner, product: PRODUCT, policy: 'passthrough' }),
      full: await createShare(gateway.adminUrl, adminToken, { partner, product: PRODUCT, policy: 'partner-basic' })
    }
    const url = `${gateway.partnerUrl}/v1/streams/${PRODUCT}?from=earliest`
    const throughProxy = (p) => {
      const group = `streamshare-bench.minimal-proxy.${randomBytes(6).toString('hex')}`
      groups.push(group)
      return readThroughGateway(`${p.url}?group=${group}`, 'none', records, { format: 'sse', gatewayPid: p.pid })
    }
    const readers = {
      kafkajs: () => readWithKafkajs(brokers, topic, records, groups),
      proxy: () => throughProxy(proxy),
      checked: () => throughProxy(checkedProxy),
      passthrough: () => readThroughGateway(url, tokens.passthrough, records, { format: 'sse', gatewayPid: gateway.pid }),
      full: () => readThroughGateway(url, tokens.full, records, { format: 'sse', gatewayPid: gateway.pid })
    }
    // BENCH_THROUGHPUT_ONLY=passthrough|full|proxy|checked: run the baseline and one candidate (for profiling one path).
    const only = process.env.BENCH_THROUGHPUT_ONLY
    const names = Object.keys(readers).filter(n => only === undefined || only === '' || n === 'kafkajs' || n === only)
    const got = Object.fromEntries(Object.keys(readers).map(n => [n, []]))
    if (names.includes('proxy')) proxy = await startMinimalProxy(brokers, topic)
    if (names.includes('checked')) checkedProxy = await startMinimalProxy(brokers, topic, policiesDir)

    for (let i = 0; i < warmups; i++) for (const n of names) { await readers[n](); await settle() }
    for (let i = 0; i < samples; i++) {
      for (const n of roundOrder(names, i)) {
        const s = await readers[n]()
        got[n].push(s)
        log(`  sample ${i + 1}/${samples} ${n}: ${Math.round(s.rate)} rec/s, first record after ${s.firstMs.toFixed(0)} ms, ` +
          `cpu ${s.cpuUsPerRecord.toFixed(1)} µs/rec${s.gatewayCpuUsPerRecord === undefined ? '' : ` (gateway ${s.gatewayCpuUsPerRecord.toFixed(1)}, client ${s.clientCpuUsPerRecord.toFixed(1)})`}`)
        await settle()
      }
    }

    const base = got.kafkajs
    const cpuBase = median(base.map(s => s.cpuUsPerRecord))
    const params = { records, partitions: PARTITIONS, samples, warmups, valueBytes: Math.round(avgBytes), topic, transport: 'sse', from: 'earliest', gatewayProfiled: gateway.profiled }
    const common = [
      'Ratio = candidate/baseline throughput: higher is better, 1.0 = the gateway delivers as fast as reading Kafka directly.',
      'Both results share the same kafkajs baseline samples: every round ran kafkajs, the passthrough stream and the full-policy stream one after another (order rotated, reversed every other round) on the same topic and records.',
      'Each sample starts cold: a new consumer group (baseline) or a new SSE stream from earliest (candidate: the gateway opens a private replay reader, a kafkajs consumer with the TopicReader settings, and hands over to the tap at the end). Group join time is inside the timing for both; firstMs in details shows it.',
      'The client (bench process) parses every SSE event: split the frame, JSON.parse the envelope, read value.total; the baseline JSON.parses every Kafka value and reads total.',
      'The gateway runs as node dist/main.js (log level info); its CPU comes from /proc/<pid>/stat (clock ticks). Client CPU is process.cpuUsage() of the bench process.',
      'stream-minimal-proxy is bench/lib/minimal-proxy.js in the same rounds: a kafkajs consumer writing each value unparsed into an SSE event, nothing else (no schema check, policy, cursor or auth); read by the same client. It is a ceiling for any gateway on this machine.',
      'stream-minimal-proxy-checked is the same proxy that also JSON.parses every value and checks it against the orders schema (the gateway\'s compiled ajv validator), as the Stream engine issue requires of the gateway: a ceiling for any gateway that meets that requirement.',
      `Broker, gateway and client share one machine (${os.cpus().length} cores): the candidate pays for one more process competing for the cores.`
    ]
    const result = (name, key, label, target, what) => {
      const cand = got[key]
      const cpuCand = median(cand.map(s => s.cpuUsPerRecord))
      return {
        name,
        description: `${records.toLocaleString('en-US')} orders of ${Math.round(avgBytes)} B JSON, ${PARTITIONS} partitions, 1 SSE subscriber from earliest through ${what}: records/s until the last record is parsed`,
        unit: 'records/s',
        better: 'higher',
        target: target === undefined ? undefined : { ratio: target, text: `≥ ${target}× the baseline (Stream engine issue)` },
        baseline: { label: 'kafkajs consumer (eachBatch + JSON.parse)', samples: base.map(s => s.rate), details: base },
        candidate: { label, samples: cand.map(s => s.rate), details: cand },
        cpu: {
          unit: 'CPU µs per record (user+system), median',
          baseline: cpuBase,
          candidate: cpuCand,
          candidateGateway: median(cand.map(s => s.gatewayCpuUsPerRecord)),
          candidateClient: median(cand.map(s => s.clientCpuUsPerRecord)),
          ratio: cpuCand / cpuBase,
          note: 'lower is better; candidate = gateway process + SSE client process'
        },
        params: { ...params, policy: { full: 'orders/partner-basic', passthrough: 'orders/passthrough (mode deny, fields {}, no where, no headers)', proxy: 'none (minimal proxy)', checked: 'none (minimal proxy: parse + schema check only)' }[key] },
        notes: common
      }
    }
    const candidates = [
      ['stream-passthrough', 'passthrough', 'gateway SSE, passthrough policy (child process) + undici client', 0.8, 'a passthrough policy (deny mode, nothing dropped)'],
      ['stream-full-policy', 'full', 'gateway SSE, orders/partner-basic (child process) + undici client', 0.5, 'orders/partner-basic (where + hash + mask + truncate + generalize)'],
      ['stream-minimal-proxy', 'proxy', 'minimal kafkajs → SSE proxy (child process) + undici client', undefined, 'bench/lib/minimal-proxy.js (no parse, check, policy, cursor or auth)'],
      ['stream-minimal-proxy-checked', 'checked', 'minimal proxy + JSON.parse and schema check per record (child process) + undici client', undefined, 'bench/lib/minimal-proxy.js --check (parse and schema check only, the value sent as received)']
    ]
    // Only the readers that ran (BENCH_THROUGHPUT_ONLY) give a result.
    return candidates.filter(([, key]) => got[key].length > 0).map(c => result(...c))
  } finally {
    if (proxy !== undefined) await proxy.stop()
    if (checkedProxy !== undefined) await checkedProxy.stop()
    // After the checked proxy, which was started on the gateway's policies copy.
    await gateway?.close()
    await cleanUp(cluster, { topics: [topic], groups, log })
  }
}

/** Lets the previous reader leave its group and the sockets close before the next sample. */
const settle = () => sleep(500)
