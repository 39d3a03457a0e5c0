/**
 * A paced producer in its own process: `count` padded orders to a topic at about
 * `rate` records/s, in batches of `batch` (one acks=all produce request each, so the
 * records of a batch share a CreateTime). Its own process keeps the pacing, and its
 * CPU, apart from the bench process that receives and times the records.
 */
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** Resolves with { sent, elapsedMs, avgBytes, achievedRate, behindMs, cpuUs } once every record is acknowledged. */
export function producePaced ({ brokers, topic, count, rate, batch = 10, seed = 7, bytes = 1024 }) {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--produce'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    let result
    child.on('message', (m) => { result = m })
    child.on('error', reject)
    child.on('exit', (code) => { if (code === 0 && result !== undefined) resolve(result); else reject(new Error(`producer exited with ${code}`)) })
    child.send({ brokers, topic, count, rate, batch, seed, bytes })
  })
}

if (process.argv[2] === '--produce') {
  process.once('message', async ({ brokers, topic, count, rate, batch, seed, bytes }) => {
    const { benchCluster } = await import('./kafka.js')
    const { PaddedOrders } = await import('./records.js')
    const cluster = benchCluster(brokers)
    const orders = new PaddedOrders(seed, bytes)
    // Build the records first: generating them must not eat into the pacing.
    const records = Array.from({ length: count }, () => orders.next())
    const avgBytes = records.reduce((n, r) => n + Buffer.byteLength(r.value), 0) / count
    await cluster.produce(topic, []).catch(() => {}) // connects the producer before the clock starts
    const cpu0 = process.cpuUsage()
    const t0 = Date.now()
    let behindMs = 0
    for (let sent = 0; sent < count; sent += batch) {
      const due = t0 + (sent / rate) * 1000
      const wait = due - Date.now()
      if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))
      else behindMs = Math.max(behindMs, -wait)
      await cluster.produce(topic, records.slice(sent, sent + batch))
    }
    const elapsedMs = Date.now() - t0
    const cpu = process.cpuUsage(cpu0)
    await cluster.close()
    process.send({ sent: count, elapsedMs, avgBytes, achievedRate: count / (elapsedMs / 1000), behindMs, cpuUs: cpu.user + cpu.system }, () => process.exit(0))
  })
}
