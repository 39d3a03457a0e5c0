/**
 * Kafka side of the benchmarks: bench topics, producing records, and the baseline
 * reader (a plain kafkajs consumer, as a partner with direct Kafka access would run it).
 */
import { randomBytes } from 'node:crypto'
import kafkajs from 'kafkajs'
import { KafkaCluster } from '../../dist/kafka/cluster.js'
import { createLogger } from '../../dist/observability/logger.js'
import { withTimeout } from './util.js'

/**
 * Same consumer settings as the gateway's TopicReader (src/kafka/reader.ts), so a
 * comparison is about what the gateway adds, not about consumer tuning.
 */
export const CONSUMER_OPTIONS = { sessionTimeout: 30000, heartbeatInterval: 3000, maxWaitTimeInMs: 1000, allowAutoTopicCreation: false }

/** The streamshare admin/producer client (idempotent producer, acks=all), silent. */
export function benchCluster (brokers) {
  return new KafkaCluster({ brokers: brokers.split(','), clientId: 'streamshare-bench', ssl: false, connectionTimeoutMs: 3000, requestTimeoutMs: 30000 }, createLogger('silent'), '')
}

/** A unique topic name for one benchmark run. */
export const benchTopic = (name) => `bench.${name}.${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`

/** Produces `count` records from `next()` in batches; returns the average value size in bytes. */
export async function produceAll (cluster, topic, count, next, batchSize = 500) {
  let bytes = 0
  for (let sent = 0; sent < count; sent += batchSize) {
    const batch = []
    for (let i = sent; i < Math.min(count, sent + batchSize); i++) {
      const r = next()
      bytes += Buffer.byteLength(r.value)
      batch.push(r)
    }
    await cluster.produce(topic, batch)
  }
  return bytes / count
}

/** Deletes the bench topics and consumer groups, then closes the cluster client. */
export async function cleanUp (cluster, { topics = [], groups = [], log = () => {} }) {
  const admin = cluster.client.admin()
  try {
    await admin.connect()
    if (topics.length > 0) {
      await admin.deleteTopics({ topics, timeout: 30000 })
      log(`  deleted topic ${topics.join(', ')}`)
    }
    if (groups.length > 0) await admin.deleteGroups(groups).catch(() => {})
  } catch (err) {
    log(`  could not delete topic ${topics.join(', ')}: ${err.message}`)
  } finally {
    await admin.disconnect()
    await cluster.close()
  }
}

/**
 * Baseline reader: fresh consumer group, `fromBeginning`, `eachBatch`, JSON.parse of
 * every value, until `total` records. Timed from creating the consumer (group join
 * included) to the last record parsed. `groups` collects group ids for clean-up.
 */
export async function readWithKafkajs (brokers, topic, total, groups, timeoutMs = 120_000) {
  const groupId = `streamshare-bench.baseline.${randomBytes(6).toString('hex')}`
  groups.push(groupId)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const kafka = new kafkajs.Kafka({ clientId: 'streamshare-bench-baseline', brokers: brokers.split(','), logLevel: kafkajs.logLevel.NOTHING })
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
  let elapsed
  let cpu
  try {
    elapsed = await withTimeout(done, () => `kafkajs read of ${total} records (got ${count})`, timeoutMs)
    cpu = process.cpuUsage(cpu0)
  } finally {
    await consumer.disconnect()
  }
  if (!(checksum > 0)) throw new Error('baseline parsed nothing')
  const cpuUs = cpu.user + cpu.system
  return { rate: total / (elapsed / 1000), elapsedMs: elapsed, firstMs, cpuUsPerRecord: cpuUs / total }
}

/**
 * A kafkajs consumer with the tap's fetch settings reading `topic` from the beginning,
 * without commits: the reference side of the latency benchmarks. `onMessage(message,
 * now)` sees every record with the time its batch arrived. Returns the consumer at
 * once (so the caller can always disconnect it) and `firstFetch`, which resolves after
 * the consumer's first fetch (it has joined and is reading) or rejects after 60 s.
 */
export function startReferenceConsumer ({ brokers, clientId, groupId, topic, maxWaitMs, onMessage }) {
  const kafka = new kafkajs.Kafka({ clientId, brokers: brokers.split(','), logLevel: kafkajs.logLevel.NOTHING })
  const consumer = kafka.consumer({ groupId, ...CONSUMER_OPTIONS, maxWaitTimeInMs: maxWaitMs })
  const fetching = new Promise(resolve => { consumer.on(consumer.events.FETCH, resolve) })
  const firstFetch = (async () => {
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const now = Date.now()
        for (const m of batch.messages) onMessage(m, now)
      }
    })
    await withTimeout(fetching, `${clientId}: first fetch`, 60_000)
  })()
  return { consumer, firstFetch }
}
