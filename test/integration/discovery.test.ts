/**
 * Discovery and operability over real HTTP (Discovery issue): the share's catalog,
 * /v1/share, the AsyncAPI document (validated against the official AsyncAPI 3 JSON
 * Schema), both OpenAPI 3.1 documents, and Prometheus metrics during a real stream.
 */
import t, { type Test } from 'tap'
import { request } from 'undici'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'
import specs from '@asyncapi/specs'
import { Validator } from '@seriousme/openapi-schema-validator'
import { testKafka } from '../helpers/kafka.js'
import { policiesWithTopics } from '../helpers/policies.js'
import { startTestGateway, TEST_ADMIN_TOKEN } from '../helpers/gateway.js'
import { PartnerOrders } from '../helpers/records.js'
import { isStream, StreamClient } from '../helpers/stream-client.js'

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default
const kafka = testKafka()
t.teardown(async () => { await kafka.close() })
const ordersTopic = await kafka.createTopic('discovery', 1)
const returnsTopic = await kafka.createTopic('discovery-returns', 1)
const gw = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: ordersTopic, returns: returnsTopic }) })
const share = await gw.share(['orders', { product: 'returns', policy: 'own-returns', access: ['read', 'write'] }], { quota: { max_connections: 7, requests_per_minute: 1000 }, history: 'P7D' })

/** Names partner-basic withholds from orders: they must appear nowhere a partner can read. */
const WITHHELD = ['email', 'street', 'card_last4', 'payment', 'loyalty_tier', 'unit_price']

async function get (path: string, token = share.token): Promise<{ status: number, body: any, text: string }> {
  const res = await request(gw.partnerUrl + path, { headers: { authorization: `Bearer ${token}` } })
  const text = await res.body.text()
  return { status: res.statusCode, text, body: text === '' ? undefined : JSON.parse(text) }
}

function assertNoWithheld (t: Test, text: string, where: string): void {
  for (const name of WITHHELD) t.notOk(new RegExp(`\\b${name}\\b`).test(text), `${where}: "${name}" is not named`)
}

t.test('GET /v1/catalog and /v1/catalog/{product}: output schemas, access, policy version, quota, history', async t => {
  const catalog = await get('/v1/catalog')
  t.equal(catalog.status, 200)
  t.equal(catalog.body.share, share.shareId)
  t.same(catalog.body.products.map((p: { name: string }) => p.name).sort(), ['orders', 'returns'])
  const orders = catalog.body.products.find((p: { name: string }) => p.name === 'orders')
  t.match(orders, { access: ['read'], policy: 'partner-basic', policy_version: /^[0-9a-f]{12}$/, quota: { max_connections: 7 }, history: 'P7D', owner: 'sales-domain-team' })
  t.ok(orders.schema.properties.order_id, 'the output schema has what the partner receives')
  t.equal(orders.write_schema, undefined, 'no write schema without write access')
  const returns = catalog.body.products.find((p: { name: string }) => p.name === 'returns')
  t.same(returns.access, ['read', 'write'])
  t.ok(returns.write_schema.properties.return_id)
  assertNoWithheld(t, catalog.text, 'catalog')
  const one = await get('/v1/catalog/orders')
  t.same(one.body, orders)
  const outside = await get('/v1/catalog/shipments')
  t.equal(outside.status, 404)
  t.equal(outside.body.code, 'product_unknown')
})

t.test('a product description that names a withheld field is left out of the catalog and AsyncAPI', async t => {
  const dir = await policiesWithTopics({ orders: ordersTopic, returns: returnsTopic })
  const file = path.join(dir, 'products', 'orders.yaml')
  const yaml = await readFile(file, 'utf8')
  await writeFile(file, yaml.replace(/^description: .*$/m, 'description: Confirmed orders with the customer email and payment details.'))
  const g = await startTestGateway(t, { policiesDir: dir })
  const { token } = await g.share(['orders'])
  const res = await request(g.partnerUrl + '/v1/catalog/orders', { headers: { authorization: `Bearer ${token}` } })
  const text = await res.body.text()
  t.equal(res.statusCode, 200)
  t.equal(JSON.parse(text).description, '', 'the description is withheld')
  assertNoWithheld(t, text, 'catalog')
  const asyncapi = await request(g.partnerUrl + '/v1/asyncapi.json', { headers: { authorization: `Bearer ${token}` } })
  assertNoWithheld(t, await asyncapi.body.text(), 'AsyncAPI')
})

t.test('GET /v1/share: status, expiry, quota and live usage', async t => {
  const stream = await StreamClient.open(gw.partnerUrl + '/v1/streams/orders', { token: share.token })
  t.teardown(() => { if (isStream(stream)) stream.close() })
  const res = await get('/v1/share')
  t.equal(res.status, 200)
  t.match(res.body, { id: share.shareId, partner: share.partnerId, status: 'active', quota: { max_connections: 7 }, history: 'P7D', usage: { connections: 1 } })
  t.same(res.body.products.map((p: { product: string }) => p.product).sort(), ['orders', 'returns'])
})

