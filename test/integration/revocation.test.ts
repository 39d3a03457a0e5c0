/**
 * Revocation and expiry end open streams (CONTRACT §5 "Revocation"): two gateway
 * instances on one broker; revoke through A, streams on B end with `revoked`, and
 * nothing produced afterwards reaches the client.
 */
import t from 'tap'
import { request } from 'undici'
import { DemoDataGenerator } from '../../src/dev/demo-data.js'
import { testKafka } from '../helpers/kafka.js'
import { policiesWithTopics } from '../helpers/policies.js'
import { startTestGateway } from '../helpers/gateway.js'
import { isStream, StreamClient } from '../helpers/stream-client.js'
import { isWsClient, WsClient } from '../helpers/ws-client.js'

const kafka = testKafka()
t.teardown(async () => { await kafka.close() })
const topic = await kafka.createTopic('revocation', 2)
const policiesDir = await policiesWithTopics({ orders: topic })
const a = await startTestGateway(t, { policiesDir })
const b = await startTestGateway(t, { policiesDir })
const demo = new DemoDataGenerator(11)

async function open (url: string, token: string, format: 'sse' | 'ndjson' = 'ndjson'): Promise<StreamClient> {
  const s = await StreamClient.open(url + '/v1/streams/orders', { token, format })
  if (!isStream(s)) throw new Error(`expected a stream, got ${s.status} ${JSON.stringify(s.problem)}`)
  t.teardown(() => { s.close() })
  return s
}

async function produceOrders (n: number): Promise<void> {
  await kafka.produceRaw(topic, Array.from({ length: n }, () => {
    // partner-basic lets only the partner's region through: make them match.
    const o = demo.order()
    return { key: o.key, value: JSON.stringify({ ...o.value, region: 'eu-west', status: 'confirmed' }) }
  }))
}

