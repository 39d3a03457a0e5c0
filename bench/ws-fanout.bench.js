/**
 * ws-fanout: WebSocket fan-out on this machine, with the broker on it (WebSocket issue).
 * Two results:
 *
 * ws-fanout-latency — delivery latency, producer timestamp → client receive, of a live
 *   view at 10 records/s to N WebSocket clients of one share (`GET /v1/ws`,
 *   `streamshare.v1`, Bearer token at the upgrade, one `subscribe` from latest per
 *   connection, all with the same subscription id). Baseline: 1 client; candidate:
 *   1000 clients (quick: 100), same gateway, same generator, alternating samples.
 *   Latency = Date.now() when a client has the frame − the envelope's `timestamp` (the
 *   Kafka CreateTime the producer's client set), exact per-millisecond counts. Ratio:
 *   median of the per-sample p99s, candidate / baseline. Target: p99 ≤ 100 ms at
 *   1000 clients × 10 msg/s. Also: gateway CPU µs per delivery, the generator's own CPU
 *   share, and a kafkajs consumer reading the same records at the same time as a
 *   reference for what the broker and the machine add by themselves.
 *
 * ws-idle-rss — resident memory per idle authenticated connection: RSS after two full
 *   GCs (bench/lib/memory-probe.js preloaded) before and after opening 10,000 (quick:
 *   1,000) connections that authenticated with a Bearer token at the upgrade and sent
 *   nothing (no subscription). Baseline: a bare `ws` server (same library, no gateway,
 *   bench/lib/plain-ws-server.js); candidate: the gateway. Fresh server process per
 *   sample. Target: ≤ 16 KiB per idle authenticated connection. Also reported: the same
 *   connections after each subscribed to a product that carries no traffic.
 *
 * The load generator is bench/lib/ws-load.js: BENCH_WS_WORKERS (default 4) forked
 * processes with the `ws` client; each reports its own CPU and event-loop delay.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { issueShareToken, preparePolicies, ROOT, startBenchGateway } from './lib/gateway.js'
import { spawnPortServer } from './lib/port-server.js'
import { benchCluster, benchTopic, cleanUp, startReferenceConsumer } from './lib/kafka.js'
import { producePaced } from './lib/paced-producer.js'
import { readMemory } from './lib/memory-probe.js'
import { latencySummary, WsLoad } from './lib/ws-load.js'
import { idleCpuCores, machineBusyBetween, machineCpu, median, procCpuSplitUs, procCpuUs, procRssMb, sleep } from './lib/util.js'

export const results = ['ws-fanout-latency', 'ws-idle-rss']

const PRODUCT = 'orders'
const POLICY = 'partner-basic'
const PARTITIONS = 3
const RECORD_BYTES = 1024
/** Every client names its subscription alike (the gateway then shares the frame bytes). */
const SUBSCRIBE = { id: 'orders', product: PRODUCT, from: 'latest' }
const TARGET_P99_MS = 100
const TARGET_KIB = 16
/** The tap's fetch wait (src/engine/product-tap.ts); the reference consumer uses the same. */
const TAP_MAX_WAIT_MS = 250
/**
 * Gateway settings for the benchmark: one address opens thousands of connections
 * within seconds, which the per-IP pre-authentication limit (300/min) exists to refuse.
 * The share's own limits are raised through its quota (max_connections,
 * requests_per_minute: every WebSocket message is charged to it).
 */
const GATEWAY_ENV = { STREAMSHARE_IP_CONNECTIONS_PER_MINUTE: '1000000' }

const num = (name, fallback) => Number(process.env[name] ?? fallback)

export async function run ({ quick, brokers, log }) {
  const only = process.env.BENCH_WS_ONLY ?? ''
  const topic = benchTopic('ws-fanout')
  const cluster = benchCluster(brokers)
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'streamshare-bench-'))
  const groups = []
  const out = []
  const workers = num('BENCH_WS_WORKERS', 4)
  let load
  try {
    load = await WsLoad.start(workers)
    await cluster.ensureTopics([{ topic, partitions: PARTITIONS }])
    const policiesDir = path.join(tmp, 'policies')
    await preparePolicies(policiesDir, { product: PRODUCT, topic })
    const ctx = { quick, brokers, log, topic, tmp, policiesDir, groups, load, workers }
    if (only === '' || only === 'latency') out.push(await latencyBench(ctx))
    if (only === '' || only === 'rss') out.push(await idleRssBench(ctx))
  } finally {
    await load?.stop()
    await cleanUp(cluster, { topics: [topic], groups, log })
    await rm(tmp, { recursive: true, force: true })
  }
  return out
}

