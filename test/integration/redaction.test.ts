/**
 * "Nothing leaked" (CONTRACT §5) end to end: canary values in every field the
 * policy withholds or transforms travel through a real topic and a real SSE stream;
 * none of them appears in the bytes received, in the logs or in error bodies.
 */
import t, { type Test } from 'tap'
import { request } from 'undici'
import { testKafka } from '../helpers/kafka.js'
import { policiesWithTopics } from '../helpers/policies.js'
import { startTestGateway } from '../helpers/gateway.js'
import { isStream, StreamClient } from '../helpers/stream-client.js'

const CANARY = {
  customerId: 'cust-canary-0b7e1f',
  name: 'Canary Kowalczyk-Zq',
  email: 'canary.e9d1@leak.example',
  phone: '+48 600 CANARY 9731',
  street: 'Canarystraat 771',
  shippingName: 'Ship Canary Qx',
  postcode: 'CANARY-9Z',
  card: '7319',
  createdAt: '2026-11-25T13:37:42.123Z',
  sku: 'SKU-CANARY-NAME',
  itemName: 'Canary item title',
  futureField: 'future-canary-5c2a',
  header: 'secret-header-canary'
}

const order = {
  order_id: 'o-424242',
  status: 'confirmed',
  created_at: CANARY.createdAt,
  region: 'eu-west',
  channel: 'web',
  customer: { id: CANARY.customerId, name: CANARY.name, email: CANARY.email, phone: CANARY.phone, loyalty_tier: 'gold' },
  shipping: { name: CANARY.shippingName, street: CANARY.street, city: 'Gdańsk', postcode: CANARY.postcode, country: 'PL' },
  items: [{ sku: 'SKU-1001', name: CANARY.itemName, quantity: 2, unit_price: 10 }],
  total: 20,
  currency: 'EUR',
  payment: { method: 'card', card_last4: CANARY.card },
  // A field that appeared upstream after the policy was written (allow mode: never leaves).
  loyalty_notes: CANARY.futureField
}

/** Values that must never appear: everything withheld, and the raw form of everything transformed. */
const FORBIDDEN_VALUES = [CANARY.customerId, CANARY.name, CANARY.email, CANARY.phone, CANARY.street, CANARY.shippingName, CANARY.postcode,
  CANARY.createdAt, CANARY.itemName, CANARY.futureField, CANARY.header]
/** What a partner must not even learn exists (admins know the schema; partners do not). */
const FORBIDDEN_NAMES = ['loyalty_notes', 'card_last4', 'email', 'x-internal']

const kafka = testKafka()
t.teardown(async () => { await kafka.close() })
const topic = await kafka.createTopic('redaction', 1)
const logs: string[] = []
const gw = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: topic }), logs })

function assertClean (t: Test, text: string, where: string, forbidden = FORBIDDEN_VALUES): void {
  for (const value of forbidden) t.notOk(text.includes(value), `${where}: no "${value}"`)
}

t.test('partner-basic over SSE: every redacted field stays home', async t => {
  const { token, shareId } = await gw.share(['orders'])
  const stream = await StreamClient.open(gw.partnerUrl + '/v1/streams/orders', { token, format: 'sse' })
  if (!isStream(stream)) throw new Error('no stream')
  t.teardown(() => { stream.close() })
  await kafka.produceRaw(topic, [
    { key: order.order_id, value: JSON.stringify(order), headers: { traceparent: '00-aaaa-bbbb-01', 'x-internal': CANARY.header } },
    // Fails the schema (email must be a string): withheld, announced as skipped, no data.
    { key: 'o-1', value: JSON.stringify({ ...order, customer: { ...order.customer, email: 42 }, shipping: { street: CANARY.street } }) },
    // Not JSON at all, with a canary inside.
    { key: 'o-2', value: `{"broken": "${CANARY.email}"` }
  ])
  const [record, skipped1, skipped2] = await stream.waitFor(3)
  const v = record!.data.value
  t.equal(record!.data.type, 'record')
  t.equal(v.order_id, 'o-424242')
  t.equal(v.created_at, '2026-11-25T00:00:00.000Z', 'generalized to the day')
  t.match(v.customer.id, /^[A-Za-z0-9_-]{43}$/, 'hashed (base64url HMAC-SHA-256)')
  t.equal(v.customer.phone.slice(-4), '9731', 'masked, last 4 kept')
  t.notOk(/[0-9]/.test(v.customer.phone.slice(0, -4)), 'the rest masked')
  t.equal(v.shipping.postcode, 'CAN', 'truncated to 3')
  t.same(Object.keys(v.customer).sort(), ['id', 'phone'])
  t.same(v.items, [{ sku: 'SKU-1001', quantity: 2 }])
  t.same(record!.data.headers, { traceparent: '00-aaaa-bbbb-01' }, 'only allow-listed headers')
  t.equal(skipped1!.data.type, 'skipped')
  t.equal(skipped2!.data.type, 'skipped')
  assertClean(t, stream.raw, 'stream bytes', [...FORBIDDEN_VALUES, ...FORBIDDEN_NAMES])

  // Error bodies: the preview of a schema-invalid record names paths, not values.
  const preview = await gw.adminApi('POST', '/admin/v1/policies/preview', { product: 'orders', policy: 'partner-basic', record: { ...order, customer: { ...order.customer, email: 42 } } })
  t.equal(preview.status, 200)
  t.equal(preview.body.delivered, false)
  t.equal(preview.body.reason, 'schema')
  assertClean(t, JSON.stringify(preview.body), 'preview error (paths only, for the admin)')
  const badCursor = await request(gw.partnerUrl + `/v1/streams/orders?from=${encodeURIComponent(CANARY.email)}`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(badCursor.statusCode, 400)
  assertClean(t, await badCursor.body.text(), 'cursor error body')

  // The audit of the session.
  stream.close()
  let audit = ''
  for (let i = 0; i < 50 && !audit.includes('"close"'); i++) {
    audit = JSON.stringify((await gw.adminApi('GET', `/admin/v1/audit?share=${shareId}`)).body)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  t.match(audit, /"close"/)
  assertClean(t, audit, 'audit')
})

t.test('deny mode (analytics-internal): dropped identifiers never appear', async t => {
  const { token } = await gw.share([{ product: 'orders', policy: 'analytics-internal' }])
  const stream = await StreamClient.open(gw.partnerUrl + '/v1/streams/orders?from=earliest', { token })
  if (!isStream(stream)) throw new Error('no stream')
  t.teardown(() => { stream.close() })
  const [first] = await stream.waitFor(1)
  const v = first!.data.value
  t.equal(v.customer.loyalty_tier, 'gold', 'fields not listed pass in deny mode')
  t.equal(v.loyalty_notes, CANARY.futureField, 'deny mode passes unknown fields: that is what deny means')
  for (const value of [CANARY.name, CANARY.email, CANARY.phone, CANARY.street, CANARY.shippingName, CANARY.card, CANARY.customerId]) {
    t.notOk(JSON.stringify(first!.data).includes(value), `no "${value}"`)
  }
})

t.test('the logs never contain a redacted value', async t => {
  // Everything logged so far, at debug level, by the gateway and its Kafka clients.
  t.ok(logs.length > 10, `${logs.length} log lines captured`)
  assertClean(t, logs.join(''), 'logs')
})
