/**
 * Policies change under open streams (Policies issue §2, §6): a valid new version
 * applies from the next record on, on the same connection, with a new
 * policy_version; an invalid one is rejected and the last good version stays.
 * And the admin preview, over HTTP and through the CLI.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { testKafka } from '../helpers/kafka.js'
import { policiesWithTopics, REPO_ROOT } from '../helpers/policies.js'
import { startTestGateway, TEST_ADMIN_TOKEN, type TestGateway } from '../helpers/gateway.js'
import { PartnerOrders } from '../helpers/records.js'
import { isStream, StreamClient } from '../helpers/stream-client.js'

const kafka = testKafka()
t.teardown(async () => { await kafka.close() })
const orders = new PartnerOrders(21)

async function waitForVersion (gw: TestGateway, previous: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const version = gw.ctx.catalog().version
    if (version !== previous) return version
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error('the catalog was not reloaded')
}

t.test('an edited policy applies to an open stream from the next record, without reconnecting', async t => {
  const topic = await kafka.createTopic('reload', 1)
  const dir = await policiesWithTopics({ orders: topic })
  const logs: string[] = []
  const gw = await startTestGateway(t, { policiesDir: dir, logs })
  const { token } = await gw.share(['orders'])
  const stream = await StreamClient.open(gw.partnerUrl + '/v1/streams/orders', { token })
  if (!isStream(stream)) throw new Error('no stream')
  t.teardown(() => { stream.close() })

  await kafka.produceRaw(topic, [orders.record()])
  const [before] = await stream.waitFor(1)
  t.equal(before!.data.value.channel, undefined, 'channel is not in partner-basic yet')

  const file = path.join(dir, 'products', 'orders.yaml')
  const original = await readFile(file, 'utf8')
  const catalogBefore = gw.ctx.catalog().version
  await writeFile(file, original.replace('      order_id: keep\n', '      order_id: keep\n      channel: keep\n'))
  await waitForVersion(gw, catalogBefore)

  await kafka.produceRaw(topic, [orders.record()])
  const [, after] = await stream.waitFor(2)
  t.equal(typeof after!.data.value.channel, 'string', 'the new field passes on the same connection')
  t.not(after!.data.policy_version, before!.data.policy_version, 'with a new policy_version')
  t.equal(stream.ended, false)

  // An invalid edit is rejected: the last good version stays in force.
  const good = gw.ctx.catalog().version
  await writeFile(file, original.replace('      order_id: keep\n', '      order_id: obliterate\n'))
  for (let i = 0; i < 50 && !logs.some(l => l.includes('policies not reloaded')); i++) await new Promise(resolve => setTimeout(resolve, 100))
  t.ok(logs.some(l => l.includes('policies not reloaded') && l.includes('unknown action')), 'the rejection is logged with the reason')
  t.equal(gw.ctx.catalog().version, good, 'last good version in force')
  await kafka.produceRaw(topic, [orders.record()])
  const [, , third] = await stream.waitFor(3)
  t.equal(third!.data.policy_version, after!.data.policy_version)
  t.equal(typeof third!.data.value.channel, 'string')
})

t.test('a product taken out and put back by reloads loses nothing: records read while it was gone are replayed', async t => {
  const topic = await kafka.createTopic('reload-gone', 1)
  const elsewhere = await kafka.createTopic('reload-elsewhere', 1)
  const dir = await policiesWithTopics({ orders: topic })
  const gw = await startTestGateway(t, { policiesDir: dir })
  const { token } = await gw.share(['orders'])
  const stream = await StreamClient.open(gw.partnerUrl + '/v1/streams/orders', { token })
  if (!isStream(stream)) throw new Error('no stream')
  await kafka.produceRaw(topic, [orders.record(), orders.record()])
  const seen = await stream.waitFor(2)
  const cursor = seen[1]!.data.cursor as string
  stream.close()

  // The product moves to another topic (as good as gone for this tap), records arrive
  // on its old topic meanwhile, then it comes back.
  const file = path.join(dir, 'products', 'orders.yaml')
  const original = await readFile(file, 'utf8')
  let version = gw.ctx.catalog().version
  await writeFile(file, original.replace(`topic: ${topic}`, `topic: ${elsewhere}`))
  version = await waitForVersion(gw, version)
  const whileGone = [orders.record(), orders.record(), orders.record()]
  await kafka.produceRaw(topic, whileGone)
  await new Promise(resolve => setTimeout(resolve, 1500)) // the tap fetches them
  await writeFile(file, original)
  await waitForVersion(gw, version)

  const resumed = await StreamClient.open(`${gw.partnerUrl}/v1/streams/orders?from=${encodeURIComponent(cursor)}`, { token })
  if (!isStream(resumed)) throw new Error('no resumed stream')
  t.teardown(() => { resumed.close() })
  const got = await resumed.waitFor(3, 15000)
  t.same(got.map(m => m.data.offset), [2, 3, 4], 'the records produced while the product was gone, none skipped')
  t.same(got.map(m => m.data.key), whileGone.map(r => r.key))
})

t.test('reload() (what SIGHUP does) applies a new version; a share PATCH to another policy too', async t => {
  const topic = await kafka.createTopic('reload-hup', 1)
  const dir = await policiesWithTopics({ orders: topic })
  const gw = await startTestGateway(t, { policiesDir: dir, env: { STREAMSHARE_POLICIES_WATCH: 'false' } })
  const { token, shareId } = await gw.share(['orders'])
  const stream = await StreamClient.open(gw.partnerUrl + '/v1/streams/orders', { token })
  if (!isStream(stream)) throw new Error('no stream')
  t.teardown(() => { stream.close() })
  const file = path.join(dir, 'products', 'orders.yaml')
  await writeFile(file, (await readFile(file, 'utf8')).replace('      currency: keep\n', ''))
  const result = await gw.reload()
  t.equal(result.policies, 'reloaded')
  await kafka.produceRaw(topic, [orders.record()])
  const [m1] = await stream.waitFor(1)
  t.equal(m1!.data.value.currency, undefined, 'currency withheld after the reload')

  const patched = await gw.adminApi('PATCH', `/admin/v1/shares/${shareId}`, { products: [{ product: 'orders', policy: 'analytics-internal', access: ['read'] }] })
  t.equal(patched.status, 200)
  await kafka.produceRaw(topic, [orders.record()])
  const [, m2] = await stream.waitFor(2)
  t.equal(typeof m2!.data.value.currency, 'string', 'the share now sees analytics-internal')
  t.equal(m2!.data.value.customer.email, undefined)
  t.not(m2!.data.policy_version, m1!.data.policy_version)
})

t.test('policy preview: HTTP and CLI', async t => {
  const topic = await kafka.createTopic('preview', 1)
  const gw = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: topic }) })
  const partner = 'preview-partner-' + Date.now().toString(36)
  await gw.adminApi('POST', '/admin/v1/partners', { id: partner, name: 'P', contact: 'p@example.com', attributes: { region: 'eu-west' } })
  const record = orders.next().value
  const ok = await gw.adminApi('POST', '/admin/v1/policies/preview', { product: 'orders', policy: 'partner-basic', record, partner })
  t.equal(ok.status, 200)
  t.equal(ok.body.delivered, true)
  t.equal(ok.body.output.value.order_id, record.order_id)
  t.equal(ok.body.output.value.customer.email, undefined)
  const filtered = await gw.adminApi('POST', '/admin/v1/policies/preview', { product: 'orders', policy: 'partner-basic', record: { ...record, status: 'test' }, partner })
  t.same(filtered.body, { delivered: false, reason: 'filtered' })
  const noPartner = await gw.adminApi('POST', '/admin/v1/policies/preview', { product: 'orders', policy: 'partner-basic', record })
  t.equal(noPartner.body.delivered, false, 'without partner attributes the region filter cannot pass')
  const unknown = await gw.adminApi('POST', '/admin/v1/policies/preview', { product: 'orders', policy: 'nope', record })
  t.equal(unknown.status, 400)

  const cli = await new Promise<{ code: number, stdout: string }>((resolve) => {
    const child = execFile(process.execPath, [path.join(REPO_ROOT, 'dist', 'cli', 'main.js'), 'policy', 'preview', '--product', 'orders', '--policy', 'partner-basic', '--partner', partner],
      { env: { PATH: process.env.PATH ?? '', STREAMSHARE_ADMIN_TOKEN: TEST_ADMIN_TOKEN, STREAMSHARE_ADMIN_URL: gw.adminUrl } },
      (err, stdout) => { resolve({ code: err === null ? 0 : (err as { code: number }).code, stdout }) })
    child.stdin?.end(JSON.stringify(record))
  })
  t.equal(cli.code, 0)
  t.same(JSON.parse(cli.stdout), ok.body, 'the CLI shows what the API shows')
})
