/**
 * Quotas and edge hardening (Quotas issue) against the real broker and a real
 * redis-server: connection limits, delivery shaping, request rate limits,
 * pre-authentication limits per IP, limits shared across two instances, slowloris,
 * CORS, and error bodies that give nothing away.
 */
import t from 'tap'
import net from 'node:net'
import { request } from 'undici'
import { testKafka } from '../helpers/kafka.js'
import { policiesWithTopics } from '../helpers/policies.js'
import { startTestGateway, uniqueId, type TestGateway } from '../helpers/gateway.js'
import { startRedis } from '../helpers/redis.js'
import { PartnerOrders } from '../helpers/records.js'
import { isStream, StreamClient } from '../helpers/stream-client.js'
import { isWsClient, WsClient } from '../helpers/ws-client.js'

const kafka = testKafka()
t.teardown(async () => { await kafka.close() })
const orders = new PartnerOrders(81)
const topic = await kafka.createTopic('quotas', 2)
const returnsTopic = await kafka.createTopic('quotas-returns', 1)
const policiesDir = await policiesWithTopics({ orders: topic, returns: returnsTopic })

async function openStream (gw: TestGateway, token: string, from?: string): Promise<StreamClient | { status: number, headers: Record<string, unknown>, problem: any }> {
  return await StreamClient.open(`${gw.partnerUrl}/v1/streams/orders${from === undefined ? '' : `?from=${encodeURIComponent(from)}`}`, { token })
}

t.test('max_connections: the next stream or WebSocket gets 429 quota_exceeded before it starts', async t => {
  const gw = await startTestGateway(t, { policiesDir })
  const { token } = await gw.share(['orders'], { quota: { max_connections: 2 } })
  const a = await openStream(gw, token)
  const ws = await WsClient.connect(gw.partnerUrl, { token })
  t.ok(isStream(a) && isWsClient(ws), 'two connections (one SSE/NDJSON, one WebSocket) are admitted')
  const third = await openStream(gw, token)
  t.notOk(isStream(third))
  if (!isStream(third)) {
    t.equal(third.status, 429)
    t.equal(third.problem.code, 'quota_exceeded')
    t.equal(third.headers['retry-after'], '5')
  }
  const wsThird = await WsClient.connect(gw.partnerUrl, { token })
  t.notOk(isWsClient(wsThird), 'refused before the upgrade')
  if (!isWsClient(wsThird)) t.equal(wsThird.status, 429)
  if (isStream(a)) a.close()
  await new Promise(resolve => setTimeout(resolve, 200))
  const again = await openStream(gw, token)
  t.ok(isStream(again), 'a slot freed by a closed stream is available again')
  if (isStream(again)) again.close()
  if (isWsClient(ws)) ws.close()
  const batch = await request(`${gw.partnerUrl}/v1/streams/orders/records?wait_ms=0`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(batch.statusCode, 200, 'batches are not connections')
  await batch.body.dump()
})

t.test('messages_per_second shapes delivery: nothing dropped, contiguous offsets, rate close to the quota; PATCH applies live', async t => {
  const shapedTopic = await kafka.createTopic('shaped', 1)
  const g = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: shapedTopic }) })
  const share = await g.share(['orders'], { quota: { messages_per_second: 50 } })
  await kafka.produceRaw(shapedTopic, Array.from({ length: 400 }, () => orders.record(0)))
  const stream = await openStream(g, share.token, 'earliest')
  if (!isStream(stream)) throw new Error('no stream')
  t.teardown(() => { stream.close() })
  // The shaping rate is the feature under test here, so the test measures it.
  const t0 = Date.now()
  await stream.waitFor(150, 20000)
  const rate1 = 149 / ((Date.now() - t0) / 1000)
  t.ok(rate1 <= 50 * 1.1 && rate1 >= 50 * 0.9, `delivered at ${rate1.toFixed(1)} msg/s with a quota of 50`)
  const usage = (await g.adminApi('GET', `/admin/v1/shares/${share.shareId}`)).body.usage
  t.ok(usage.lag.orders > 100, `the lag shows in the share's usage (${usage.lag.orders as number})`)
  const metrics = await (await request(`${g.adminUrl}/metrics`)).body.text()
  const gauge = new RegExp(`^streamshare_lag_records\\{share="${share.shareId}",product="orders"\\} (\\d+)`, 'm').exec(metrics)
  t.ok(Number(gauge?.[1]) > 100, `and in the lag gauge (${gauge?.[1]})`)

  // Raised by PATCH: the open stream speeds up without reconnecting.
  t.equal((await g.adminApi('PATCH', `/admin/v1/shares/${share.shareId}`, { quota: { messages_per_second: 200 } })).status, 200)
  await new Promise(resolve => setTimeout(resolve, 300))
  const n0 = stream.messages.length
  const t1 = Date.now()
  await stream.waitFor(n0 + 150, 20000)
  const rate2 = 150 / ((Date.now() - t1) / 1000)
  t.ok(rate2 > 150, `after the PATCH: ${rate2.toFixed(1)} msg/s with a quota of 200`)
  await stream.waitFor(400, 20000)
  const offsets = stream.messages.map(m => m.data.offset as number)
  t.same(offsets, Array.from({ length: 400 }, (_, i) => i), 'every record, in order: shaping never drops')
})

