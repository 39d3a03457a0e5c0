/** Runs the built gateway (dist/) as a real child process, reading its JSON log lines. */
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { REPO_ROOT } from './policies.js'

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
  child.stdout?.on('data', (chunk: Buffer) => {
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
