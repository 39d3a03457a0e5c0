/**
 * Memory preload for a server process under test (node --import, or NODE_OPTIONS):
 * listens on the unix socket named by $BENCH_MEMORY_SOCKET; each connection runs two
 * full garbage collections, waits `settle` ms and answers with one JSON line —
 * process.memoryUsage() and VmRSS/VmHWM from /proc/self/status (bytes). Used to
 * compare a server's resident memory before and after opening many idle connections
 * without garbage still waiting to be collected on either side. Changes nothing in
 * the server's code and costs nothing while nobody asks (the socket is unref'd).
 *
 *   const m = await readMemory(socketPath)   // from the bench process
 */
import net from 'node:net'
import { readFileSync } from 'node:fs'

const socketPath = process.env.BENCH_MEMORY_SOCKET
if (socketPath !== undefined && socketPath !== '') {
  const v8 = await import('node:v8')
  const vm = await import('node:vm')
  v8.setFlagsFromString('--expose-gc')
  const gc = vm.runInNewContext('gc')
  const server = net.createServer((sock) => {
    sock.once('data', (chunk) => {
      const settle = Number(chunk.toString().trim()) || 500
      gc()
      gc()
      setTimeout(() => {
        const status = readFileSync('/proc/self/status', 'utf8')
        const kb = (name) => { const m = new RegExp(`${name}:\\s+(\\d+) kB`).exec(status); return m === null ? NaN : Number(m[1]) * 1024 }
        sock.end(JSON.stringify({ at: Date.now(), vmRss: kb('VmRSS'), vmHwm: kb('VmHWM'), ...process.memoryUsage() }) + '\n')
      }, settle)
    })
    sock.on('error', () => {})
  })
  server.listen(socketPath)
  server.unref()
}

/** Asks a process running this preload for its memory (after two full GCs and `settleMs`). */
export function readMemory (path, settleMs = 500) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(path)
    let text = ''
    sock.on('connect', () => { sock.write(String(settleMs)) })
    sock.on('data', (c) => { text += c })
    sock.on('end', () => { try { resolve(JSON.parse(text)) } catch (err) { reject(err) } })
    sock.on('error', reject)
  })
}