// ---------------------------------------------------------------------------------
// Shared
// ---------------------------------------------------------------------------------

/**
 * A gateway (startBenchGateway) on the policies copy run() prepared and checked once:
 * every gateway of this file reads the same copy, so a fresh gateway per sample costs
 * no copy and no CLI check; each still gets its own admin token and state folder. Then
 * a partner (region=eu-west) and one share of orders/partner-basic with `quota`.
 */
async function startGateway ({ brokers, policiesDir, log }, { memorySocket, quota }) {
  const env = { ...GATEWAY_ENV }
  if (memorySocket !== undefined) {
    // Node's own NODE_OPTIONS preload: spawnGateway passes the environment through unchanged.
    env.NODE_OPTIONS = `--import ${path.join(ROOT, 'bench', 'lib', 'memory-probe.js')}`
    env.BENCH_MEMORY_SOCKET = memorySocket
  }
  const gateway = await startBenchGateway({ brokers, policiesDir, env, log })
  try {
    const token = await issueShareToken(gateway.adminUrl, gateway.adminToken, POLICY, { product: PRODUCT, quota })
    return { gateway, token, wsUrl: `${gateway.partnerUrl.replace(/^http/, 'ws')}/v1/ws` }
  } catch (err) {
    // The caller has no handle on this gateway yet: stop it (and remove its folder) here.
    await gateway.close()
    throw err
  }
}

const round1 = (x) => Math.round(x * 10) / 10
const round2 = (x) => Math.round(x * 100) / 100

// ---------------------------------------------------------------------------------
// ws-fanout-latency
// ---------------------------------------------------------------------------------

