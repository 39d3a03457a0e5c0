/**
 * WebSocket load generator for the benchmarks: `workers` child processes (fork), each
 * holding a share of the client connections (`ws`, the library the gateway itself
 * uses, without permessage-deflate). Clients authenticate with
 * `Authorization: Bearer <token>` at the upgrade and speak `streamshare.v1`
 * (CONTRACT §6): optionally one `subscribe` per connection, then they only receive.
 *
 * Per record frame a client takes `Date.now()` and the envelope's `timestamp` (the
 * Kafka CreateTime, ms) straight from the frame's bytes — no JSON.parse per record, so
 * the generator stays light; the first record of every connection is fully parsed
 * once as a check of the wire format. Latencies are counted exactly per millisecond.
 * Each worker also reports its own CPU (process.cpuUsage) and event-loop delay (how
 * late a 10 ms timer ran: p99 and max) over the measured window, so a saturated
 * generator shows in the figures.
 *
 * Parent side: `const load = await WsLoad.start(4)`, then `open`, `measure`,
 * `progress`, `stats`, `closeAll`, `stop`.
 */
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { withTimeout } from './util.js'

// ---------------------------------------------------------------------------------
// Parent side
// ---------------------------------------------------------------------------------

export class WsLoad {
  constructor (children) {
    this.children = children
    this.nextId = 1
    this.pending = new Map()
    for (const child of children) {
      child.on('message', (m) => {
        const p = this.pending.get(m.id)
        if (p === undefined) return
        this.pending.delete(m.id)
        if (m.ok) p.resolve(m.result)
        else p.reject(new Error(`load worker ${child.pid}: ${m.error}`))
      })
      child.on('exit', (code, signal) => { this.fail(child, new Error(`load worker ${child.pid} exited (${signal ?? code})`)) })
      // A fork that could not start emits 'error' and never 'exit'; unhandled, 'error' would end the bench process.
      child.on('error', (err) => { this.fail(child, new Error(`load worker ${child.pid ?? '(not started)'}: ${err.message}`)) })
    }
  }

  /** Rejects the calls waiting for `child`. */
  fail (child, err) {
    for (const [id, p] of this.pending) {
      if (p.child === child) { this.pending.delete(id); p.reject(err) }
    }
  }

