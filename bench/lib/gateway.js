/**
 * The real gateway for benchmarks: a private copy of policies/ pointing a product at
 * the bench topic, `node dist/main.js` in a child process (as deployed, so its CPU can
 * be read from /proc/<pid>/stat apart from the client's), and partners and shares
 * created through the admin API, as an admin would.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { spawnPortServer } from './port-server.js'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

/**
 * A policy that delivers every record unchanged: deny mode drops nothing, no `where`,
 * no header allow-list. Added to `orders` in the benchmarks' policies copy only.
 */
export const PASSTHROUGH_POLICY = [
  '  passthrough:',
  '    mode: deny',
  '    description: Benchmark only. Every field passes unchanged (deny mode, nothing dropped, no filter).',
  '    fields: {}',
  ''
].join('\n')

/**
 * Copies policies/ into `dir`, points `product` at `topic` and appends extra policies
 * (YAML text, indented under `policies:`) to it; checks the folder with the CLI, as an
 * operator would before shipping it.
 */
export async function preparePolicies (dir, { product = 'orders', topic, extraPolicies = '' }) {
  await cp(path.join(ROOT, 'policies'), dir, { recursive: true })
  const file = path.join(dir, 'products', `${product}.yaml`)
  let text = (await readFile(file, 'utf8')).replace(/^topic: .*$/m, `topic: ${topic}`)
  if (extraPolicies !== '') text = text.replace(/\n*$/, '\n') + extraPolicies
  await writeFile(file, text)
  // Throws (non-zero exit) with the CLI's file:line problems if the copy does not load.
  return execFileSync(process.execPath, [path.join(ROOT, 'dist', 'cli', 'main.js'), 'policy', 'check', dir], { encoding: 'utf8' }).trim()
}

/**
 * The environment of a bench gateway: loopback listeners on free ports, `info` logs (the
 * "gateway listening" line carries the bound ports; nothing is logged per record).
 */
export function gatewayEnv ({ brokers, policiesDir, stateDir, adminToken, extra = {} }) {
  return {
    STREAMSHARE_KAFKA_BROKERS: brokers,
    STREAMSHARE_HOST: '127.0.0.1',
    STREAMSHARE_PORT: '0',
    STREAMSHARE_ADMIN_HOST: '127.0.0.1',
    STREAMSHARE_ADMIN_PORT: '0',
    STREAMSHARE_POLICIES_DIR: policiesDir,
    STREAMSHARE_DEV_STATE_DIR: stateDir,
    STREAMSHARE_ADMIN_TOKEN: adminToken,
    STREAMSHARE_LOG_LEVEL: 'info',
    ...extra
  }
}

/**
 * Starts `node dist/main.js` and waits for its "gateway listening" log line (through
 * spawnPortServer: 30 s start timeout, stdout drained, stderr in the error message).
 * BENCH_GATEWAY_CPU_PROF=<dir> runs it with `--cpu-prof` into that folder (a
 * .cpuprofile is written when it exits; summarise it with bench/lib/profile.js).
 */
export async function spawnGateway (env, { log = () => {} } = {}) {
  const profDir = process.env.BENCH_GATEWAY_CPU_PROF
  const nodeArgs = profDir === undefined || profDir === '' ? [] : ['--cpu-prof', '--cpu-prof-dir', path.resolve(profDir)]
  if (nodeArgs.length > 0) log(`  gateway runs with --cpu-prof (profile into ${path.resolve(profDir)})`)
  // BENCH_GATEWAY_PROBE=<file>: GC pauses and event-loop stalls of the gateway, written there on exit.
  const probe = process.env.BENCH_GATEWAY_PROBE
  const probeEnv = {}
  if (probe !== undefined && probe !== '') {
    nodeArgs.push('--import', path.join(ROOT, 'bench', 'lib', 'gateway-probe.js'))
    probeEnv.BENCH_GATEWAY_PROBE_OUT = path.resolve(probe)
    log(`  gateway runs with the GC/event-loop probe (into ${path.resolve(probe)})`)
  }
  // BENCH_GATEWAY_NODE_ARGS='--single-threaded-gc …': extra node/V8 flags, for experiments.
  nodeArgs.push(...(process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(a => a !== ''))
  // BENCH_GATEWAY_ENV='STREAMSHARE_VIEW_WORKERS=0 …': settings for A/B runs of one bench.
  const extraEnv = Object.fromEntries((process.env.BENCH_GATEWAY_ENV ?? '').split(' ').filter(a => a.includes('=')).map(a => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]))
  if (Object.keys(extraEnv).length > 0) log(`  gateway runs with ${JSON.stringify(extraEnv)}`)
  const server = await spawnPortServer({
    name: 'gateway',
    nodeArgs,
    args: [path.join(ROOT, 'dist', 'main.js')],
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env, ...probeEnv, ...extraEnv },
    // BENCH_GATEWAY_STDOUT=<file>: a copy of everything it prints (with --trace-gc in BENCH_GATEWAY_NODE_ARGS, its GC trace).
    stdoutCopy: process.env.BENCH_GATEWAY_STDOUT,
    // Non-JSON lines (a GC trace) throw in JSON.parse and are skipped by spawnPortServer.
    onLine: (line) => {
      const entry = JSON.parse(line)
      if (entry.msg === 'gateway listening') return { partnerUrl: entry.partner, adminUrl: entry.admin }
      if (entry.level >= 40 && !/development (signing keys|gateway secret)/.test(entry.msg)) process.stderr.write(`  gateway: ${line}\n`)
      return undefined
    }
  })
  return {
    pid: server.pid,
    partnerUrl: server.ready.partnerUrl,
    adminUrl: server.ready.adminUrl,
    profiled: nodeArgs.length > 0,
    stop: server.stop
  }
}

