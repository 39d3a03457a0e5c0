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
import { spawn, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import kafkajs from 'kafkajs'
import { request } from 'undici'
import { KafkaCluster } from '../dist/kafka/cluster.js'
import { createLogger } from '../dist/observability/logger.js'
import { DemoDataGenerator } from '../dist/dev/demo-data.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const PRODUCT = 'orders'
const PARTITIONS = 3
const PRODUCE_BATCH = 500
const SAMPLE_TIMEOUT_MS = 120_000
// Same consumer settings as the gateway's TopicReader (src/kafka/reader.ts), so the
// comparison is about what the gateway adds, not about consumer tuning.
const CONSUMER_OPTIONS = { sessionTimeout: 30000, heartbeatInterval: 3000, maxWaitTimeInMs: 1000, allowAutoTopicCreation: false }

export async function run ({ quick, brokers, log }) {
  const records = Number(process.env.BENCH_RECORDS ?? (quick ? 3000 : 30000))
  const samples = quick ? 2 : 5
  const warmups = quick ? 0 : 1
  const brokerList = brokers.split(',')
  const topic = `bench.stream-delivery.${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
  const cluster = new KafkaCluster({ brokers: brokerList, clientId: 'streamshare-bench', ssl: false, connectionTimeoutMs: 3000, requestTimeoutMs: 30000 }, createLogger('silent'), '')
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'streamshare-bench-'))
  const groups = []
  let gateway

  try {
    // --- data: N demo orders on a fresh 3-partition topic -------------------------------
    await cluster.ensureTopics([{ topic, partitions: PARTITIONS }])
    const generator = new DemoDataGenerator(42)
    let bytes = 0
    for (let sent = 0; sent < records; sent += PRODUCE_BATCH) {
      const batch = []
      for (let i = sent; i < Math.min(records, sent + PRODUCE_BATCH); i++) {
        const r = generator.order()
        const value = JSON.stringify(r.value)
        bytes += value.length
        batch.push({ key: r.key, value, headers: r.headers })
      }
      await cluster.produce(topic, batch)
    }
    log(`  produced ${records} orders (${(bytes / records).toFixed(0)} B avg value) to ${topic}`)

    // --- gateway: a private policies copy pointing `orders` at the bench topic -----------
    const policiesDir = path.join(tmp, 'policies')
    await cp(path.join(ROOT, 'policies'), policiesDir, { recursive: true })
    const productFile = path.join(policiesDir, 'products', `${PRODUCT}.yaml`)
    await writeFile(productFile, (await readFile(productFile, 'utf8')).replace(/^topic: .*$/m, `topic: ${topic}`))
    const stateDir = path.join(tmp, 'state')
    const adminToken = randomBytes(24).toString('hex')
    gateway = await spawnGateway({
      STREAMSHARE_KAFKA_BROKERS: brokers,
      STREAMSHARE_HOST: '127.0.0.1',
      STREAMSHARE_PORT: '0',
      STREAMSHARE_ADMIN_HOST: '127.0.0.1',
      STREAMSHARE_ADMIN_PORT: '0',
      STREAMSHARE_POLICIES_DIR: policiesDir,
      STREAMSHARE_DEV_STATE_DIR: stateDir,
      STREAMSHARE_ADMIN_TOKEN: adminToken,
      // `info`, not `silent`: the "gateway listening" line carries the bound port. The
      // gateway logs per stream and per request at info, never per record.
      STREAMSHARE_LOG_LEVEL: 'info'
    })
    // A partner and a share through the admin API, as an admin would issue them.
    const token = await issueShareToken(gateway.adminUrl, adminToken, 'partner-basic')
    const streamUrl = `${gateway.partnerUrl}/v1/streams/${PRODUCT}?from=earliest&format=ndjson`

    const baseline = () => readWithKafkajs(brokerList, topic, records, groups)
    const candidate = () => readThroughGateway(streamUrl, token, records, gateway.pid)

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

    const med = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2 }
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
      params: { records, partitions: PARTITIONS, samples, warmups, avgValueBytes: Math.round(bytes / records), topic },
      notes: [
        'Ratio = candidate/baseline throughput: higher is better, 1.0 = the gateway delivers as fast as reading Kafka directly.',
        'Each sample starts cold: new consumer group (baseline) or new HTTP stream with a new gateway reader group (candidate), so group join time is inside the timing for both; firstMs in details shows it.',
        'The gateway runs in a child process (node dist/main.js, log level info); its CPU comes from /proc/<pid>/stat (utime+stime, clock-tick resolution). Client CPU is process.cpuUsage() of the bench process, which is idle except for the reader being measured.',
        'The baseline consumer uses the same consumer settings as the gateway TopicReader (maxWait 1000 ms, eachBatch, no commits); it JSON.parses each value and does nothing else (no schema check, no envelope, no HTTP).',
        `Broker, gateway and client share one machine (${os.cpus().length} cores): the candidate has one more process competing for CPU, which is part of what the gateway costs.`
      ]
    }
  } finally {
    if (gateway !== undefined) await gateway.stop()
    const admin = cluster.client.admin()
    try {
      await admin.connect()
      await admin.deleteTopics({ topics: [topic], timeout: 30000 })
      if (groups.length > 0) await admin.deleteGroups(groups).catch(() => {})
      log(`  deleted topic ${topic}`)
    } catch (err) {
      log(`  could not delete topic ${topic}: ${err.message}`)
    } finally {
      await admin.disconnect()
      await cluster.close()
      await rm(tmp, { recursive: true, force: true })
    }
  }
}

/** Lets the previous reader leave its group and the sockets close before the next sample. */
const settle = () => sleep(500)

/** Baseline: what a partner with direct Kafka access would run. */
async function readWithKafkajs (brokers, topic, total, groups) {
  const groupId = `streamshare-bench.baseline.${randomBytes(6).toString('hex')}`
  groups.push(groupId)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const kafka = new kafkajs.Kafka({ clientId: 'streamshare-bench-baseline', brokers, logLevel: kafkajs.logLevel.NOTHING })
  const consumer = kafka.consumer({ groupId, ...CONSUMER_OPTIONS })
  let count = 0
  let firstMs
  let checksum = 0
  const done = new Promise((resolve, reject) => {
    consumer.connect()
      .then(() => consumer.subscribe({ topics: [topic], fromBeginning: true }))
      .then(() => consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) {
            const value = JSON.parse(m.value.toString('utf8'))
            checksum += value.total // use the parsed value, so the parse cannot be skipped
            firstMs ??= performance.now() - t0
            if (++count === total) resolve(performance.now() - t0)
          }
        }
      }))
      .catch(reject)
  })
  const elapsed = await withTimeout(done, `kafkajs read of ${total} records (got ${count})`)
  const cpu = process.cpuUsage(cpu0)
  await consumer.disconnect()
  if (!(checksum > 0)) throw new Error('baseline parsed nothing')
  const cpuUs = cpu.user + cpu.system
  return { rate: total / (elapsed / 1000), elapsedMs: elapsed, firstMs, cpuUsPerRecord: cpuUs / total }
}

/** Candidate: a partner reading the NDJSON stream, parsing every line. */
async function readThroughGateway (url, token, total, gatewayPid) {
  const gw0 = procCpuUs(gatewayPid)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const res = await request(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/x-ndjson' } })
  if (res.statusCode !== 200) throw new Error(`stream refused: ${res.statusCode} ${await res.body.text()}`)
  res.body.setEncoding('utf8') // decodes UTF-8 across chunk boundaries (names like "Müller")
  let count = 0
  let other = 0
  let firstMs
  let checksum = 0
  let buffer = ''
  const read = (async () => {
    for await (const chunk of res.body) {
      buffer += chunk
      let nl
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        if (line === '') continue
        const message = JSON.parse(line)
        if (message.type !== 'record') { if (message.type !== 'heartbeat') other++; continue }
        checksum += message.value.total
        firstMs ??= performance.now() - t0
        if (++count === total) return performance.now() - t0
      }
    }
    throw new Error(`stream ended after ${count} records`)
  })()
  let elapsed
  try {
    elapsed = await withTimeout(read, `gateway read of ${total} records (got ${count}, ${other} non-record messages)`)
  } finally {
    res.body.destroy() // the client leaves; the gateway stops the stream and its reader
  }
  const cpu = process.cpuUsage(cpu0)
  const gatewayUs = procCpuUs(gatewayPid) - gw0
  if (other > 0) throw new Error(`${other} records were not delivered as records (schema?)`)
  if (!(checksum > 0)) throw new Error('candidate parsed nothing')
  const clientUs = cpu.user + cpu.system
  return {
    rate: total / (elapsed / 1000),
    elapsedMs: elapsed,
    firstMs,
    cpuUsPerRecord: (gatewayUs + clientUs) / total,
    gatewayCpuUsPerRecord: gatewayUs / total,
    clientCpuUsPerRecord: clientUs / total
  }
}

async function withTimeout (promise, what) {
  let timer
  try {
    return await Promise.race([promise, new Promise((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what} timed out`)), SAMPLE_TIMEOUT_MS) })])
  } finally {
    clearTimeout(timer)
  }
}