  /** Forks `workers` generator processes; resolves once each has answered a ping (30 s at most). */
  static async start (workers) {
    const children = Array.from({ length: workers }, () => fork(fileURLToPath(import.meta.url), ['--ws-load-worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
    const load = new WsLoad(children)
    try {
      // A worker that never answers (hung while starting) fails the start too, rather than hang it.
      await withTimeout(Promise.all(children.map((_c, i) => load.call(i, 'ping'))), 'load workers\' ping', 30_000)
    } catch (err) {
      // A worker that cannot answer: end them all rather than leave them running.
      await load.stop()
      throw err
    }
    return load
  }

  get pids () { return this.children.map(c => c.pid) }

  call (i, cmd, args = {}) {
    const child = this.children[i]
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, child })
      // With a callback, a send on a closed channel (the worker is gone) fails this call instead of emitting 'error'.
      child.send({ id, cmd, ...args }, (err) => { if (err != null && this.pending.delete(id)) reject(new Error(`load worker ${child.pid}: ${err.message}`)) })
    })
  }

  async all (cmd, args = {}) {
    return await Promise.all(this.children.map((_c, i) => this.call(i, cmd, args)))
  }

  /** How `n` clients are spread over the workers (as evenly as possible, the first ones first). */
  split (n) {
    const w = this.children.length
    return Array.from({ length: w }, (_x, i) => Math.floor(n / w) + (i < n % w ? 1 : 0))
  }

  /**
   * Opens `n` connections (spread over the workers; each worker keeps `concurrency`
   * handshakes in flight). With `subscribe` ({ id, product, from }) each connection
   * subscribes once open and counts as open when `subscribed` arrived. Resolves with
   * { opened, failed, failures: { reason: count }, ms }.
   */
  async open ({ url, token, n, subscribe, concurrency = 25, timeoutMs = 30_000 }) {
    const t0 = performance.now()
    const parts = this.split(n)
    const results = await Promise.all(parts.map((count, i) => count === 0 ? { opened: 0, failed: 0, failures: {} } : this.call(i, 'open', { url, token, count, subscribe, concurrency, timeoutMs })))
    const failures = {}
    for (const r of results) for (const [k, v] of Object.entries(r.failures)) failures[k] = (failures[k] ?? 0) + v
    return { opened: results.reduce((a, r) => a + r.opened, 0), failed: results.reduce((a, r) => a + r.failed, 0), failures, ms: performance.now() - t0 }
  }

  /** Sends `subscribe` on every open connection that has none; resolves when all are subscribed (or failed). */
  async subscribeAll ({ subscribe, concurrency = 50, timeoutMs = 60_000 }) {
    const t0 = performance.now()
    const results = await this.all('subscribeAll', { subscribe, concurrency, timeoutMs })
    const failures = {}
    for (const r of results) for (const [k, v] of Object.entries(r.failures)) failures[k] = (failures[k] ?? 0) + v
    return { subscribed: results.reduce((a, r) => a + r.subscribed, 0), failed: results.reduce((a, r) => a + r.failed, 0), failures, ms: performance.now() - t0 }
  }

  /** Starts a measured window: per-connection record counts, latency counts, CPU and event-loop delay restart. */
  async measure () { await this.all('measure') }

  /** { min, max, total, open } record counts over the open connections since `measure`. */
  async progress () {
    const r = await this.all('progress')
    const withConns = r.filter(x => x.open > 0)
    return {
      min: withConns.length === 0 ? 0 : Math.min(...withConns.map(x => x.min)),
      max: Math.max(0, ...r.map(x => x.max)),
      total: r.reduce((a, x) => a + x.total, 0),
      open: r.reduce((a, x) => a + x.open, 0)
    }
  }

  /**
   * The measured window's figures: merged exact latency counts (ms → n), per-worker CPU
   * and event-loop delay, other message types, close codes, and whether the first record
   * of every connection parsed as the expected envelope.
   */
  async stats () {
    const r = await this.all('stats')
    const latency = new Map()
    for (const w of r) for (const [ms, n] of w.latency) latency.set(ms, (latency.get(ms) ?? 0) + n)
    const perRecord = new Map()
    for (const w of r) {
      for (const [key, [lo, hi, n]] of w.perRecord) {
        const x = perRecord.get(key)
        if (x === undefined) perRecord.set(key, [lo, hi, n])
        else { x[0] = Math.min(x[0], lo); x[1] = Math.max(x[1], hi); x[2] += n }
      }
    }
    const sum = (k) => r.reduce((a, w) => a + w[k], 0)
    const merge = (k) => { const o = {}; for (const w of r) for (const [x, n] of Object.entries(w[k])) o[x] = (o[x] ?? 0) + n; return o }
    return {
      latency,
      /** partition/offset → [first client's latency, last client's latency, clients]. */
      perRecord,
      records: sum('records'),
      connections: sum('connections'),
      open: sum('open'),
      minCount: Math.min(...r.filter(w => w.open > 0).map(w => w.minCount)),
      maxCount: Math.max(0, ...r.map(w => w.maxCount)),
      checked: sum('checked'),
      badFrames: sum('badFrames'),
      other: merge('other'),
      closes: merge('closes'),
      errors: merge('errors'),
      workers: r.map(w => ({ pid: w.pid, connections: w.connections, cpuUs: w.cpuUs, elapsedMs: w.elapsedMs, cpuCores: w.cpuUs / 1000 / w.elapsedMs, loopDelayP99Ms: w.loopDelayP99Ms, loopDelayMaxMs: w.loopDelayMaxMs, rssMb: w.rssMb }))
    }
  }

  /** Closes every connection (close handshake, terminate after 5 s). */
  async closeAll () { return await this.all('closeAll') }

  /**
   * Asks every worker still running to exit and waits until all have; one that has not
   * exited 5 s later (hung, or it never answered its ping) is killed. Not waiting for the
   * answer to `exit` itself: a hung worker never sends one, and stop() would hang with it.
   */
  async stop () {
    await Promise.all(this.children.map((c, i) => {
      if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return undefined
      const gone = new Promise(resolve => { c.once('exit', resolve) })
      this.call(i, 'exit').catch(() => {})
      const timer = setTimeout(() => { c.kill('SIGKILL') }, 5000)
      return gone.finally(() => { clearTimeout(timer) })
    }))
  }
}