t.test('bytes_per_second shapes delivery too', async t => {
  const bytesTopic = await kafka.createTopic('shaped-bytes', 1)
  const g = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: bytesTopic }) })
  const share = await g.share(['orders'], { quota: { bytes_per_second: 20000 } })
  await kafka.produceRaw(bytesTopic, Array.from({ length: 200 }, () => orders.record(0)))
  const stream = await openStream(g, share.token, 'earliest')
  if (!isStream(stream)) throw new Error('no stream')
  t.teardown(() => { stream.close() })
  const t0 = Date.now()
  await stream.waitFor(120, 30000)
  const bytesBefore = stream.raw.length
  const rate = bytesBefore / ((Date.now() - t0) / 1000)
  t.ok(rate <= 20000 * 1.15, `${rate.toFixed(0)} B/s with a quota of 20000 B/s`)
  await stream.waitFor(200, 30000)
  t.same(stream.messages.map(m => m.data.offset), Array.from({ length: 200 }, (_, i) => i))
})

t.test('requests_per_minute: 429 rate_limited with RateLimit-* headers and Retry-After', async t => {
  const gw = await startTestGateway(t, { policiesDir })
  const { token } = await gw.share(['orders'], { quota: { requests_per_minute: 5 } })
  const statuses: number[] = []
  let last
  for (let i = 0; i < 7; i++) {
    last = await request(`${gw.partnerUrl}/v1/streams/orders/records?wait_ms=0`, { headers: { authorization: `Bearer ${token}` } })
    statuses.push(last.statusCode)
    if (i === 0) {
      t.equal(last.headers['ratelimit-limit'], '5')
      t.equal(last.headers['ratelimit-remaining'], '4')
    }
    if (last.statusCode !== 429) await last.body.dump()
  }
  t.same(statuses, [200, 200, 200, 200, 200, 429, 429])
  t.ok(Number(last!.headers['retry-after']) > 0, 'Retry-After')
  const problem = await last!.body.json() as { code: string, status: number }
  t.equal(problem.code, 'rate_limited')
  const other = await gw.share(['orders'], { quota: { requests_per_minute: 5 } })
  const res = await request(`${gw.partnerUrl}/v1/streams/orders/records?wait_ms=0`, { headers: { authorization: `Bearer ${other.token}` } })
  t.equal(res.statusCode, 200, 'per share: another share is not affected')
  await res.body.dump()
})

t.test('WebSocket messages count against requests_per_minute: error 429 rate_limited, then 4429 for a client that keeps going', async t => {
  const gw = await startTestGateway(t, { policiesDir })
  const { token } = await gw.share(['orders'], { quota: { requests_per_minute: 3 } })
  const ws = await WsClient.connect(gw.partnerUrl, { token })
  if (!isWsClient(ws)) throw new Error('refused')
  t.teardown(() => { ws.close() })
  for (let i = 0; i < 3; i++) ws.send({ type: 'unsubscribe', id: `none-${i}` })
  ws.send({ type: 'subscribe', id: 'late', product: 'orders' })
  const limited = await ws.waitFor(m => m.id === 'late')
  t.match(limited, { type: 'error', id: 'late', status: 429, code: 'rate_limited' })
  t.ok(limited.retry_after >= 1 && limited.retry_after <= 60, 'retry_after in seconds')
  t.same(ws.messages.filter(m => m.code === 'bad_request').map(m => m.id), ['none-0', 'none-1', 'none-2'], 'the first three were handled, in order')
  for (let i = 0; i < 25; i++) ws.send({ type: 'unsubscribe', id: `flood-${i}` })
  t.equal((await ws.closed).code, 4429, 'a client that ignores rate_limited is closed with 4429')
  const health = await request(`${gw.partnerUrl}/livez`)
  t.equal(health.statusCode, 200, 'the gateway keeps serving')
  await health.body.dump()
})