async function latencyBench (ctx) {
  const { quick, brokers, log, topic, groups, load, workers } = ctx
  const clients = num('BENCH_WS_CLIENTS', quick ? 100 : 1000)
  const rate = num('BENCH_WS_RATE', 10)
  const records = num('BENCH_WS_RECORDS', quick ? 100 : 600)
  const rounds = num('BENCH_WS_ROUNDS', quick ? 1 : 3)
  const warm = { clients: Math.min(100, clients), records: quick ? 30 : 100 }
  let gateway
  let consumer

  try {
    const started = await startGateway(ctx, { quota: { max_connections: 2 * clients + 100, requests_per_minute: 1_000_000 } })
    gateway = started.gateway
    const { token, wsUrl } = started
    // Diagnostic (BENCH_WS_PIN=1, with BENCH_QUICK=1): the gateway on CPU 0, the generator on the
    // last CPU (taskset, all threads); the broker, producer and everything else float.
    const pinned = process.env.BENCH_WS_PIN === '1'
    if (pinned) {
      const last = os.cpus().length - 1
      execFileSync('taskset', ['-a', '-pc', '0', String(gateway.pid)], { stdio: 'ignore' })
      for (const pid of load.pids) execFileSync('taskset', ['-a', '-pc', String(last), String(pid)], { stdio: 'ignore' })
      log(`  pinned: gateway to CPU 0, generator processes to CPU ${last}`)
    }

    // Reference: a kafkajs consumer with the tap's fetch settings reads the same records at the same time.
    const groupId = `streamshare-bench.ws-fanout.${randomBytes(6).toString('hex')}`
    groups.push(groupId)
    const ref = { counts: new Map(), count: 0 }
    const reference = startReferenceConsumer({
      brokers,
      clientId: 'streamshare-bench-ws-fanout',
      groupId,
      topic,
      maxWaitMs: TAP_MAX_WAIT_MS,
      onMessage: (m, now) => {
        const ms = Math.max(0, now - Number(m.timestamp))
        ref.counts.set(ms, (ref.counts.get(ms) ?? 0) + 1)
        ref.count++
      }
    })
    consumer = reference.consumer
    await reference.firstFetch

    log(`  latency: ${records} records of ${RECORD_BYTES} B at ${rate}/s per sample, 1 vs ${clients} WebSocket clients (${workers} generator processes), ${rounds} round(s), orders/${POLICY}`)
    let seed = 300
    const args = { load, wsUrl, token, gatewayPid: gateway.pid, brokers, topic, rate, ref, log }
    const w = await latencySample({ ...args, n: warm.clients, records: warm.records, seed: seed++ })
    log(`  warm-up (${warm.clients} clients, ${warm.records} records): p50 ${w.latency.p50} / p99 ${w.latency.p99} ms, ${w.complete ? 'complete' : 'INCOMPLETE'}`)
    const by = { 1: [], [clients]: [] }
    for (let r = 0; r < rounds; r++) {
      for (const n of r % 2 === 0 ? [1, clients] : [clients, 1]) {
        const s = await latencySample({ ...args, n, records, seed: seed++ })
        by[n].push(s)
        log(`  round ${r + 1}/${rounds}, ${n} client(s): p50 ${s.latency.p50} / p99 ${s.latency.p99} / p99.9 ${s.latency.p999} / max ${s.latency.max} ms; ` +
          `per record first/last client p99 ${s.perRecord.firstClient.p99}/${s.perRecord.lastClient.p99} ms (spread p50 ${s.perRecord.spread.p50}); kafkajs p99 ${s.reference.p99} ms; gateway ${s.gatewayCpuUsPerDelivery.toFixed(2)} µs/delivery (${(s.gatewayCpuCores * 100).toFixed(0)}% of a core, ${(s.gatewaySystemCpuShare * 100).toFixed(0)}% of it in the kernel); ` +
          `generator ${(s.generator.cpuCores * 100).toFixed(1)}% of a core (max worker ${(s.generator.maxWorkerCores * 100).toFixed(1)}%, event-loop delay p99 ${s.generator.maxLoopDelayP99Ms.toFixed(1)} ms); ` +
          `machine ${(s.machineBusy * 100).toFixed(0)}% busy (broker and other processes ${s.otherCores.toFixed(2)} cores); ${s.complete ? 'every client got every record' : `INCOMPLETE (min ${s.minCount})`}`)
      }
    }

    const merged = (list, key) => { const m = new Map(); for (const s of list) for (const [ms, n] of s[key]) m.set(ms, (m.get(ms) ?? 0) + n); return latencySummary(m) }
    const all = { baseline: merged(by[1], 'counts'), candidate: merged(by[clients], 'counts'), reference: merged([...by[1], ...by[clients]], 'referenceCounts'), referenceCandidate: merged(by[clients], 'referenceCounts') }
    const strip = (s) => { const { counts, referenceCounts, ...rest } = s; return rest }
    const med = (n, f) => median(by[n].map(f))
    const cpu = {
      baseline: med(1, s => s.gatewayCpuUsPerDelivery),
      candidate: med(clients, s => s.gatewayCpuUsPerDelivery),
      baselineIdleCorrected: med(1, s => s.gatewayCpuUsPerDeliveryIdleCorrected),
      candidateIdleCorrected: med(clients, s => s.gatewayCpuUsPerDeliveryIdleCorrected)
    }
    const gen = {
      cores: med(clients, s => s.generator.cpuCores),
      maxWorkerCores: Math.max(...by[clients].map(s => s.generator.maxWorkerCores)),
      loopDelayP99Ms: Math.max(...by[clients].map(s => s.generator.maxLoopDelayP99Ms)),
      usPerDelivery: med(clients, s => s.generator.cpuUsPerDelivery)
    }
    const gwCores = med(clients, s => s.gatewayCpuCores)
    const gwSys = med(clients, s => s.gatewaySystemCpuShare)
    const rec = { firstP99: med(clients, s => s.perRecord.firstClient.p99), lastP99: med(clients, s => s.perRecord.lastClient.p99), spreadP50: med(clients, s => s.perRecord.spread.p50), spreadP99: med(clients, s => s.perRecord.spread.p99) }
    const busy = med(clients, s => s.machineBusy)
    const others = med(clients, s => s.otherCores)
    const complete = [...by[1], ...by[clients]].every(s => s.complete)
    const met = all.candidate.p99 <= TARGET_P99_MS
    const fmtL = (s) => `p50 ${s.p50} ms, p99 ${s.p99} ms, p99.9 ${s.p999} ms, max ${s.max} ms`
    return {
      name: 'ws-fanout-latency',
      description: `producer CreateTime → WebSocket client receive, ${rate} records/s of ${RECORD_BYTES} B to N clients of one share (orders/${POLICY}, one subscribe from latest each), ${records} records per sample: p99 ms`,
      unit: 'ms p99',
      better: 'lower',
      target: { text: `p99 ≤ ${TARGET_P99_MS} ms at ${clients} clients × ${rate} msg/s (WebSocket issue)`, p99Ms: all.candidate.p99, met },
      baseline: { label: '1 WebSocket client', samples: by[1].map(s => s.latency.p99), details: by[1].map(strip) },
      candidate: { label: `${clients} WebSocket clients`, samples: by[clients].map(s => s.latency.p99), details: by[clients].map(strip) },
      overall: all,
      // Not `cpu` (the harness's CPU line): at 10 msg/s the 1-client figure is mostly the gateway's idle and per-record cost, so a ratio of the two says nothing; the summary has both.
      gatewayCpu: { unit: `gateway CPU µs per delivery (1 vs ${clients} clients)`, baseline: cpu.baseline, candidate: cpu.candidate, idleCorrected: { baseline: cpu.baselineIdleCorrected, candidate: cpu.candidateIdleCorrected } },
      generator: { tool: `bench/lib/ws-load.js: ${workers} forked Node processes, ws ${wsVersion()} client, no JSON.parse per record`, workers, ...gen },
      perRecord: rec,
      everyClientGotEveryRecord: complete,
      summary: [
        `${clients} clients × ${rate} msg/s, over all ${all.candidate.count.toLocaleString('en-US')} deliveries: ${fmtL(all.candidate)} ` +
          `(**p99 ${all.candidate.p99} ms**, target ≤ ${TARGET_P99_MS} ms: ${met ? 'met' : 'missed'}); 1 client: ${fmtL(all.baseline)}; ` +
          `kafkajs reference consumer in the same windows: ${fmtL(all.reference)}; ${complete ? 'every client got every record' : 'NOT every client got every record (see JSON)'}`,
        `per record at ${clients} clients (median of samples): first client p99 ${rec.firstP99} ms, last client p99 ${rec.lastP99} ms; spread first → last client p50 ${rec.spreadP50} ms, p99 ${rec.spreadP99} ms`,
        `gateway CPU per delivery (median): 1 client ${cpu.baseline.toFixed(1)} µs, ${clients} clients **${cpu.candidate.toFixed(2)} µs** (idle-corrected ${cpu.candidateIdleCorrected.toFixed(2)}), gateway ${(gwCores * 100).toFixed(0)}% of a core, ${(gwSys * 100).toFixed(0)}% of it in the kernel; ` +
          `load generator (${workers} processes) ${(gen.cores * 100).toFixed(1)}% of a core = ${(gen.cores / os.cpus().length * 100).toFixed(1)}% of the machine (${gen.usPerDelivery.toFixed(1)} µs per delivery, busiest worker ${(gen.maxWorkerCores * 100).toFixed(1)}%, event-loop delay p99 ≤ ${gen.loopDelayP99Ms.toFixed(1)} ms); machine ${(busy * 100).toFixed(0)}% busy, of which ${others.toFixed(2)} cores the broker and other processes`
      ],
      params: { clients, rate, records, rounds, warmup: warm, workers, pinned, recordBytes: RECORD_BYTES, partitions: PARTITIONS, policy: `orders/${POLICY}`, subscribe: SUBSCRIBE, gatewayEnv: GATEWAY_ENV, shareQuota: { max_connections: 2 * clients + 100, requests_per_minute: 1_000_000 }, referenceMaxWaitMs: TAP_MAX_WAIT_MS, produceBatch: 1, topic, gatewayProfiled: gateway.profiled },
      notes: [
        'Latency = Date.now() in the client process when ws emits the frame − the envelope timestamp (Kafka CreateTime set by the producer process\'s kafkajs client; ms). One clock: everything runs on this machine.',
        `Each sample opens N new connections (Bearer token at the upgrade, subprotocol streamshare.v1), subscribes each with {"type":"subscribe","id":"orders","product":"orders","from":"latest"}, waits for every "subscribed", then a producer process sends the records one per produce request (acks=all) at ${rate}/s; the sample ends when every client has every record.`,
        `Baseline and candidate run alternately on the same gateway; harness ratio = median of the per-sample p99s. The target is judged on the p99 over all ${clients}-client deliveries.`,
        'Gateway CPU per delivery = utime+stime of the gateway child over the window / record frames received by all clients; idle-corrected subtracts the gateway\'s CPU rate over 2 s just before (same connections open, no records).',
        `The generator's CPU share is the sum of its worker processes' process.cpuUsage() over the window; their event-loop delay p99 shows whether a worker was late in taking its timestamps. The reference kafkajs consumer runs in the bench process (maxWait ${TAP_MAX_WAIT_MS} ms like the tap).`,
        `Broker, gateway, producer, generator and bench process share one machine (${os.cpus().length} cores).`
      ]
    }
  } finally {
    await consumer?.disconnect().catch(() => {})
    await gateway?.close()
  }
}