/** Percentiles of exact latency counts (ms → n). */
export function latencySummary (counts) {
  const entries = [...counts].sort((a, b) => a[0] - b[0])
  const total = entries.reduce((a, [, n]) => a + n, 0)
  if (total === 0) return { count: 0, p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN, mean: NaN }
  const at = (q) => {
    const rank = Math.ceil(q * total)
    let seen = 0
    for (const [ms, n] of entries) { seen += n; if (seen >= rank) return ms }
    return entries[entries.length - 1][0]
  }
  const mean = entries.reduce((a, [ms, n]) => a + ms * n, 0) / total
  return { count: total, p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: entries[entries.length - 1][0], mean: Math.round(mean * 100) / 100 }
}

// ---------------------------------------------------------------------------------
// Worker side
// ---------------------------------------------------------------------------------

if (process.argv[2] === '--ws-load-worker') {
  const { default: WebSocket } = await import('ws')
  const TS = Buffer.from('"timestamp":"')
  const PART = Buffer.from('"partition":')
  /** { ws, count, subscribed, prefix, checked, closed } */
  const conns = []
  let latency = new Map()
  let perRecord = new Map()
  let records = 0
  let badFrames = 0
  let checked = 0
  let other = {}
  let errors = {}
  const closes = {}
  let cpu0 = process.cpuUsage()
  let t0 = performance.now()
  // The histogram records the whole interval between its 10 ms ticks: lateness = value − 10 ms.
  const LOOP_RESOLUTION_MS = 10
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS })
  loop.enable()

  const bump = (o, k) => { o[k] = (o[k] ?? 0) + 1 }

  function onMessage (c, data, isBinary) {
    const now = Date.now()
    const p = c.prefix
    if (!isBinary && p !== undefined && data.length > p.length && data.compare(p, 0, p.length, 0, p.length) === 0) {
      c.count++
      records++
      const i = data.indexOf(TS, p.length)
      const ts = i === -1 ? NaN : Date.parse(data.toString('latin1', i + TS.length, i + TS.length + 24))
      if (Number.isNaN(ts)) { badFrames++; return }
      const ms = Math.max(0, now - ts)
      latency.set(ms, (latency.get(ms) ?? 0) + 1)
      // Per record (partition/offset): the first and the last client's latency, to tell a
      // record that came late to everyone from the spread of one fan-out.
      const j = data.indexOf(PART, p.length)
      if (j !== -1 && j < i) {
        const key = data.toString('latin1', j + PART.length, data.indexOf(44, data.indexOf(44, j) + 1)) // "0,\"offset\":123"
        const r = perRecord.get(key)
        if (r === undefined) perRecord.set(key, [ms, ms, 1])
        else { if (ms < r[0]) r[0] = ms; if (ms > r[1]) r[1] = ms; r[2]++ }
      }
      if (!c.checked) {
        // Once per connection: the frame is the envelope of CONTRACT §5 with the subscription id.
        c.checked = true
        const m = JSON.parse(data.toString('utf8'))
        if (m.type === 'record' && m.id === c.subId && typeof m.cursor === 'string' && m.value !== null && typeof m.value === 'object' && Date.parse(m.timestamp) === ts) checked++
        else badFrames++
      }
      return
    }
    let m
    try { m = JSON.parse(data.toString('utf8')) } catch { badFrames++; return }
    if (m.type === 'subscribed') {
      c.subscribed = true
      c.onSubscribed?.()
    } else if (m.type === 'error') {
      bump(errors, `${m.status} ${m.code}`)
      c.onSubscribed?.(new Error(`${m.status} ${m.code}`))
    } else {
      bump(other, m.type)
    }
  }

  function connect (url, token, timeoutMs) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, 'streamshare.v1', { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false, handshakeTimeout: timeoutMs })
      const c = { ws, count: 0, opened: false, subscribed: false, prefix: undefined, subId: undefined, checked: false, closed: false }
      ws.on('unexpected-response', (_req, res) => { res.resume(); reject(new Error(`HTTP ${res.statusCode}`)); ws.terminate() })
      ws.on('open', () => { c.opened = true; resolve(c) })
      ws.on('error', (err) => { reject(new Error(err.code ?? err.message)) })
      ws.on('message', (data, isBinary) => { onMessage(c, data, isBinary) })
      ws.on('close', (code) => {
        // Closes the gateway (or the network) chose, of connections that were open; not ours.
        if (!c.closed && c.opened) bump(closes, String(code))
        c.closed = true
        c.onSubscribed?.(new Error(`closed ${code}`))
        reject(new Error(`closed ${code}`))
      })
    })
  }

  function subscribe (c, sub, timeoutMs) {
    c.subId = sub.id
    c.prefix = Buffer.from(`{"id":${JSON.stringify(sub.id)},"type":"record",`)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { c.onSubscribed = undefined; reject(new Error('subscribe timeout')) }, timeoutMs)
      c.onSubscribed = (err) => { clearTimeout(timer); c.onSubscribed = undefined; if (err === undefined) resolve(); else reject(err) }
      c.ws.send(JSON.stringify({ type: 'subscribe', id: sub.id, product: sub.product, from: sub.from }))
    })
  }

  /** Runs `task(i)` for i < count with at most `concurrency` in flight; counts failures by message. */
  async function pool (count, concurrency, task) {
    let next = 0
    let ok = 0
    const failures = {}
    const runOne = async () => {
      while (next < count) {
        const i = next++
        try { await task(i); ok++ } catch (err) { bump(failures, err.message) }
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, runOne))
    return { ok, failures }
  }

  const handlers = {
    ping: () => ({ pid: process.pid }),
    async open ({ url, token, count, subscribe: sub, concurrency, timeoutMs }) {
      const { ok, failures } = await pool(count, concurrency, async () => {
        const c = await connect(url, token, timeoutMs)
        conns.push(c)
        if (sub !== undefined && sub !== null) await subscribe(c, sub, timeoutMs)
      })
      return { opened: ok, failed: count - ok, failures }
    },
    async subscribeAll ({ subscribe: sub, concurrency, timeoutMs }) {
      const unsubscribed = conns.filter(c => !c.closed && !c.subscribed)
      const { ok, failures } = await pool(unsubscribed.length, concurrency, async (i) => { await subscribe(unsubscribed[i], sub, timeoutMs) })
      return { subscribed: ok, failed: unsubscribed.length - ok, failures }
    },
    measure () {
      latency = new Map()
      perRecord = new Map()
      records = 0
      badFrames = 0
      other = {}
      errors = {}
      for (const c of conns) c.count = 0
      cpu0 = process.cpuUsage()
      t0 = performance.now()
      loop.reset()
      return null
    },
    progress () {
      const open = conns.filter(c => !c.closed)
      let min = Infinity
      let max = 0
      for (const c of open) { if (c.count < min) min = c.count; if (c.count > max) max = c.count }
      return { min: open.length === 0 ? 0 : min, max, total: records, open: open.length }
    },
    stats () {
      const cpu = process.cpuUsage(cpu0)
      const open = conns.filter(c => !c.closed)
      return {
        pid: process.pid,
        connections: conns.length,
        open: open.length,
        minCount: open.length === 0 ? 0 : Math.min(...open.map(c => c.count)),
        maxCount: Math.max(0, ...conns.map(c => c.count)),
        latency: [...latency],
        perRecord: [...perRecord],
        records,
        checked,
        badFrames,
        other,
        errors,
        closes,
        cpuUs: cpu.user + cpu.system,
        elapsedMs: performance.now() - t0,
        loopDelayP99Ms: Math.max(0, loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS),
        loopDelayMaxMs: Math.max(0, loop.max / 1e6 - LOOP_RESOLUTION_MS),
        rssMb: process.memoryUsage().rss / 2 ** 20
      }
    },
    async closeAll () {
      const open = conns.filter(c => !c.closed)
      await Promise.all(open.map(c => new Promise(resolve => {
        c.closed = true
        c.ws.once('close', resolve)
        const t = setTimeout(() => { c.ws.terminate(); resolve() }, 5000)
        t.unref()
        try { c.ws.close(1000) } catch { c.ws.terminate(); resolve() }
      })))
      const n = conns.length
      conns.length = 0
      checked = 0
      for (const k of Object.keys(closes)) delete closes[k]
      return { closed: open.length, had: n }
    },
    exit () { setImmediate(() => process.exit(0)); return null }
  }

  process.on('message', async (m) => {
    try {
      const result = await handlers[m.cmd](m)
      process.send({ id: m.id, ok: true, result })
    } catch (err) {
      process.send({ id: m.id, ok: false, error: err.stack ?? String(err) })
    }
  })
  process.on('disconnect', () => { process.exit(0) })
}