t.test('GET /v1/asyncapi.json validates against the AsyncAPI 3 schema and names nothing withheld', async t => {
  const res = await get('/v1/asyncapi.json')
  t.equal(res.status, 200)
  const ajv = new Ajv({ meta: false, strict: false, allErrors: true })
  addFormats(ajv)
  const validate = ajv.compile(specs.schemas['3.0.0'] as object)
  t.ok(validate(res.body), JSON.stringify(validate.errors?.slice(0, 3)))
  t.equal(res.body.asyncapi, '3.0.0')
  t.ok(Object.keys(res.body.channels).length >= 8, 'channels for each product and transport')
  assertNoWithheld(t, res.text, 'AsyncAPI')
  t.match(res.text, /order_id/)
})

t.test('both OpenAPI documents are valid OpenAPI 3.1, and every operation has its schemas', async t => {
  const partner = await get('/v1/openapi.json')
  const admin = await request(gw.adminUrl + '/admin/v1/openapi.json', { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })
  const adminDoc = await admin.body.json() as Record<string, any>
  for (const [name, doc] of [['partner', partner.body], ['admin', adminDoc]] as const) {
    t.equal(doc.openapi, '3.1.0', `${name}: 3.1`)
    const validator = new Validator()
    const result = await validator.validate(doc)
    t.ok(result.valid, `${name}: valid OpenAPI 3.1 ${JSON.stringify(result.errors ?? '').slice(0, 400)}`)
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(item)) {
        if (typeof op !== 'object' || op === null || !('responses' in op)) continue
        const codes = Object.keys(op.responses)
        t.ok(codes.some(c => /^(1|2)\d\d$/.test(c)), `${name} ${method.toUpperCase()} ${path}: a success response`)
        for (const code of codes) {
          const r = op.responses[code]
          t.ok(r.content !== undefined || code === '204' || code === '101', `${name} ${method.toUpperCase()} ${path} ${code}: has a schema`)
        }
        if (['post', 'patch', 'put'].includes(method) && !path.endsWith('/revoke') && !path.endsWith('/tokens') && !path.endsWith('/tickets')) {
          t.ok(op.requestBody !== undefined, `${name} ${method.toUpperCase()} ${path}: a request body schema`)
        }
      }
    }
  }
  t.ok(partner.body.paths['/v1/streams/{product}']?.get, 'the stream route is documented')
  t.ok(adminDoc.paths['/admin/v1/shares']?.post, 'the admin routes are documented')
  t.ok(partner.body.components.schemas.Problem ?? Object.values(partner.body.components.schemas).some((s: any) => s.description?.includes('RFC 9457')), 'problem+json is documented')
})

t.test('metrics move during a real stream and contain no record data or token', async t => {
  const metrics = async (): Promise<string> => await (await request(gw.adminUrl + '/metrics')).body.text()
  const value = (text: string, name: string, labels: Record<string, string>): number => {
    const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
    const line = text.split('\n').find(l => l.startsWith(name + '{') && want.every(w => l.includes(w)))
    return line === undefined ? 0 : Number(line.split(' ').pop())
  }
  const before = await metrics()
  const stream = await StreamClient.open(gw.partnerUrl + '/v1/streams/orders', { token: share.token })
  if (!isStream(stream)) throw new Error('no stream')
  t.teardown(() => { stream.close() })
  const orders = new PartnerOrders(91)
  const canary = orders.next()
  canary.value.customer.email = 'metrics-canary@leak.example'
  await kafka.produceRaw(ordersTopic, [{ key: canary.key, value: JSON.stringify(canary.value) }, ...Array.from({ length: 4 }, () => orders.record(0))])
  await stream.waitFor(5)
  await request(gw.partnerUrl + '/v1/streams/orders', { headers: { authorization: 'Bearer nope' } }).then(async r => { await r.body.dump() })
  const after = await metrics()
  const labels = { share: share.shareId, product: 'orders', transport: 'ndjson' }
  t.equal(value(after, 'streamshare_delivered_messages_total', labels) - value(before, 'streamshare_delivered_messages_total', labels), 5, 'delivered messages counted')
  t.ok(value(after, 'streamshare_delivered_bytes_total', labels) > 0)
  t.equal(value(after, 'streamshare_open_streams', { share: share.shareId, transport: 'ndjson' }), 1, 'open streams by transport')
  t.ok(value(after, 'streamshare_delivery_latency_seconds_count', { transport: 'ndjson' }) >= 5, 'latency histogram')
  t.ok(value(after, 'streamshare_refused_requests_total', { code: 'token_invalid' }) >= 1, 'auth failures')
  t.match(after, /streamshare_process_cpu_seconds_total/, 'process defaults')
  t.notMatch(after, /metrics-canary/, 'no record data')
  t.notMatch(after, /eyJ[A-Za-z0-9_-]{10,}/, 'no token')
  t.notMatch(after, /cursor/, 'no cursor label')
})