t.test('WebSocket publishes in flight per connection are capped: the rest get 429 quota_exceeded, each ref one answer', async t => {
  const gw = await startTestGateway(t, { policiesDir, env: { STREAMSHARE_WS_MAX_INFLIGHT_PUBLISHES: '1' } })
  const { token } = await gw.share([{ product: 'returns', policy: 'own-returns', access: ['read', 'write'] }])
  const ws = await WsClient.connect(gw.partnerUrl, { token })
  if (!isWsClient(ws)) throw new Error('refused')
  t.teardown(() => { ws.close() })
  const refs = Array.from({ length: 10 }, (_, i) => `p${i}`)
  for (const ref of refs) {
    ws.send({ type: 'publish', ref, product: 'returns', value: { return_id: `r-${ref}`, order_id: 'o-100001', reason: 'damaged', items: [{ sku: 'SKU-1001', quantity: 1 }], requested_at: new Date().toISOString() } })
  }
  const answers = await ws.waitForCount(m => typeof m.ref === 'string', refs.length)
  t.same(answers.map(a => a.ref).sort(), [...refs].sort(), 'every publish is answered exactly once')
  const refused = answers.filter(a => a.type === 'error')
  t.ok(refused.length >= 1, `a burst over the cap is refused (${refused.length} of 10)`)
  t.ok(refused.every(a => a.status === 429 && a.code === 'quota_exceeded'))
  t.equal(answers.find(a => a.ref === 'p0')?.type, 'published', 'the first was written')
})

