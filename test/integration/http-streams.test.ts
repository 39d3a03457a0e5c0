/**
 * The first end-to-end path against the real broker: SSE and NDJSON streams,
 * authentication, scopes, errors, cursors.
 */
import t from 'tap'
import net from 'node:net'
import { request } from 'undici'
import { SignJWT, generateKeyPair } from 'jose'
import { testKafka } from '../helpers/kafka.js'
import { policiesWithTopics } from '../helpers/policies.js'
import { startTestGateway } from '../helpers/gateway.js'
import { isStream, StreamClient } from '../helpers/stream-client.js'
import { DemoDataGenerator } from '../../src/dev/demo-data.js'
import { PartnerOrders } from '../helpers/records.js'

const kafka = testKafka()
t.teardown(async () => { await kafka.close() })

const ordersTopic = await kafka.createTopic('orders', 3)
const shipmentsTopic = await kafka.createTopic('shipments', 2)
const policiesDir = await policiesWithTopics({ orders: ordersTopic, shipments: shipmentsTopic })
const gw = await startTestGateway(t, { policiesDir })
const demo = new DemoDataGenerator(7)
const orders = new PartnerOrders(7)
const mainShare = await gw.share(['orders', 'shipments'])
const readOrders = mainShare.token

async function openOk (path: string, options: Parameters<typeof StreamClient.open>[1]): Promise<StreamClient> {
  const s = await StreamClient.open(gw.partnerUrl + path, options)
  if (!isStream(s)) throw new Error(`expected a stream, got ${s.status}: ${JSON.stringify(s.problem)}`)
  t.teardown(() => { s.close() })
  return s
}

