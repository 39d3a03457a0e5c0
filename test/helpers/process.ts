/** Runs the built gateway (dist/) as a real child process, reading its JSON log lines. */
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { REPO_ROOT } from './policies.js'
import { gatewayLogFile } from './log-files.js'

export interface GatewayProcess {
  child: ChildProcess
  logs: Array<Record<string, any>>
  stderr: string
  /** Resolves with the first log line that matches. */
  waitForLog: (predicate: (line: Record<string, any>) => boolean, timeoutMs?: number) => Promise<Record<string, any>>
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

export function spawnGateway (env: Record<string, string>, script = 'dist/main.js'): GatewayProcess {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, script)], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const logs: Array<Record<string, any>> = []
  const waiters: Array<() => void> = []
  let buffer = ''
  let stderr = ''
  const file = gatewayLogFile()
  child.on('exit', () => { file.stream.end() })
  child.stdout?.on('data', (chunk: Buffer) => {
    if (!file.stream.writableEnded) file.stream.write(chunk)
    buffer += chunk.toString()
    let nl: number
    while ((nl = buffer.indexOf('\n')) !== -1) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      try { logs.push(JSON.parse(line) as Record<string, any>) } catch { logs.push({ raw: line }) }
    }
    for (const w of waiters.splice(0)) w()
  })
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => {
    child.on('exit', (code, signal) => { for (const w of waiters.splice(0)) w(); resolve({ code, signal }) })
  })
  return {
    child,
    logs,
    get stderr () { return stderr },
    exited,
    async waitForLog (predicate, timeoutMs = 30000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const found = logs.find(predicate)
        if (found !== undefined) return found
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`log line not seen; stderr: ${stderr}; logs: ${JSON.stringify(logs.slice(-5))}`)
        await new Promise<void>(resolve => { const timer = setTimeout(resolve, 200); waiters.push(() => { clearTimeout(timer); resolve() }) })
      }
    }
  }
}

/**
 * A gateway child process on ports 0 against the test broker, with its registry
 * loaded, a partner (region eu-west) and a share of `orders` (partner-basic).
 */
export async function spawnGatewayWithShare (env: Record<string, string>): Promise<{ gw: GatewayProcess, partnerUrl: string, adminUrl: string, token: string, env: Record<string, string> }> {
  const { mkdtemp } = await import('node:fs/promises')
  const os = await import('node:os')
  const { TEST_BROKERS } = await import('./kafka.js')
  const { adminClient, TEST_ADMIN_TOKEN, uniqueId } = await import('./gateway.js')
  const fullEnv = {
    STREAMSHARE_KAFKA_BROKERS: TEST_BROKERS,
    STREAMSHARE_HOST: '127.0.0.1',
    STREAMSHARE_PORT: '0',
    STREAMSHARE_ADMIN_PORT: '0',
    STREAMSHARE_DEV_STATE_DIR: await mkdtemp(path.join(os.tmpdir(), 'streamshare-state-')),
    STREAMSHARE_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    STREAMSHARE_LOG_LEVEL: 'info',
    ...env
  }
  const gw = spawnGateway(fullEnv)
  const listening = await gw.waitForLog(l => l.msg === 'gateway listening')
  await gw.waitForLog(l => l.msg === 'registry loaded')
  const admin = adminClient(listening.admin as string)
  const partner = uniqueId('proc')
  await admin('POST', '/admin/v1/partners', { id: partner, name: 'P', contact: 'p@example.com', attributes: { region: 'eu-west' } })
  const created = await admin('POST', '/admin/v1/shares', { partner, products: [{ product: 'orders', policy: 'partner-basic', access: ['read'] }] })
  if (created.status !== 201) throw new Error(`share create failed: ${created.status}`)
  return { gw, partnerUrl: listening.partner as string, adminUrl: listening.admin as string, token: created.body.token.access_token as string, env: fullEnv }
}