let clockTicks
/** utime+stime of a process in µs, from /proc/<pid>/stat (Linux). */
function procCpuUs (pid) {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after "(comm)": state is field 3, so utime (14) and stime (15) are at 11 and 12.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / clockTicks * 1e6
}

/** Starts `node dist/main.js` and waits for its "gateway listening" log line. */
async function spawnGateway (env) {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'main.js')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', (c) => { stderr += c })
  const exited = new Promise(resolve => child.on('exit', resolve))
  const { partnerUrl, adminUrl } = await new Promise((resolve, reject) => {
    let buffer = ''
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${stderr}`)), 30000)
    child.stdout.on('data', (chunk) => {
      buffer += chunk
      let nl
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        try {
          const entry = JSON.parse(line)
          if (entry.msg === 'gateway listening') { clearTimeout(timer); resolve({ partnerUrl: entry.partner, adminUrl: entry.admin }) }
          else if (entry.level >= 40 && !/development (signing keys|gateway secret)/.test(entry.msg)) process.stderr.write(`  gateway: ${line}\n`)
        } catch {}
      }
    })
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`gateway exited (${code}): ${stderr}`)) })
  })
  return {
    pid: child.pid,
    partnerUrl,
    adminUrl,
    async stop () {
      if (child.exitCode === null) child.kill('SIGTERM')
      await exited
    }
  }
}

/** Waits for the registry, then creates a partner and a share of PRODUCT; returns the share's token. */
async function issueShareToken (adminUrl, adminToken, policy) {
  const call = async (method, urlPath, body) => {
    const res = await request(adminUrl + urlPath, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const text = await res.body.text()
    return { status: res.statusCode, body: text === '' ? undefined : JSON.parse(text) }
  }
  for (let i = 0; i < 300; i++) {
    if ((await call('GET', '/readyz')).status === 200) break
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  const partner = `bench-${randomBytes(4).toString('hex')}`
  const p = await call('POST', '/admin/v1/partners', { id: partner, name: 'Bench partner', contact: 'bench@example.com', attributes: { region: 'eu-west' } })
  if (p.status !== 201) throw new Error(`partner: ${p.status} ${JSON.stringify(p.body)}`)
  const s = await call('POST', '/admin/v1/shares', { partner, products: [{ product: PRODUCT, policy, access: ['read'] }], history: 'all' })
  if (s.status !== 201) throw new Error(`share: ${s.status} ${JSON.stringify(s.body)}`)
  return s.body.token.access_token
}
