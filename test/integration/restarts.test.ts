/**
 * "Nothing lost" across restarts (CONTRACT §5): (g) the gateway is killed mid-stream
 * and another instance takes over from the client's cursor; (h) the broker is
 * restarted under an open stream. (h) runs its own private broker, so the other
 * test files (sharing the main one) are not disturbed.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { KafkaCluster } from '../../src/kafka/cluster.js'
import { createLogger } from '../../src/observability/logger.js'
import { testKafka, uniqueName } from '../helpers/kafka.js'
import { policiesWithTopics, REPO_ROOT } from '../helpers/policies.js'
import { spawnGateway, spawnGatewayWithShare } from '../helpers/process.js'
import { startTestGateway } from '../helpers/gateway.js'
import { PartnerOrders } from '../helpers/records.js'
import { isStream, StreamClient, type WireMessage } from '../helpers/stream-client.js'

const run = promisify(execFile)
const orders = new PartnerOrders(61)

function offsets (messages: WireMessage[], partition: number): number[] {
  return messages.filter(m => m.data.type === 'record' && m.data.partition === partition).map(m => m.data.offset as number)
}

t.test('(g) the gateway is killed mid-stream; another instance resumes from the cursor with no loss', async t => {
  const kafka = testKafka()
  t.teardown(async () => { await kafka.close() })
  const topic = await kafka.createTopic('kill', 2)
  const { gw: first, partnerUrl, token, env } = await spawnGatewayWithShare({ STREAMSHARE_POLICIES_DIR: await policiesWithTopics({ orders: topic }) })
  t.teardown(() => { first.child.kill('SIGKILL') })

  const stream = await StreamClient.open(`${partnerUrl}/v1/streams/orders`, { token })
  if (!isStream(stream)) throw new Error('no stream')
  await kafka.produceRaw(topic, Array.from({ length: 60 }, (_, i) => orders.record(i % 2)))
  await stream.waitFor(60)
  first.child.kill('SIGKILL')
  await first.exited
  await stream.waitEnd(10000).catch(() => {})
  const cursor = stream.messages.at(-1)!.data.cursor as string

  await kafka.produceRaw(topic, Array.from({ length: 40 }, (_, i) => orders.record(i % 2)))
  // Same dev state (keys, gateway secret) and registry: instances of one deployment.
  const second = spawnGateway(env)
  t.teardown(() => { second.child.kill('SIGKILL') })
  const listening2 = await second.waitForLog(l => l.msg === 'gateway listening')
  await second.waitForLog(l => l.msg === 'registry loaded')
  const resumed = await StreamClient.open(`${listening2.partner as string}/v1/streams/orders?from=${encodeURIComponent(cursor)}`, { token })
  if (!isStream(resumed)) throw new Error(`no stream: ${resumed.status}`)
  t.teardown(() => { resumed.close() })
  await resumed.waitFor(40)
  const all = [...stream.messages, ...resumed.messages]
  for (const p of [0, 1]) t.same(offsets(all, p), Array.from({ length: 50 }, (_, i) => i), `partition ${p}: 0..49 exactly once, in order`)
})

t.test('(h) the broker restarts under an open stream: delivery pauses, then resumes without loss', async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'streamshare-broker-'))
  const brokerEnv = { ...process.env, STREAMSHARE_LOCAL_KAFKA_DIR: dir, STREAMSHARE_LOCAL_KAFKA_PORT: '29092', STREAMSHARE_LOCAL_KAFKA_CONTROLLER_PORT: '29093' }
  const script = (name: string): string => path.join(REPO_ROOT, 'deploy', 'kafka', name)
  const start = async (): Promise<void> => { await run(script('start.sh'), [], { env: brokerEnv, timeout: 120000 }) }
  const stop = async (): Promise<void> => { await run(script('stop.sh'), [], { env: brokerEnv, timeout: 60000 }) }
  await start()
  t.teardown(stop)
  const brokers = 'localhost:29092'
  const cluster = new KafkaCluster({ brokers: [brokers], clientId: 'restart-test', ssl: false, connectionTimeoutMs: 3000, requestTimeoutMs: 30000, metadataMaxAgeMs: 30000 }, createLogger('silent'), 'test')
  t.teardown(async () => { await cluster.close() })
  const topic = uniqueName('restart')
  await cluster.ensureTopics([{ topic, partitions: 2 }])
  const gw = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: topic }), env: { STREAMSHARE_KAFKA_BROKERS: brokers } })
  const { token } = await gw.share(['orders'])
  const stream = await StreamClient.open(`${gw.partnerUrl}/v1/streams/orders`, { token })
  if (!isStream(stream)) throw new Error('no stream')
  t.teardown(() => { stream.close() })

  await cluster.produce(topic, Array.from({ length: 30 }, (_, i) => ({ ...orders.record(i % 2) })))
  await stream.waitFor(30)
  await stop()
  await new Promise(resolve => setTimeout(resolve, 1000))
  await start()
  // The producer reconnects by itself too; retry until the broker takes writes again.
  for (let attempt = 0; ; attempt++) {
    try {
      await cluster.produce(topic, Array.from({ length: 30 }, (_, i) => ({ ...orders.record(i % 2) })))
      break
    } catch (err) {
      if (attempt > 30) throw err
      await new Promise(resolve => setTimeout(resolve, 1000))
    }
  }
  await stream.waitFor(60, 120000)
  t.equal(stream.ended, false, 'the stream stayed open across the restart')
  for (const p of [0, 1]) t.same(offsets(stream.messages, p), Array.from({ length: 30 }, (_, i) => i), `partition ${p}: 0..29 exactly once, in order`)
})