t.test('pre-authentication limits per IP: failed authentications, connection attempts, tickets', async t => {
  const gw = await startTestGateway(t, { policiesDir, env: { STREAMSHARE_IP_AUTH_FAILURES_PER_MINUTE: '5', STREAMSHARE_IP_CONNECTIONS_PER_MINUTE: '8', STREAMSHARE_IP_TICKETS_PER_MINUTE: '3' } })
  const { token } = await gw.share(['orders'])
  const tickets: number[] = []
  for (let i = 0; i < 4; i++) {
    const res = await request(`${gw.partnerUrl}/v1/tickets`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
    tickets.push(res.statusCode)
    await res.body.dump()
  }
  t.same(tickets, [201, 201, 201, 429], 'ticket requests per IP')
  const conns: number[] = []
  for (let i = 0; i < 9; i++) {
    const s = await openStream(gw, token)
    conns.push(isStream(s) ? 200 : s.status)
    if (isStream(s)) s.close()
  }
  t.equal(conns.filter(s => s === 200).length, 8)
  t.equal(conns.at(-1), 429, 'connection attempts per IP')

  const g2 = await startTestGateway(t, { policiesDir, env: { STREAMSHARE_IP_AUTH_FAILURES_PER_MINUTE: '5' } })
  const good = await g2.share(['orders'])
  const statuses: number[] = []
  for (let i = 0; i < 7; i++) {
    const res = await request(`${g2.partnerUrl}/v1/streams/orders/records`, { headers: { authorization: 'Bearer not.a.token' } })
    statuses.push(res.statusCode)
    await res.body.dump()
  }
  t.same(statuses, [401, 401, 401, 401, 401, 429, 429], 'token guessing is cut off')
  const withGood = await request(`${g2.partnerUrl}/v1/streams/orders/records?wait_ms=0`, { headers: { authorization: `Bearer ${good.token}` } })
  t.equal(withGood.statusCode, 429, 'the address is refused before any token is checked')
  await withGood.body.dump()
})

t.test('behind a trusted proxy the per-IP limits key on X-Forwarded-For; from anyone else it is ignored', async t => {
  const guess = async (g: { partnerUrl: string }, forwardedFor: string): Promise<number> => {
    const res = await request(`${g.partnerUrl}/v1/streams/orders/records`, { headers: { authorization: 'Bearer not.a.token', 'x-forwarded-for': forwardedFor } })
    await res.body.dump()
    return res.statusCode
  }
  const proxied = await startTestGateway(t, { policiesDir, env: { STREAMSHARE_IP_AUTH_FAILURES_PER_MINUTE: '3', STREAMSHARE_TRUST_PROXY: '127.0.0.1' } })
  const first: number[] = []
  for (let i = 0; i < 4; i++) first.push(await guess(proxied, '203.0.113.7'))
  t.same(first, [401, 401, 401, 429], 'the client behind the proxy is cut off')
  t.equal(await guess(proxied, '203.0.113.8'), 401, 'another client behind the same proxy is not')

  // Untrusted: a client cannot pick a fresh address per request to walk past the limit.
  const direct = await startTestGateway(t, { policiesDir, env: { STREAMSHARE_IP_AUTH_FAILURES_PER_MINUTE: '3' } })
  const spoofed: number[] = []
  for (let i = 0; i < 4; i++) spoofed.push(await guess(direct, `198.51.100.${i}`))
  t.same(spoofed, [401, 401, 401, 429], 'X-Forwarded-For from an untrusted peer changes nothing')
})

t.test('with Redis, limits hold across two instances; without, each instance enforces the full quota', async t => {
  const redisUrl = await startRedis(t)
  const a = await startTestGateway(t, { policiesDir, env: { STREAMSHARE_REDIS_URL: redisUrl } })
  const b = await startTestGateway(t, { policiesDir, env: { STREAMSHARE_REDIS_URL: redisUrl } })
  const { token } = await a.share(['orders'], { quota: { max_connections: 2, requests_per_minute: 4 } })
  const s1 = await openStream(a, token)
  const s2 = await openStream(b, token)
  t.ok(isStream(s1) && isStream(s2))
  const s3a = await openStream(a, token)
  const s3b = await openStream(b, token)
  t.equal(isStream(s3a) ? 200 : s3a.status, 429, 'third on A: refused (one open on A, one on B)')
  t.equal(isStream(s3b) ? 200 : s3b.status, 429, 'third on B: refused')
  if (isStream(s1)) s1.close()
  await new Promise(resolve => setTimeout(resolve, 300))
  const s4 = await openStream(b, token)
  t.ok(isStream(s4), 'a slot given back on A is usable on B')
  for (const s of [s2, s4]) if (isStream(s)) s.close()

  const statuses: number[] = []
  for (const gw of [a, b, a, b, a, b]) {
    const res = await request(`${gw.partnerUrl}/v1/streams/orders/records?wait_ms=0`, { headers: { authorization: `Bearer ${token}` } })
    statuses.push(res.statusCode)
    await res.body.dump()
  }
  t.same(statuses, [200, 200, 200, 200, 429, 429], 'requests_per_minute counted across both instances')

  // A ticket is single-use across instances too.
  const ticketShare = await a.share(['orders'])
  const issued = await request(`${a.partnerUrl}/v1/tickets`, { method: 'POST', headers: { authorization: `Bearer ${ticketShare.token}` } })
  const { ticket } = await issued.body.json() as { ticket: string }
  const first = await request(`${a.partnerUrl}/v1/streams/orders?format=sse&ticket=${encodeURIComponent(ticket)}`)
  t.equal(first.statusCode, 200)
  first.body.destroy()
  const replayed = await request(`${b.partnerUrl}/v1/streams/orders?format=sse&ticket=${encodeURIComponent(ticket)}`)
  t.equal(replayed.statusCode, 401, 'a ticket used on A is refused on B')
  await replayed.body.dump()

  const c = await startTestGateway(t, { policiesDir })
  const d = await startTestGateway(t, { policiesDir })
  const local = await c.share(['orders'], { quota: { max_connections: 1 } })
  const onC = await openStream(c, local.token)
  const onD = await openStream(d, local.token)
  t.ok(isStream(onC) && isStream(onD), 'without Redis: one connection per instance')
  for (const s of [onC, onD]) if (isStream(s)) s.close()
})

t.test('slowloris: a client dribbling its headers is cut at the header timeout; others are served', async t => {
  const gw = await startTestGateway(t, { policiesDir, env: { STREAMSHARE_HTTP_HEADERS_TIMEOUT_MS: '1000' } })
  const port = Number(new URL(gw.partnerUrl).port)
  const sockets = Array.from({ length: 20 }, () => net.connect(port, '127.0.0.1'))
  const closedAt: number[] = []
  const started = Date.now()
  const dribble = setInterval(() => { for (const s of sockets) if (!s.destroyed) s.write('X-Slow: 1\r\n') }, 300)
  for (const s of sockets) {
    s.on('error', () => {})
    s.on('close', () => { closedAt.push(Date.now() - started) })
    s.write('GET /livez HTTP/1.1\r\nHost: x\r\n')
  }
  const normal = await request(`${gw.partnerUrl}/livez`)
  t.equal(normal.statusCode, 200, 'a normal client is served meanwhile')
  await normal.body.dump()
  for (let i = 0; i < 60 && closedAt.length < sockets.length; i++) await new Promise(resolve => setTimeout(resolve, 100))
  clearInterval(dribble)
  t.equal(closedAt.length, 20, 'every slow connection was cut')
  t.ok(Math.max(...closedAt) < 5000, `cut after ${Math.max(...closedAt)} ms (header timeout 1000 ms)`)
})

t.test('header size limit → 431; error bodies carry no stack trace, broker address or record data', async t => {
  const gw = await startTestGateway(t, { policiesDir })
  const big = await request(`${gw.partnerUrl}/livez`, { headers: { 'x-big': 'a'.repeat(20000) } }).catch((err: Error) => err)
  t.equal(big instanceof Error ? 431 : big.statusCode, 431)
  // A product whose topic does not exist in Kafka: the error must not describe Kafka.
  const missingDir = await policiesWithTopics({ orders: `no-such-topic-${uniqueId('t')}` })
  const g = await startTestGateway(t, { policiesDir: missingDir })
  const { token } = await g.share(['orders'])
  const res = await request(`${g.partnerUrl}/v1/streams/orders`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(res.statusCode, 503)
  const text = await res.body.text()
  t.equal(JSON.parse(text).code, 'unavailable')
  for (const leak of ['localhost', '9092', 'kafkajs', 'KafkaJS', '    at ', 'Error:', 'no-such-topic']) t.notOk(text.includes(leak), `no "${leak}" in the error body`)
})

t.test('CORS only for the partner\'s allowed origins', async t => {
  const gw = await startTestGateway(t, { policiesDir })
  const partner = uniqueId('cors')
  await gw.adminApi('POST', '/admin/v1/partners', { id: partner, name: 'P', contact: 'p@example.com', attributes: { region: 'eu-west' }, allowed_origins: ['https://app.partner.example'] })
  const share = await gw.adminApi('POST', '/admin/v1/shares', { partner, products: [{ product: 'orders', policy: 'partner-basic', access: ['read'] }] })
  const token = share.body.token.access_token as string
  const preflight = await request(`${gw.partnerUrl}/v1/streams/orders/records`, { method: 'OPTIONS', headers: { origin: 'https://app.partner.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } })
  t.equal(preflight.statusCode, 204)
  t.equal(preflight.headers['access-control-allow-origin'], 'https://app.partner.example')
  t.match(preflight.headers['access-control-allow-headers'], /authorization/)
  const foreignPreflight = await request(`${gw.partnerUrl}/v1/streams/orders/records`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } })
  t.equal(foreignPreflight.headers['access-control-allow-origin'], undefined, 'no CORS for an origin no partner allows')
  const allowed = await request(`${gw.partnerUrl}/v1/streams/orders/records?wait_ms=0`, { headers: { authorization: `Bearer ${token}`, origin: 'https://app.partner.example' } })
  t.equal(allowed.statusCode, 200)
  t.equal(allowed.headers['access-control-allow-origin'], 'https://app.partner.example')
  await allowed.body.dump()
  const foreign = await request(`${gw.partnerUrl}/v1/streams/orders/records?wait_ms=0`, { headers: { authorization: `Bearer ${token}`, origin: 'https://evil.example' } })
  t.equal(foreign.statusCode, 403)
  t.equal((await foreign.body.json() as { code: string }).code, 'origin_forbidden')
  const sse = await StreamClient.open(`${gw.partnerUrl}/v1/streams/orders`, { token, headers: { origin: 'https://app.partner.example' } })
  t.ok(isStream(sse))
  if (isStream(sse)) {
    t.equal(sse.headers['access-control-allow-origin'], 'https://app.partner.example', 'streams carry CORS headers too')
    sse.close()
  }
})