/**
 * A gateway for one benchmark, in its own temporary folder: a checked policies copy
 * pointing `product` at `topic` (plus `extraPolicies`), a new admin token, its dev state
 * beside it, and `node dist/main.js` started with gatewayEnv() plus `env` (extra
 * STREAMSHARE_* settings). Every gateway benchmark did these steps and their clean-up
 * alike; here they are done once, so none of them can leave a gateway running or a
 * folder in /tmp behind when it fails half-way.
 *
 * A failure while starting stops what was started and removes the folder before it is
 * rethrown (the caller has nothing to close yet). close() stops the gateway and removes
 * the folder; it can be called more than once, so `finally { await bench?.close() }`
 * is enough whether the benchmark got as far as starting the gateway or not. policyCheck is the CLI's `policy check` output for the copy.
 *
 * `policiesDir`: a folder the caller prepared (preparePolicies) and shares between the
 * gateways it starts one after another (ws-fanout starts a fresh one per sample, all
 * on the same policies). It is used as is: not copied, not checked again (policyCheck
 * is undefined), not removed by close(); `topic` and `extraPolicies` must then not be
 * given, as they would not be applied.
 */
export async function startBenchGateway ({ brokers, product = 'orders', topic, extraPolicies = '', policiesDir: sharedPolicies, env = {}, log = () => {} }) {
  if (sharedPolicies !== undefined && (topic !== undefined || extraPolicies !== '')) throw new Error('startBenchGateway: topic and extraPolicies apply to a policies copy, not to a given policiesDir')
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'streamshare-bench-'))
  const removeTmp = () => rm(tmp, { recursive: true, force: true })
  const policiesDir = sharedPolicies ?? path.join(tmp, 'policies')
  const adminToken = newAdminToken()
  let policyCheck
  let gateway
  try {
    if (sharedPolicies === undefined) policyCheck = await preparePolicies(policiesDir, { product, topic, extraPolicies })
    gateway = await spawnGateway(gatewayEnv({ brokers, policiesDir, stateDir: path.join(tmp, 'state'), adminToken, extra: env }), { log })
  } catch (err) {
    await removeTmp()
    throw err
  }
  let closing
  return {
    pid: gateway.pid,
    partnerUrl: gateway.partnerUrl,
    adminUrl: gateway.adminUrl,
    profiled: gateway.profiled,
    adminToken,
    policiesDir,
    policyCheck,

    close () {
      closing ??= (async () => {
        try { await gateway.stop() } finally { await removeTmp() }
      })()
      return closing
    }
  }
}

/** A JSON call to the admin API. */
export async function adminCall (adminUrl, adminToken, method, urlPath, body) {
  const res = await request(adminUrl + urlPath, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await res.body.text()
  return { status: res.statusCode, body: text === '' ? undefined : JSON.parse(text) }
}

/** Waits until the gateway's registry is read (admin /readyz). */
export async function waitReady (adminUrl, adminToken) {
  for (let i = 0; i < 300; i++) {
    if ((await adminCall(adminUrl, adminToken, 'GET', '/readyz')).status === 200) return
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error('gateway not ready after 30 s')
}

/** Creates a partner (attribute region=eu-west unless given) through the admin API; returns its id. */
export async function createPartner (adminUrl, adminToken, attributes = { region: 'eu-west' }) {
  const partner = `bench-${randomBytes(4).toString('hex')}`
  const p = await adminCall(adminUrl, adminToken, 'POST', '/admin/v1/partners', { id: partner, name: 'Bench partner', contact: 'bench@example.com', attributes })
  if (p.status !== 201) throw new Error(`partner: ${p.status} ${JSON.stringify(p.body)}`)
  return partner
}

/**
 * Creates a share of `product` through `policy` (history: all) with an optional
 * `quota` ({ messages_per_second, bytes_per_second, max_connections, … });
 * returns { id, token, share }. (Here rather than in bench/lib/admin.js, which imports
 * this file, so that createShare and issueShareToken can use it; admin.js re-exports it.)
 */
export async function createShareWithQuota (adminUrl, adminToken, { partner, product = 'orders', policy, quota }) {
  const s = await adminCall(adminUrl, adminToken, 'POST', '/admin/v1/shares', {
    partner,
    products: [{ product, policy, access: ['read'] }],
    history: 'all',
    ...(quota === undefined ? {} : { quota })
  })
  if (s.status !== 201) throw new Error(`share: ${s.status} ${JSON.stringify(s.body)}`)
  return { id: s.body.share.id, token: s.body.token.access_token, share: s.body.share }
}

/** Creates a share of `product` through `policy` (history: all; `quota` if given); returns its token. */
export async function createShare (adminUrl, adminToken, { partner, product = 'orders', policy, quota }) {
  return (await createShareWithQuota(adminUrl, adminToken, { partner, product, policy, quota })).token
}

/** Waits for the registry, then creates a partner and one share (with `quota` if given); returns the share's token. */
export async function issueShareToken (adminUrl, adminToken, policy, { product = 'orders', attributes, quota } = {}) {
  await waitReady(adminUrl, adminToken)
  const partner = await createPartner(adminUrl, adminToken, attributes)
  return await createShare(adminUrl, adminToken, { partner, product, policy, quota })
}

/** A random admin token (the gateway needs ≥ 32 characters). */
export const newAdminToken = () => randomBytes(24).toString('hex')
