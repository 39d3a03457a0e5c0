/**
 * SIGTERM during an open stream: readiness fails first, the stream ends cleanly,
 * the reader leaves its consumer group, and the process exits 0.
 */
import t from 'tap'
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { request } from 'undici'
import { adminClient, TEST_ADMIN_TOKEN, uniqueId } from '../helpers/gateway.js'
import { PartnerOrders } from '../helpers/records.js'
import { TEST_BROKERS, testKafka } from '../helpers/kafka.js'
import { policiesWithTopics } from '../helpers/policies.js'
import { spawnGateway } from '../helpers/process.js'
import { isStream, StreamClient } from '../helpers/stream-client.js'

const kafka = testKafka()
t.teardown(async () => { await kafka.close() })

t.test('SIGTERM ends open streams cleanly and exits 0', async t => {
  const topic = await kafka.createTopic('shutdown', 2)
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'streamshare-state-'))
  const gw = spawnGateway({
    STREAMSHARE_KAFKA_BROKERS: TEST_BROKERS,
    STREAMSHARE_HOST: '127.0.0.1',
    STREAMSHARE_PORT: '0',
    STREAMSHARE_ADMIN_PORT: '0',
    STREAMSHARE_POLICIES_DIR: await policiesWithTopics({ orders: topic }),
    STREAMSHARE_DEV_STATE_DIR: stateDir,
    STREAMSHARE_SHUTDOWN_DELAY_MS: '1500',
    STREAMSHARE_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    STREAMSHARE_LOG_LEVEL: 'info'
  })
  t.teardown(() => { gw.child.kill('SIGKILL') })
  const listening = await gw.waitForLog(l => l.msg === 'gateway listening')
  const partnerUrl = listening.partner as string
  const adminUrl = listening.admin as string
  const instance = listening.instance as string

  const admin = adminClient(adminUrl)
  await gw.waitForLog(l => l.msg === 'registry loaded')
  const partner = uniqueId('partner')
  t.equal((await admin('POST', '/admin/v1/partners', { id: partner, name: 'P', contact: 'p@example.com', attributes: { region: 'eu-west' } })).status, 201)
  const created = await admin('POST', '/admin/v1/shares', { partner, products: [{ product: 'orders', policy: 'partner-basic', access: ['read'] }] })
  t.equal(created.status, 201)
  const token = created.body.token.access_token as string
  const stream = await StreamClient.open(partnerUrl + '/v1/streams/orders', { token })
  if (!isStream(stream)) throw new Error(`no stream: ${stream.status}`)
  const order = new PartnerOrders(5).next()
  await kafka.produceRaw(topic, [{ key: order.key, value: JSON.stringify(order.value) }])
  await stream.waitFor(1)

  gw.child.kill('SIGTERM')
  // Readiness fails first, while the stream is still open (the shutdown delay).
  await gw.waitForLog(l => l.msg === 'shutting down')
  const ready = await request(adminUrl + '/readyz')
  t.equal(ready.statusCode, 503, 'not ready once shutting down')
  const body = await ready.body.json() as { code: string, checks: { lifecycle: { ok: boolean } } }
  t.equal(body.code, 'unavailable')
  t.equal(body.checks.lifecycle.ok, false)
  t.equal(stream.ended, false, 'streams are still open during the delay')

  await stream.waitEnd(15000)
  t.equal(stream.error, undefined, 'the stream ended cleanly (complete chunked response), not with a reset')
  const { code, signal } = await gw.exited
  t.equal(code, 0, 'exit code 0')
  t.equal(signal, null)
  const closed = gw.logs.find(l => l.msg === 'stream closed')
  t.equal(closed?.reason, 'shutdown')
  t.equal(closed?.delivered, 1)
  t.ok(gw.logs.some(l => l.msg === 'shut down'), 'shutdown completed')

  // The stream's private consumer group has no members left.
  const kafkaAdmin = kafka.cluster.client.admin()
  await kafkaAdmin.connect()
  t.teardown(async () => { await kafkaAdmin.disconnect() })
  // (An empty group without offsets may already be gone: then there is nothing to list.)
  const groups = (await kafkaAdmin.listGroups()).groups.filter(g => g.groupId.includes(`.${instance}.`))
  const described = groups.length === 0 ? [] : (await kafkaAdmin.describeGroups(groups.map(g => g.groupId))).groups
  t.same(described.filter(g => g.members.length > 0).map(g => g.groupId), [], 'no group of this instance has members left')
})