async function latencySample ({ load, wsUrl, token, gatewayPid, brokers, topic, rate, ref, n, records, seed, log }) {
  try {
    const opened = await load.open({ url: wsUrl, token, n, subscribe: SUBSCRIBE, concurrency: 25 })
    if (opened.failed > 0) throw new Error(`${opened.failed} of ${n} WebSocket clients could not connect/subscribe: ${JSON.stringify(opened.failures)}`)
    await sleep(2000) // audit writes and logs of the new subscriptions settle
    const idleRate = await idleCpuCores(gatewayPid, 2000) * 1000 // µs per ms

    await load.measure()
    ref.counts = new Map()
    ref.count = 0
    const gw0 = procCpuUs(gatewayPid)
    const split0 = procCpuSplitUs(gatewayPid)
    const self0 = process.cpuUsage()
    const m0 = machineCpu()
    const t0 = performance.now()
    const producing = producePaced({ brokers, topic, count: records, rate, batch: 1, seed, bytes: RECORD_BYTES })
    const deadline = records / rate * 1000 + 60_000
    let progress
    let timedOut = false
    for (;;) {
      progress = await load.progress()
      if (progress.min >= records && ref.count >= records) break
      if (performance.now() - t0 > deadline) { timedOut = true; log(`  sample timed out: clients min ${progress.min}/${records}, open ${progress.open}/${n}, reference ${ref.count}`); break }
      await sleep(100)
    }
    const elapsedMs = performance.now() - t0
    const gatewayUs = procCpuUs(gatewayPid) - gw0
    const split1 = procCpuSplitUs(gatewayPid)
    const busy = machineBusyBetween(m0, machineCpu())
    const selfCpu = process.cpuUsage(self0)
    const stats = await load.stats()
    const producer = await producing
    const gatewayRssMb = procRssMb(gatewayPid)

    const deliveries = stats.records
    // Per record: when the first and the last client had it, and the spread between them.
    const tally = (f) => { const m = new Map(); for (const r of stats.perRecord.values()) { const v = f(r); m.set(v, (m.get(v) ?? 0) + 1) } return latencySummary(m) }
    const genUs = stats.workers.reduce((a, w) => a + w.cpuUs, 0)
    const genCores = stats.workers.reduce((a, w) => a + w.cpuCores, 0)
    return {
      clients: n,
      records,
      counts: stats.latency,
      referenceCounts: ref.counts,
      latency: latencySummary(stats.latency),
      reference: latencySummary(ref.counts),
      perRecord: { firstClient: tally(r => r[0]), lastClient: tally(r => r[1]), spread: tally(r => r[1] - r[0]) },
      complete: !timedOut && stats.open === n && stats.minCount >= records && stats.maxCount === records,
      open: stats.open,
      minCount: stats.minCount,
      maxCount: stats.maxCount,
      deliveries,
      framesChecked: stats.checked,
      badFrames: stats.badFrames,
      otherMessages: stats.other,
      errorMessages: stats.errors,
      closedByServer: stats.closes,
      openMs: round1(opened.ms),
      elapsedMs: round1(elapsedMs),
      gatewayCpuMs: round1(gatewayUs / 1000),
      gatewayCpuUsPerDelivery: gatewayUs / deliveries,
      gatewayCpuUsPerDeliveryIdleCorrected: Math.max(0, gatewayUs - idleRate * elapsedMs) / deliveries,
      // Kernel share: at 10 msg/s every delivery is its own write syscall on its own socket.
      gatewaySystemCpuShare: (split1.system - split0.system) / Math.max(1, (split1.system - split0.system) + (split1.user - split0.user)),
      gatewayIdleCpuCores: idleRate / 1000,
      gatewayCpuCores: gatewayUs / 1000 / elapsedMs,
      gatewayRssMb: round1(gatewayRssMb),
      generator: {
        cpuCores: genCores,
        cpuUsPerDelivery: genUs / deliveries,
        maxWorkerCores: Math.max(...stats.workers.map(w => w.cpuCores)),
        maxLoopDelayP99Ms: Math.max(...stats.workers.map(w => w.loopDelayP99Ms)),
        maxLoopDelayMaxMs: Math.max(...stats.workers.map(w => w.loopDelayMaxMs)),
        workers: stats.workers.map(w => ({ connections: w.connections, cpuCores: Math.round(w.cpuCores * 1000) / 1000, loopDelayP99Ms: round2(w.loopDelayP99Ms), rssMb: round1(w.rssMb) }))
      },
      benchProcessCpuCores: (selfCpu.user + selfCpu.system) / 1000 / elapsedMs,
      producer: { ...producer, cpuCores: producer.cpuUs / 1000 / producer.elapsedMs },
      machineBusy: busy,
      // Cores busy with neither the gateway, the generator, the producer nor this process: the broker and anything else on the machine.
      otherCores: busy * os.cpus().length - gatewayUs / 1000 / elapsedMs - genCores - producer.cpuUs / 1000 / elapsedMs - (selfCpu.user + selfCpu.system) / 1000 / elapsedMs
    }
  } finally {
    await load.closeAll()
    await sleep(n >= 100 ? 3000 : 1000) // the gateway ends the subscriptions (and audits them) before the next sample
  }
}