t.test('revoking a share through instance A ends its streams on instance B', async t => {
  const { shareId, token } = await a.share(['orders'])
  const sse = await open(b.partnerUrl, token, 'sse')
  const ndjson = await open(b.partnerUrl, token, 'ndjson')
  await produceOrders(3)
  await sse.waitFor(3)
  await ndjson.waitFor(3)

  const started = performance.now()
  const revoked = await a.adminApi('POST', `/admin/v1/shares/${shareId}/revoke`, { reason: 'contract ended' })
  t.equal(revoked.status, 200)
  t.equal(revoked.body.status, 'revoked')
  await Promise.all([sse.waitEnd(10000), ndjson.waitEnd(10000)])
  const latency = performance.now() - started
  t.comment(`revocation via A → both streams on B ended after ${latency.toFixed(0)} ms (incl. the admin round trip)`)

  for (const [name, s] of [['sse', sse], ['ndjson', ndjson]] as const) {
    const last = s.messages[s.messages.length - 1]!
    t.same(last.data, { type: 'revoked', reason: 'share_revoked' }, `${name}: revoked is the last message`)
    if (name === 'sse') t.equal(last.event, 'revoked')
    t.equal(s.messages.filter(m => m.data.type === 'record').length, 3, `${name}: nothing after the revocation`)
  }
  await produceOrders(2)

  // Later requests, on either instance, are refused.
  for (const gw of [a, b]) {
    const res = await request(gw.partnerUrl + '/v1/streams/orders', { headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 403)
    t.equal((await res.body.json() as { code: string }).code, 'share_revoked')
  }
  const tokenAgain = await a.adminApi('POST', `/admin/v1/shares/${shareId}/tokens`, {})
  t.equal(tokenAgain.status, 409, 'no new token for a revoked share')
})

t.test('revoking one token (jti) ends only the streams of that token', async t => {
  const { shareId, token, jti } = await a.share(['orders'])
  const second = await a.adminApi('POST', `/admin/v1/shares/${shareId}/tokens`, {})
  t.equal(second.status, 201)
  const s1 = await open(b.partnerUrl, token)
  const s2 = await open(b.partnerUrl, second.body.access_token)
  await produceOrders(1)
  await s1.waitFor(1)
  await s2.waitFor(1)
  const res = await a.adminApi('DELETE', `/admin/v1/shares/${shareId}/tokens/${jti}`)
  t.equal(res.status, 200)
  t.type(res.body.revoked_at, 'string')
  await s1.waitEnd(10000)
  t.same(s1.messages.at(-1)!.data, { type: 'revoked', reason: 'token_revoked' })
  await produceOrders(1)
  await s2.waitFor(2)
  t.equal(s2.ended, false, 'the other token keeps streaming')
  const again = await request(b.partnerUrl + '/v1/streams/orders', { headers: { authorization: `Bearer ${token}` } })
  t.equal(again.statusCode, 403)
  t.equal((await again.body.json() as { code: string }).code, 'share_revoked')
})

t.test('a product removed from the share ends its streams', async t => {
  const { shareId, token } = await a.share(['orders', 'shipments'])
  const s = await open(b.partnerUrl, token)
  const patched = await a.adminApi('PATCH', `/admin/v1/shares/${shareId}`, { products: [{ product: 'shipments', policy: 'carrier-tracking', access: ['read'] }] })
  t.equal(patched.status, 200)
  await s.waitEnd(10000)
  t.same(s.messages.at(-1)!.data, { type: 'revoked', reason: 'product_removed' })
  const res = await request(b.partnerUrl + '/v1/streams/orders', { headers: { authorization: `Bearer ${token}` } })
  t.equal(res.statusCode, 404, 'now outside the share')
  await res.body.dump()
})

t.test('share expiry ends streams with revoked(share_expired)', async t => {
  // A token never outlives its share: minted for a share expiring in 3 s, it expires with it.
  const capped = await a.share(['orders'], { expires_at: new Date(Date.now() + 3000).toISOString() })
  const s1 = await open(b.partnerUrl, capped.token)
  // An expiry moved earlier after the token was minted: the share ends before the token.
  const moved = await a.share(['orders'])
  const s2 = await open(b.partnerUrl, moved.token)
  t.equal((await a.adminApi('PATCH', `/admin/v1/shares/${moved.shareId}`, { expires_at: new Date(Date.now() + 2000).toISOString() })).status, 200)
  await Promise.all([s1.waitEnd(15000), s2.waitEnd(15000)])
  t.same(s1.messages.at(-1)!.data, { type: 'revoked', reason: 'share_expired' })
  t.same(s2.messages.at(-1)!.data, { type: 'revoked', reason: 'share_expired' })
  const later = await request(b.partnerUrl + '/v1/streams/orders', { headers: { authorization: `Bearer ${moved.token}` } })
  t.equal(later.statusCode, 403)
  t.equal((await later.body.json() as { code: string }).code, 'share_expired')
  const cappedLater = await request(b.partnerUrl + '/v1/streams/orders', { headers: { authorization: `Bearer ${capped.token}` } })
  t.equal(cappedLater.statusCode, 401, 'the capped token itself has expired')
  t.equal((await cappedLater.body.json() as { code: string }).code, 'token_expired')
  t.equal((await a.adminApi('GET', `/admin/v1/shares/${moved.shareId}`)).body.status, 'expired')
})

t.test('a token announces its expiry 30 s ahead, then the stream ends', async t => {
  const { shareId } = await a.share(['orders'])
  // 33 s: the notice comes after ~3 s, the end after ~33 s (the admin API's minimum TTL is 60 s).
  const minted = await a.ctx.shares.mintToken(shareId, { name: 'test' }, 33)
  const s = await open(b.partnerUrl, minted.access_token)
  const [notice] = await s.waitFor(1, 15000)
  t.equal(notice!.data.type, 'expiring')
  t.ok(notice!.data.seconds > 0 && notice!.data.seconds <= 30, `seconds left: ${notice!.data.seconds as number}`)
  await s.waitEnd(45000)
  t.same(s.messages.at(-1)!.data, { type: 'revoked', reason: 'token_expired' })
  const res = await request(b.partnerUrl + '/v1/streams/orders', { headers: { authorization: `Bearer ${minted.access_token}` } })
  t.equal(res.statusCode, 401)
  t.equal((await res.body.json() as { code: string }).code, 'token_expired')
})

t.test('fail closed: a registry feed silent past its bound ends open streams, makes the instance unready and refuses new ones', async t => {
  const c = await startTestGateway(t, { policiesDir, env: { STREAMSHARE_REGISTRY_MAX_SILENCE_MS: '1000' } })
  const { token } = await a.share(['orders'])
  const stream = await open(c.partnerUrl, token)
  t.teardown(() => { stream.close() })
  const ws = await WsClient.connect(c.partnerUrl, { token })
  if (!isWsClient(ws)) throw new Error('refused')
  t.teardown(() => { ws.close() })
  ws.send({ type: 'subscribe', id: 'o', product: 'orders' })
  await ws.waitFor(m => m.type === 'subscribed')
  // Stop this instance's registry feed (as a lost connection would): it can no longer
  // know about revocations, so it must stop serving.
  const stoppedAt = Date.now()
  await c.ctx.registry.stop()
  await stream.waitEnd(10000)
  t.pass('the open NDJSON stream ended')
  t.equal((await ws.closed).code, 1013, 'the WebSocket closed with 1013 (try again later)')
  t.ok(Date.now() - stoppedAt < 5000, `within the silence bound plus a check interval (${Date.now() - stoppedAt} ms)`)
  let ready = 200
  for (let i = 0; i < 50 && ready === 200; i++) {
    const res = await request(c.adminUrl + '/readyz')
    ready = res.statusCode
    await res.body.dump()
    if (ready === 200) await new Promise(resolve => setTimeout(resolve, 100))
  }
  t.equal(ready, 503, '/readyz fails')
  const refused = await request(c.partnerUrl + '/v1/streams/orders', { headers: { authorization: `Bearer ${token}` } })
  t.equal(refused.statusCode, 503)
  t.equal((await refused.body.json() as { code: string }).code, 'unavailable')
  t.ok(refused.headers['retry-after'], 'with Retry-After')
})
