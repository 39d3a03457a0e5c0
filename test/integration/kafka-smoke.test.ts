/**
 * kafkajs 2.2.4 ↔ Kafka 4.x smoke test: the client operations the gateway relies on,
 * against the real broker. If Kafka drops an API version kafkajs needs, this fails first.
 */
import t from 'tap'
import kafkajs from 'kafkajs'
import { randomUUID } from 'node:crypto'
import { TEST_BROKERS, uniqueName } from '../helpers/kafka.js'

const { Kafka, logLevel } = kafkajs
const kafka = new Kafka({ clientId: 'smoke', brokers: TEST_BROKERS.split(','), logLevel: logLevel.NOTHING })
const admin = kafka.admin()
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: Number.MAX_SAFE_INTEGER } })
await admin.connect()
await producer.connect()
t.teardown(async () => {
  await producer.disconnect()
  await admin.disconnect()
})

const topic = uniqueName('smoke')
const compacted = uniqueName('smoke-compacted')

t.test('broker is Kafka 4 in KRaft mode and kafkajs can describe it', async t => {
  const cluster = await admin.describeCluster()
  t.ok(cluster.brokers.length >= 1)
  t.type(cluster.controller, 'number')
})

t.test('create topics, including a compacted one', async t => {
  const created = await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic, numPartitions: 2 },
      { topic: compacted, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }
    ]
  })
  t.equal(created, true)
  const configs = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: compacted, configNames: ['cleanup.policy'] }] })
  t.equal(configs.resources[0]?.configEntries[0]?.configValue, 'compact')
  const meta = await admin.fetchTopicMetadata({ topics: [topic] })
  t.equal(meta.topics[0]?.partitions.length, 2)
})

let midTimestamp = 0

t.test('produce with an idempotent producer', async t => {
  const first = await producer.send({ topic, acks: -1, messages: [0, 1, 2].map(i => ({ key: `k${i}`, value: `v${i}`, partition: 0, timestamp: String(Date.now() - 60000 + i) })) })
  t.equal(first[0]?.baseOffset, '0')
  midTimestamp = Date.now()
  const second = await producer.send({ topic, acks: -1, messages: [3, 4].map(i => ({ key: `k${i}`, value: `v${i}`, partition: 0, timestamp: String(midTimestamp + i) })) })
  t.equal(second[0]?.baseOffset, '3')
  await producer.send({ topic, messages: [{ key: 'p1', value: 'on partition 1', partition: 1 }] })
  const offsets = await admin.fetchTopicOffsets(topic)
  t.same(offsets.sort((a, b) => a.partition - b.partition).map(o => [o.partition, o.low, o.high]), [[0, '0', '5'], [1, '0', '1']])
})

t.test('offsets by timestamp', async t => {
  const byTime = await admin.fetchTopicOffsetsByTimestamp(topic, midTimestamp)
  t.equal(byTime.find(o => o.partition === 0)?.offset, '3', 'first record at or after the timestamp')
  const future = await admin.fetchTopicOffsetsByTimestamp(topic, Date.now() + 3600_000)
  t.ok(future.every(o => o.offset === '-1' || Number(o.offset) >= 0), 'no record after a future time')
})

t.test('consume in a group, then seek', async t => {
  const consumer = kafka.consumer({ groupId: `smoke-${randomUUID()}`, maxWaitTimeInMs: 200 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const seen: string[] = []
  let sought = false
  const done = new Promise<void>(resolve => {
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        if (partition !== 0) return
        seen.push(message.value?.toString() ?? '')
        if (seen.length === 5 && !sought) {
          sought = true
          consumer.seek({ topic, partition: 0, offset: '3' })
        } else if (seen.length === 7) resolve()
      }
    })
  })
  await done
  await consumer.disconnect()
  t.same(seen, ['v0', 'v1', 'v2', 'v3', 'v4', 'v3', 'v4'], 'group consumption in order, then re-read after seek(3)')
})

t.test('read a compacted topic to its end', async t => {
  await producer.send({ topic: compacted, acks: -1, messages: [
    { key: 'a', value: '1' }, { key: 'b', value: '1' }, { key: 'a', value: '2' }, { key: 'c', value: null }
  ] })
  const [{ high } = { high: '0' }] = await admin.fetchTopicOffsets(compacted)
  const end = Number(high)
  const consumer = kafka.consumer({ groupId: `smoke-${randomUUID()}`, maxWaitTimeInMs: 200 })
  await consumer.connect()
  await consumer.subscribe({ topic: compacted, fromBeginning: true })
  const state = new Map<string, string | null>()
  await new Promise<void>(resolve => {
    void consumer.run({
      eachMessage: async ({ message }) => {
        state.set(message.key?.toString() ?? '', message.value === null ? null : message.value.toString())
        if (Number(message.offset) + 1 >= end) resolve()
      }
    })
  })
  await consumer.disconnect()
  t.same(Object.fromEntries(state), { a: '2', b: '1', c: null }, 'latest value per key, tombstone as null')
})

t.test('delete the topics', async t => {
  await admin.deleteTopics({ topics: [topic, compacted] })
  const topics = await admin.listTopics()
  t.notOk(topics.includes(topic))
})