// ---------------------------------------------------------------------------------
// ws-idle-rss
// ---------------------------------------------------------------------------------

async function idleRssBench (ctx) {
  const { quick, log, load, workers, tmp } = ctx
  const idle = num('BENCH_WS_IDLE', quick ? 1000 : 10000)
  const samples = num('BENCH_WS_IDLE_SAMPLES', quick ? 1 : 3)
  const subscribeToo = process.env.BENCH_WS_IDLE_SUBSCRIBE !== '0'
  log(`  idle RSS: ${idle} idle connections per sample, bare ws server vs gateway, ${samples} sample(s) each, fresh server process per sample; ulimit -n ${ulimitN()}`)
  const by = { plain: [], gateway: [] }
  for (let i = 0; i < samples; i++) {
    for (const kind of i % 2 === 0 ? ['plain', 'gateway'] : ['gateway', 'plain']) {
      const memorySocket = path.join(tmp, `memory-${kind}-${i}.sock`)
      let server
      try {
        server = kind === 'plain' ? await startPlain(memorySocket) : await startGateway(ctx, { memorySocket, quota: { max_connections: idle + 1000, requests_per_minute: 1_000_000 } })
        const pid = kind === 'plain' ? server.pid : server.gateway.pid
        const s = await idleSample({ load, url: server.wsUrl, token: server.token ?? 'none', pid, memorySocket, n: idle, subscribe: kind === 'gateway' && subscribeToo, quick, log })
        by[kind].push(s)
        log(`  sample ${i + 1}/${samples}, ${kind === 'plain' ? 'bare ws server' : 'gateway'}: ${s.opened}/${idle} open in ${(s.openMs / 1000).toFixed(1)} s; ` +
          `RSS ${s.before.rssMb} → ${s.mid.rssMb} → ${s.after.rssMb} MiB: **${s.kibPerConnection.toFixed(2)} KiB/connection** (heap ${s.heapKibPerConnection.toFixed(2)}, external+arrayBuffers ${s.externalKibPerConnection.toFixed(2)}; marginal over the second half ${s.marginalKibPerConnection.toFixed(2)})` +
          (s.subscribed === undefined ? '' : `; subscribed ${s.subscribed.count}: +${s.subscribed.subscriptionKib.toFixed(2)} KiB each (heap +${s.subscribed.subscriptionHeapKib.toFixed(2)}), ${s.subscribed.kibPerConnection.toFixed(2)} KiB per subscribed connection`) +
          `; idle CPU ${(s.idleCpuCores * 100).toFixed(1)}% of a core; after close ${s.afterClose.rssMb} MiB; generator ${(s.generator.openCpuCores * 100).toFixed(0)}% of a core while opening`)
      } finally {
        if (kind === 'plain') await server?.stop()
        else await server?.gateway.close()
      }
    }
  }
  const med = (k, f) => median(by[k].map(f))
  const kib = { plain: med('plain', s => s.kibPerConnection), gateway: med('gateway', s => s.kibPerConnection) }
  const subKib = subscribeToo ? med('gateway', s => s.subscribed.kibPerConnection) : undefined
  const opened = Math.min(...[...by.plain, ...by.gateway].map(s => s.opened))
  const met = kib.gateway <= TARGET_KIB
  return {
    name: 'ws-idle-rss',
    description: `server RSS per idle WebSocket connection (after full GCs), ${idle.toLocaleString('en-US')} connections from this machine that authenticated (Bearer token at the upgrade) and sent nothing: KiB per connection`,
    unit: 'KiB RSS/connection',
    better: 'lower',
    target: { text: `≤ ${TARGET_KIB} KiB RSS per idle authenticated connection (WebSocket issue)`, kibPerConnection: kib.gateway, met },
    baseline: { label: 'bare ws server (node:http + ws, no gateway)', samples: by.plain.map(s => s.kibPerConnection), details: by.plain },
    candidate: { label: 'gateway, authenticated, no subscription', samples: by.gateway.map(s => s.kibPerConnection), details: by.gateway },
    ...(subKib === undefined ? {} : { subscribedKibPerConnection: subKib }),
    connectionsOpened: opened,
    summary: [
      `${opened.toLocaleString('en-US')} idle connections (median of ${samples}): gateway **${kib.gateway.toFixed(2)} KiB RSS per authenticated connection** (target ≤ ${TARGET_KIB} KiB: ${met ? 'met' : 'missed'}; ` +
        `heap ${med('gateway', s => s.heapKibPerConnection).toFixed(2)} KiB; marginal over the second half ${med('gateway', s => s.marginalKibPerConnection).toFixed(2)} KiB), bare ws server ${kib.plain.toFixed(2)} KiB` +
        (subKib === undefined ? '' : `; the same connections each subscribed to a quiet product: **${subKib.toFixed(2)} KiB per connection** (+${med('gateway', s => s.subscribed.subscriptionKib).toFixed(2)} KiB per subscription)`) +
        `; gateway idle CPU with them open ${(med('gateway', s => s.idleCpuCores) * 100).toFixed(1)}% of a core; opened at ${Math.round(med('gateway', s => s.opened / (s.openMs / 1000)))} connections/s, ` +
        `generator ${(med('gateway', s => s.generator.openCpuCores) * 100).toFixed(0)}% of a core meanwhile (gateway ${(med('gateway', s => s.openGatewayCpuCores) * 100).toFixed(0)}%)`
    ],
    params: { idle, samples, workers, subscribe: subscribeToo ? SUBSCRIBE : null, gatewayEnv: GATEWAY_ENV, shareQuota: { max_connections: idle + 1000, requests_per_minute: 1_000_000 }, warmupConnections: quick ? 100 : 500, ulimitN: ulimitN() },
    notes: [
      'RSS = VmRSS of the server process, read by a preloaded probe (bench/lib/memory-probe.js, via NODE_OPTIONS=--import for the gateway) right after two full garbage collections and 1 s of settling: before, after opening half of the connections, and after opening the rest. Per connection (the ratio and the target) = RSS growth from before to after / connections open. Cross-check: the marginal cost over the second half, which is free of the committed-but-unused heap a running server starts with (the first connections can fill it at no RSS cost) but not of V8\'s heap-growth steps. Kernel socket buffers are not part of RSS.',
      'Before the measured opening, each fresh server has opened and closed a warm-up batch of connections, so code, pools and the first heap growth are in the "before" figure.',
      'Baseline: a bare node:http server with the same ws version (no framework, no authentication, per-connection state = ws\'s own), what the library and Node\'s sockets cost; candidate: the gateway (fastify + @fastify/websocket, per-IP check, JWT verification, share lookup, connection lease, WsConnection with its ping and idle timers, stream registry entry). Ratio = gateway / bare ws.',
      'Idle = authenticated (Authorization: Bearer <token> at the upgrade, subprotocol streamshare.v1) and nothing sent; the gateway closes a connection without a subscription after STREAMSHARE_WS_IDLE_TIMEOUT_MS (300 s), longer than a sample. The subscribed figure: every one of the same connections then subscribes (from latest) to a product that receives nothing; per subscribed connection = the connection figure + RSS growth from subscribing / subscriptions.',
      `All connections come from 127.0.0.1 (one address: the per-IP limit is raised) through ${workers} generator processes; one share (max_connections raised).`
    ]
  }
}