t.test('NDJSON client receives records produced after it connected, in the contract envelope', async t => {
  const stream = await openOk('/v1/streams/orders', { token: readOrders, format: 'ndjson' })
  t.equal(stream.status, 200)
  t.match(stream.headers['content-type'], /^application\/x-ndjson/)
  t.equal(stream.headers['cache-control'], 'no-cache, no-store')
  const produced = [orders.next(), orders.next(), orders.next()]
  await kafka.produceRaw(ordersTopic, produced.map(o => ({ key: o.key, value: JSON.stringify(o.value), partition: 1 })))
  const got = await stream.waitFor(3)
  t.same(got.map(m => m.data.key), produced.map(o => o.key), 'in offset order')
  const first = got[0]!.data
  t.same(Object.keys(first).sort(), ['cursor', 'headers', 'key', 'offset', 'partition', 'policy_version', 'product', 'timestamp', 'type', 'value'])
  t.equal(first.type, 'record')
  t.equal(first.product, 'orders')
  t.equal(first.partition, 1)
  t.equal(typeof first.offset, 'number')
  t.match(first.timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
  t.equal(first.value.order_id, produced[0]!.value.order_id)
  t.same(first.headers, {}, 'no Kafka headers unless a policy allows them')
  t.match(first.cursor, /^[A-Za-z0-9_-]+$/)
  t.equal(got[1]!.data.offset, first.offset + 1)
})

t.test('SSE client receives records with id: <cursor> and event: record', async t => {
  const stream = await openOk('/v1/streams/shipments', { token: readOrders, format: 'sse' })
  t.match(stream.headers['content-type'], /^text\/event-stream/)
  t.equal(stream.headers['x-accel-buffering'], 'no')
  demo.order()
  const shipment = demo.shipment()!
  await kafka.produceRaw(shipmentsTopic, [{ key: shipment.key, value: JSON.stringify(shipment.value) }])
  const [msg] = await stream.waitFor(1)
  t.equal(msg!.event, 'record')
  t.equal(msg!.id, msg!.data.cursor, 'SSE id is the resume cursor')
  t.equal(msg!.data.value.shipment_id, shipment.value.shipment_id)
  t.equal(stream.retry, 3000, 'retry: is set')
})

t.test('format from ?format= and from Accept; unacceptable Accept is 406', async t => {
  const sse = await openOk('/v1/streams/orders?format=sse', { token: readOrders })
  t.equal(sse.format, 'sse')
  sse.close()
  const plain = await openOk('/v1/streams/orders', { token: readOrders })
  t.equal(plain.format, 'ndjson', 'no Accept → NDJSON')
  plain.close()
  const res = await StreamClient.open(gw.partnerUrl + '/v1/streams/orders', { token: readOrders, headers: { accept: 'text/html' } })
  t.notOk(isStream(res))
  if (!isStream(res)) {
    t.equal(res.status, 406)
    t.equal(res.problem.code, 'not_acceptable')
  }
})

t.test('from=earliest replays what is already there; a cursor resumes exactly after it', async t => {
  const topicRecords = [orders.next(), orders.next(), orders.next(), orders.next()]
  const topic = await kafka.createTopic('resume', 1)
  const dir = await policiesWithTopics({ orders: topic })
  const g2 = await startTestGateway(t, { policiesDir: dir })
  const { token } = await g2.share(['orders'])
  await kafka.produceRaw(topic, topicRecords.map(o => ({ key: o.key, value: JSON.stringify(o.value) })))
  const s1 = await StreamClient.open(g2.partnerUrl + '/v1/streams/orders?from=earliest', { token })
  if (!isStream(s1)) throw new Error('no stream')
  const firstTwo = await s1.waitFor(2)
  s1.close()
  t.same(firstTwo.map(m => m.data.offset), [0, 1])
  const cursor = firstTwo[1]!.data.cursor as string
  const s2 = await StreamClient.open(g2.partnerUrl + `/v1/streams/orders?from=${cursor}`, { token })
  if (!isStream(s2)) throw new Error('no stream')
  t.teardown(() => { s2.close() })
  const rest = await s2.waitFor(2)
  t.same(rest.map(m => m.data.offset), [2, 3], 'resumes right after the cursor: no gap, no duplicate')
  t.same(rest.map(m => m.data.key), topicRecords.slice(2).map(r => r.key))

  // SSE: Last-Event-ID wins over from.
  const s3 = await StreamClient.open(g2.partnerUrl + '/v1/streams/orders?from=earliest', { token, format: 'sse', headers: { 'last-event-id': firstTwo[0]!.data.cursor } })
  if (!isStream(s3)) throw new Error('no stream')
  t.teardown(() => { s3.close() })
  const fromId = await s3.waitFor(1)
  t.equal(fromId[0]!.data.offset, 1, 'Last-Event-ID resumes after that event')
})

t.test('a record that fails the product schema is withheld and announced as skipped', async t => {
  const stream = await openOk('/v1/streams/orders', { token: readOrders })
  const good = orders.next()
  await kafka.produceRaw(ordersTopic, [
    { key: 'bad-1', value: '{not json', partition: 0 },
    { key: 'bad-2', value: JSON.stringify({ order_id: 'nope' }), partition: 0 },
    { key: good.key, value: JSON.stringify(good.value), partition: 0 }
  ])
  const got = await stream.waitFor(3)
  t.same(got.map(m => m.data.type), ['skipped', 'skipped', 'record'])
  t.same(Object.keys(got[0]!.data).sort(), ['cursor', 'offset', 'partition', 'reason', 'type'])
  t.equal(got[0]!.data.reason, 'schema')
  t.notMatch(JSON.stringify(got[1]!.data), /nope/, 'the withheld value is not echoed')
  t.equal(got[2]!.data.key, good.key)
})

t.test('no token → 401 token_missing with WWW-Authenticate', async t => {
  const res = await request(gw.partnerUrl + '/v1/streams/orders')
  t.equal(res.statusCode, 401)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  t.match(res.headers['www-authenticate'], /^Bearer .*error="invalid_token"/)
  const body = await res.body.json() as Record<string, unknown>
  t.same(Object.keys(body).sort(), ['code', 'detail', 'status', 'title', 'type'])
  t.equal(body.code, 'token_missing')
  t.equal(body.status, 401)
})

t.test('bad signature → 401 token_invalid', async t => {
  const [header, payload] = readOrders.split('.')
  const { privateKey } = await generateKeyPair('ES256')
  // Same header (our kid) and claims, signed by a key that is not ours.
  const forged = await new SignJWT(JSON.parse(Buffer.from(payload!, 'base64url').toString()))
    .setProtectedHeader(JSON.parse(Buffer.from(header!, 'base64url').toString()))
    .sign(privateKey)
  for (const token of [forged, `${header}.${payload}.AAAA`, 'not-a-jwt', readOrders.slice(0, -2)]) {
    const res = await request(gw.partnerUrl + '/v1/streams/orders', { headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 401)
    const body = await res.body.json() as Record<string, unknown>
    t.equal(body.code, 'token_invalid')
    t.match(res.headers['www-authenticate'], /error="invalid_token"/)
  }
})

t.test('expired token → 401 token_expired', async t => {
  const [, payload] = readOrders.split('.')
  const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString())
  const expired = await new SignJWT({ ...claims, iat: claims.iat - 7200, exp: Math.floor(Date.now() / 1000) - 60 })
    .setProtectedHeader({ alg: 'ES256', kid: gw.ctx.tokens.signingKeys.signingKid, typ: 'at+jwt' })
    .sign(gw.ctx.tokens.signingKeys.signingKey)
  const res = await request(gw.partnerUrl + '/v1/streams/orders', { headers: { authorization: `Bearer ${expired}` } })
  t.equal(res.statusCode, 401)
  t.equal((await res.body.json() as { code: string }).code, 'token_expired')
})

t.test('token in the query string is refused', async t => {
  const res = await request(gw.partnerUrl + `/v1/streams/orders?access_token=${readOrders}`)
  t.equal(res.statusCode, 401)
  t.equal((await res.body.json() as { code: string }).code, 'token_invalid')
})

t.test('a product outside the share → 404, exactly like a product that does not exist', async t => {
  const { token } = await gw.share(['shipments'])
  const outside = await request(gw.partnerUrl + '/v1/streams/orders', { headers: { authorization: `Bearer ${token}` } })
  const missing = await request(gw.partnerUrl + '/v1/streams/no-such-product', { headers: { authorization: `Bearer ${token}` } })
  t.equal(outside.statusCode, 404)
  t.equal(missing.statusCode, 404)
  t.same(await outside.body.json(), await missing.body.json(), 'same body: nothing tells which products exist')
})

t.test('token without the product scope → 403 scope_missing', async t => {
  // The token was minted before the product was added to the share: its scope lacks it.
  const { shareId, token } = await gw.share(['shipments'])
  const patched = await gw.adminApi('PATCH', `/admin/v1/shares/${shareId}`, {
    products: [{ product: 'shipments', policy: 'carrier-tracking', access: ['read'] }, { product: 'orders', policy: 'partner-basic', access: ['read'] }]
  })
  t.equal(patched.status, 200)
  const res = await request(gw.partnerUrl + '/v1/streams/orders', { headers: { authorization: `Bearer ${token}` } })
  t.equal(res.statusCode, 403)
  const body = await res.body.json() as Record<string, unknown>
  t.equal(body.code, 'scope_missing')
  const fresh = await gw.adminApi('POST', `/admin/v1/shares/${shareId}/tokens`, {})
  t.equal(fresh.status, 201)
  const ok = await StreamClient.open(gw.partnerUrl + '/v1/streams/orders', { token: fresh.body.access_token })
  t.ok(isStream(ok), 'a token minted after the change has the scope')
  if (isStream(ok)) ok.close()
})

t.test('unknown product → 404 product_unknown', async t => {
  const res = await request(gw.partnerUrl + '/v1/streams/no-such-product', { headers: { authorization: `Bearer ${readOrders}` } })
  t.equal(res.statusCode, 404)
  t.equal((await res.body.json() as { code: string }).code, 'product_unknown')
})

t.test('a tampered or foreign cursor → 400 cursor_invalid', async t => {
  const stream = await openOk('/v1/streams/orders?from=earliest', { token: readOrders })
  const [m] = await stream.waitFor(1)
  stream.close()
  const cursor = m!.data.cursor as string
  const tampered = cursor.slice(0, 3) + (cursor[3] === 'A' ? 'B' : 'A') + cursor.slice(4)
  const otherShare = (await gw.share(['orders'])).token
  const cases: Array<[string, string, string]> = [
    ['tampered', tampered, readOrders],
    ['garbage', 'x', readOrders],
    ['other share', cursor, otherShare]
  ]
  for (const [name, from, token] of cases) {
    const res = await request(gw.partnerUrl + `/v1/streams/orders?from=${encodeURIComponent(from)}`, { headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 400, name)
    t.equal((await res.body.json() as { code: string }).code, 'cursor_invalid', name)
  }
  const res = await request(gw.partnerUrl + `/v1/streams/shipments?from=${cursor}`, { headers: { authorization: `Bearer ${readOrders}` } })
  t.equal(res.statusCode, 400, 'cursor of another product')
  await res.body.dump()
})

t.test('JWKS holds public keys only; health endpoints answer', async t => {
  const res = await request(gw.partnerUrl + '/.well-known/jwks.json')
  t.equal(res.statusCode, 200)
  const jwks = await res.body.json() as { keys: Array<Record<string, unknown>> }
  t.ok(jwks.keys.length >= 1)
  for (const key of jwks.keys) {
    t.equal(key.d, undefined, 'no private part')
    t.equal(key.kty, 'EC')
    t.equal(key.alg, 'ES256')
    t.type(key.kid, 'string')
  }
  const live = await request(gw.partnerUrl + '/livez')
  t.equal(live.statusCode, 200)
  await live.body.dump()
  const ready = await request(gw.adminUrl + '/readyz')
  t.equal(ready.statusCode, 200)
  t.match(await ready.body.json(), { status: 'ready', checks: { kafka: { ok: true }, policies: { ok: true } } })
})

t.test('clients that hang up while their stream is opening leave nothing behind', async t => {
  // max_connections 1: a connection slot (or tap listener, or replay reader) leaked by
  // an abandoned open would refuse the last stream with 429.
  const { token, shareId } = await gw.share(['orders'], { quota: { max_connections: 1 } })
  const { port } = new URL(gw.partnerUrl)
  for (let i = 0; i < 20; i++) {
    await new Promise<void>((resolve) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => {
        socket.write(`GET /v1/streams/orders?format=ndjson&from=${i % 2 === 0 ? 'earliest' : 'latest'} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\n\r\n`)
        setTimeout(() => { socket.destroy(); resolve() }, i)
      })
      socket.on('error', () => { resolve() })
    })
  }
  let last: Awaited<ReturnType<typeof StreamClient.open>> | undefined
  for (let i = 0; i < 50; i++) {
    last = await StreamClient.open(`${gw.partnerUrl}/v1/streams/orders`, { token })
    if (isStream(last)) break
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  t.ok(last !== undefined && isStream(last), 'the connection slot is free again')
  if (last !== undefined && isStream(last)) last.close()
  for (let i = 0; i < 50 && gw.ctx.streams.ofShare(shareId).length > 0; i++) await new Promise(resolve => setTimeout(resolve, 50))
  t.equal(gw.ctx.streams.ofShare(shareId).length, 0, 'no stream of the share left registered')
})

t.test('the process keeps serving after every bad request', async t => {
  const stream = await openOk('/v1/streams/orders', { token: readOrders })
  const order = orders.next()
  await kafka.produceRaw(ordersTopic, [{ key: order.key, value: JSON.stringify(order.value), partition: 2 }])
  const [m] = await stream.waitFor(1)
  t.equal(m!.data.key, order.key)
})
