/**
 * A server in a child process that the benchmarks start and wait for: the gateway
 * (bench/lib/gateway.js), the minimal proxy (stream-throughput) and the bare ws server
 * (ws-fanout). Each prints a line on stdout once it listens; how that line looks is the
 * caller's business (`onLine`). The rest, which every one of them needs alike, is here:
 * a start timeout that ends a child that never said it listens, stdout drained for the
 * child's whole life, the end of stderr kept for the error message, and a stop() that
 * also works when the child has already exited.
 */
import { spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'

/** How much of a child's stderr is kept for messages (its end: a crash's stack trace is there). */
const STDERR_KEEP = 64 * 1024

/**
 * Starts `node <nodeArgs> <args>` and waits until `onLine(line)` returns something other
 * than undefined for a line of its stdout; resolves with { pid, ready: that value,
 * stop() }. `onLine` is called for every stdout line while the child runs, before and
 * after it is ready (the gateway's warnings come later too). `env` undefined passes this
 * process's environment. `stdoutCopy`: a file that gets a copy of everything the child
 * prints on stdout (appended).
 *
 * If the child exits or has not said it listens within `timeoutMs`, it is killed (the
 * caller has no handle on it) and the start rejects with its stderr. A child that exits
 * later without stop() being called is reported on this process's stderr with its own
 * (nothing else would tell why the benchmark's reads through it failed).
 */
export async function spawnPortServer ({ name, args, nodeArgs = [], env, cwd, onLine, timeoutMs = 30_000, stdoutCopy }) {
  const child = spawn(process.execPath, [...nodeArgs, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (c) => { stderr = (stderr + c).slice(-STDERR_KEEP) })
  // Listening for 'exit' from the start: a child that already ended must not make stop() hang.
  // A child that could not be spawned at all (no pid) never emits 'exit', only 'error'.
  let spawnError
  const exited = new Promise(resolve => {
    child.once('exit', (code, signal) => { resolve(signal ?? code) })
    child.on('error', (err) => { if (child.pid === undefined) { spawnError = err; resolve(err.code) } })
  })
  let stopping = false
  const copy = stdoutCopy === undefined || stdoutCopy === '' ? undefined : createWriteStream(stdoutCopy, { flags: 'a' })
  if (copy !== undefined) exited.then(() => { copy.end() })

  let ready
  let timer
  const listening = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${name} did not start within ${timeoutMs} ms: ${stderr}`)), timeoutMs)
    exited.then((how) => { reject(spawnError ?? new Error(`${name} exited (${how}): ${stderr}`)) })
    let buffer = ''
    // stdout is always drained, also after the ready line: a full pipe would block the child's writes (the gateway's logger).
    child.stdout.on('data', (chunk) => {
      copy?.write(chunk)
      buffer += chunk
      let nl
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        let r
        // A line onLine cannot read (it throws) is not the ready line; thrown here it would end the benchmark process.
        try { r = onLine(line) } catch { continue }
        if (ready === undefined && r !== undefined) { ready = r; resolve(r) }
      }
    })
  })
  try {
    await listening
  } catch (err) {
    // A child that never said it listens (timeout) would outlive the benchmark: end it.
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) child.kill('SIGKILL')
    await exited
    throw err
  } finally {
    clearTimeout(timer)
  }
  exited.then((how) => { if (!stopping) process.stderr.write(`  ${name} (pid ${child.pid}) exited (${how}) while in use${stderr === '' ? '' : `: ${stderr}`}\n`) })
  return {
    pid: child.pid,
    ready,

    /** SIGTERM (unless it has already exited) and wait for the exit; can be called more than once. */
    async stop () {
      stopping = true
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    }
  }
}