async function idleSample ({ load, url, token, pid, memorySocket, n, subscribe, quick, log }) {
  // Warm-up: open and close a batch, so JIT, pools and first heap growth are in "before".
  const warm = await load.open({ url, token, n: quick ? 100 : 500 })
  if (warm.failed > 0) throw new Error(`warm-up connections failed: ${JSON.stringify(warm.failures)}`)
  await load.closeAll()
  await sleep(3000)
  const before = await memory(memorySocket)

  // Two steps: the slope between half and all of them (the marginal cost of one more
  // connection) cross-checks the average: a server that has run has committed heap
  // pages it is not using, and the first connections can fill those at no RSS cost.
  const half = Math.floor(n / 2)
  await load.measure()
  const cpu0 = procCpuUs(pid)
  const first = await load.open({ url, token, n: half, concurrency: 25, timeoutMs: 60_000 })
  const openGatewayUs1 = procCpuUs(pid) - cpu0
  const openStats = await load.stats()
  await sleep(3000)
  const mid = await memory(memorySocket)
  const second = await load.open({ url, token, n: n - half, concurrency: 25, timeoutMs: 60_000 })
  const opened = { opened: first.opened + second.opened, failed: first.failed + second.failed, failures: { ...first.failures }, ms: first.ms + second.ms }
  for (const [k, v] of Object.entries(second.failures)) opened.failures[k] = (opened.failures[k] ?? 0) + v
  if (opened.failed > 0) log(`  ${opened.failed} of ${n} connections failed: ${JSON.stringify(opened.failures)} (measuring the ${opened.opened} open ones)`)
  await sleep(3000)
  const after = await memory(memorySocket)
  // The server's CPU while the connections sit idle (pings every 30 s, timers).
  const idleCores = await idleCpuCores(pid, 10_000)
  const stillOpen = (await load.progress()).open

  let subscribed
  if (subscribe) {
    const t0 = performance.now()
    const s = await load.subscribeAll({ subscribe: SUBSCRIBE, concurrency: 25, timeoutMs: 60_000 })
    const subMs = performance.now() - t0
    if (s.failed > 0) log(`  ${s.failed} subscribes failed: ${JSON.stringify(s.failures)}`)
    await sleep(3000)
    const m = await memory(memorySocket)
    const subscriptionKib = (m.vmRss - after.vmRss) / 1024 / Math.max(1, s.subscribed)
    subscribed = { count: s.subscribed, failed: s.failed, failures: s.failures, ms: round1(subMs), rssMb: m.rssMb, heapUsedMb: m.heapUsedMb, subscriptionKib, subscriptionHeapKib: (m.heapUsed - after.heapUsed) / 1024 / Math.max(1, s.subscribed), kibPerConnection: (after.vmRss - before.vmRss) / 1024 / opened.opened + subscriptionKib }
  }
  const closedByServer = (await load.stats()).closes
  await load.closeAll()
  await sleep(5000)
  const afterClose = await memory(memorySocket)
  const k = (a, b, f) => (f(b) - f(a)) / 1024 / opened.opened
  const slope = (f) => (f(after) - f(mid)) / 1024 / second.opened
  return {
    requested: n,
    opened: opened.opened,
    failed: opened.failed,
    failures: opened.failures,
    stillOpenAfterIdle: stillOpen,
    closedByServer,
    openMs: round1(opened.ms),
    // CPU while opening: gateway and generator over the first half's opening.
    openGatewayCpuCores: openGatewayUs1 / 1000 / first.ms,
    openedFirstHalf: first.opened,
    openedSecondHalf: second.opened,
    before,
    mid,
    after,
    afterClose,
    // Headline: RSS growth from none to all of them / connections (what the issue asks for);
    // the marginal cost over the second half is the cross-check (see notes).
    kibPerConnection: k(before, after, m => m.vmRss),
    heapKibPerConnection: k(before, after, m => m.heapUsed),
    externalKibPerConnection: k(before, after, m => m.external + m.arrayBuffers),
    marginalKibPerConnection: slope(m => m.vmRss),
    marginalHeapKibPerConnection: slope(m => m.heapUsed),
    idleCpuCores: idleCores,
    ...(subscribed === undefined ? {} : { subscribed }),
    generator: {
      openCpuCores: openStats.workers.reduce((a, w) => a + w.cpuCores, 0),
      workers: openStats.workers.map(w => ({ connections: w.connections, cpuCores: round2(w.cpuCores), rssMb: round1(w.rssMb) }))
    }
  }
}

