/** A real redis-server (Debian package, installed by .ci/run) on a free loopback port. */
import { spawn } from 'node:child_process'
import net from 'node:net'

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer()
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => { resolve(port) })
    })
    server.on('error', reject)
  })
}

export async function startRedis (t: { teardown: (fn: () => void | Promise<void>) => void }): Promise<string> {
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  t.teardown(() => { child.kill('SIGTERM') })
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>(resolve => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.end(); resolve(true) })
      socket.on('error', () => { resolve(false) })
    })
    if (up) return `redis://127.0.0.1:${port}`
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error('redis-server did not start (is the redis-server package installed?)')
}