async function memory (socket) {
  const m = await readMemory(socket, 1000)
  return { ...m, rssMb: round1(m.vmRss / 2 ** 20), heapUsedMb: round1(m.heapUsed / 2 ** 20) }
}

/** The bare ws server (bench/lib/plain-ws-server.js) with the memory probe preloaded. */
async function startPlain (memorySocket) {
  const server = await spawnPortServer({
    name: 'bare ws server',
    nodeArgs: ['--import', path.join(ROOT, 'bench', 'lib', 'memory-probe.js')],
    args: [path.join(ROOT, 'bench', 'lib', 'plain-ws-server.js')],
    env: { PATH: process.env.PATH ?? '', BENCH_MEMORY_SOCKET: memorySocket },
    // It prints {"port": <n>} once listening.
    onLine: (line) => JSON.parse(line).port,
    timeoutMs: 10_000
  })
  return {
    pid: server.pid,
    wsUrl: `ws://127.0.0.1:${server.ready}/v1/ws`,
    stop: server.stop
  }
}

function ulimitN () {
  try {
    const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))
    return m === null ? undefined : Number(m[1])
  } catch { return undefined }
}

function wsVersion () {
  try { return JSON.parse(readFileSync(path.join(ROOT, 'node_modules', 'ws', 'package.json'), 'utf8')).version } catch { return 'unknown' }
}
