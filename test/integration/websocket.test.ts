/**
 * The WebSocket protocol streamshare.v1 (CONTRACT §6) against the real broker:
 * subscriptions, resume, tickets, Origin, and every close code it defines.
 */
import t from 'tap'
import { request } from 'undici'
import { testKafka } from '../helpers/kafka.js'
import { policiesWithTopics } from '../helpers/policies.js'
import { startTestGateway, uniqueId } from '../helpers/gateway.js'
import { PartnerOrders } from '../helpers/records.js'
import { holdTap, ringEntries } from '../helpers/taps.js'
import { isWsClient, WsClient } from '../helpers/ws-client.js'

const kafka = testKafka()
t.teardown(async () => { await kafka.close() })
const orders = new PartnerOrders(71)
const ordersTopic = await kafka.createTopic('ws-orders', 2)
const shipmentsTopic = await kafka.createTopic('ws-shipments', 1)
const policiesDir = await policiesWithTopics({ orders: ordersTopic, shipments: shipmentsTopic })
const gw = await startTestGateway(t, { policiesDir, env: { STREAMSHARE_TICKET_TTL_MS: '1500' } })

async function connect (options: Parameters<typeof WsClient.connect>[1], url = gw.partnerUrl): Promise<WsClient> {
  const client = await WsClient.connect(url, options)
  if (!isWsClient(client)) throw new Error(`refused: ${client.status} ${JSON.stringify(client.body)}`)
  t.teardown(() => { client.close() })
  return client
}

const records = (c: WsClient, id: string): Array<Record<string, any>> => c.messages.filter(m => m.type === 'record' && m.id === id)

t.test('subscribe: subscribed with a cursor, then records carrying the subscription id', async t => {
  const { token } = await gw.share(['orders', 'shipments'])
  const ws = await connect({ token })
  t.equal(ws.socket.protocol, 'streamshare.v1', 'the subprotocol is agreed')
  ws.send({ type: 'subscribe', id: 'o', product: 'orders' })
  ws.send({ type: 'subscribe', id: 's', product: 'shipments', from: 'earliest' })
  const subscribed = await ws.waitFor(m => m.type === 'subscribed' && m.id === 'o')
  t.match(subscribed.cursor, /^[A-Za-z0-9_-]+$/)
  await ws.waitFor(m => m.type === 'subscribed' && m.id === 's')
  const produced = [orders.record(0), orders.record(1), orders.record(0)]
  await kafka.produceRaw(ordersTopic, produced)
  const got = await ws.waitForCount(m => m.type === 'record' && m.id === 'o', 3)
  t.same(got.map(m => m.key).sort(), produced.map(p => p.key).sort())
  t.same(Object.keys(got[0]!).sort(), ['cursor', 'headers', 'id', 'key', 'offset', 'partition', 'policy_version', 'product', 'timestamp', 'type', 'value'])
  t.equal(got[0]!.value.customer.email, undefined, 'the share policy applies')
  t.same(records(ws, 's'), [], 'the other subscription has nothing yet')
  ws.send({ type: 'unsubscribe', id: 'o' })
  await new Promise(resolve => setTimeout(resolve, 200))
  await kafka.produceRaw(ordersTopic, [orders.record(0)])
  await new Promise(resolve => setTimeout(resolve, 500))
  t.equal(records(ws, 'o').length, 3, 'nothing after unsubscribe')
})

t.test('clients with their own subscription ids share one cached frame per record', async t => {
  const { token } = await gw.share(['orders'])
  const ids = ['alpha', 'b.2', 'c:3-x']
  const clients = await Promise.all(ids.map(async () => await connect({ token })))
  await Promise.all(clients.map(async (c, i) => {
    c.send({ type: 'subscribe', id: ids[i], product: 'orders' })
    await c.waitFor(m => m.type === 'subscribed' && m.id === ids[i])
  }))
  const produced = [orders.record(0), orders.record(1)]
  await kafka.produceRaw(ordersTopic, produced)
  const got = await Promise.all(clients.map(async (c, i) => await c.waitForCount(m => m.type === 'record' && m.id === ids[i], 2)))
  for (let i = 0; i < ids.length; i++) t.same(got[i]!.map(m => m.key).sort(), produced.map(p => p.key).sort(), `${ids[i]}: both records, with its id`)
  const withoutId = (m: Record<string, unknown>): string => { const { id: _id, ...rest } = m; return JSON.stringify(rest) }
  t.same(got[1]!.map(withoutId), got[0]!.map(withoutId), 'the same messages apart from the id')
  t.same(got[2]!.map(withoutId), got[0]!.map(withoutId))
  // The ring holds one frame per record for all three, not one per id.
  const tap = await holdTap(t, gw, 'orders')
  const ours = ringEntries(tap).filter(entry => got[0]!.some(m => m.partition === entry.partition && m.offset === entry.offset))
  t.equal(ours.length, 2)
  for (const entry of ours) {
    const view = entry.view as { frameFormat?: string, frames?: Map<string, unknown> }
    t.equal(view.frameFormat, 'ws', 'one WebSocket frame cached')
    t.equal(view.frames, undefined, 'and no others')
  }
})

t.test('resume by cursor over WebSocket after a disconnect: no loss, no duplicate', async t => {
  const { token } = await gw.share(['orders'])
  const first = await connect({ token })
  first.send({ type: 'subscribe', id: 'a', product: 'orders' })
  const start = await first.waitFor(m => m.type === 'subscribed')
  await kafka.produceRaw(ordersTopic, Array.from({ length: 40 }, (_, i) => orders.record(i % 2)))
  await first.waitForCount(m => m.type === 'record', 15)
  first.socket.terminate()
  await first.closed
  const seen = records(first, 'a')
  const last = seen.at(-1)!
  await kafka.produceRaw(ordersTopic, Array.from({ length: 20 }, (_, i) => orders.record(i % 2)))
  const second = await connect({ token })
  second.send({ type: 'subscribe', id: 'a', product: 'orders', from: last.cursor })
  // 60 produced after the start in total.
  await second.waitForCount(m => m.type === 'record', 60 - seen.length, 20000)
  const all = [...seen, ...records(second, 'a')].map(m => `${m.partition as number}:${m.offset as number}`)
  t.equal(all.length, 60)
  t.equal(new Set(all).size, 60, 'no duplicates')
  t.ok(start.cursor)
})

t.test('tickets: one use, 30 s (here 1.5 s), then 401', async t => {
  const { token } = await gw.share(['orders'])
  const issue = async (): Promise<string> => {
    const res = await request(gw.partnerUrl + '/v1/tickets', { method: 'POST', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 201)
    const body = await res.body.json() as { ticket: string, expires_in: number }
    return body.ticket
  }
  const ticket = await issue()
  const ws = await connect({ ticket })
  ws.send({ type: 'subscribe', id: 'x', product: 'orders' })
  await ws.waitFor(m => m.type === 'subscribed')
  const reused = await WsClient.connect(gw.partnerUrl, { ticket })
  t.notOk(isWsClient(reused))
  if (!isWsClient(reused)) { t.equal(reused.status, 401); t.equal(reused.body.code, 'token_invalid') }
  const stale = await issue()
  await new Promise(resolve => setTimeout(resolve, 1700))
  const expired = await WsClient.connect(gw.partnerUrl, { ticket: stale })
  if (!isWsClient(expired)) { t.equal(expired.status, 401, 'an expired ticket'); t.equal(expired.body.code, 'token_invalid') } else t.fail('expired ticket accepted')
  const forged = await WsClient.connect(gw.partnerUrl, { ticket: ticket.slice(0, -3) + 'AAA' })
  if (!isWsClient(forged)) t.equal(forged.status, 401, 'a forged ticket')
  // Tickets work for EventSource (SSE) too, once.
  const sseTicket = await issue()
  const sse = await request(gw.partnerUrl + `/v1/streams/orders?format=sse&ticket=${encodeURIComponent(sseTicket)}`)
  t.equal(sse.statusCode, 200)
  sse.body.destroy()
  const sseAgain = await request(gw.partnerUrl + `/v1/streams/orders?format=sse&ticket=${encodeURIComponent(sseTicket)}`)
  t.equal(sseAgain.statusCode, 401)
  await sseAgain.body.dump()
  const noHeader = await request(gw.partnerUrl + '/v1/tickets', { method: 'POST' })
  t.equal(noHeader.statusCode, 401, 'a ticket needs a token')
  await noHeader.body.dump()
})

t.test('refused before the upgrade: no token 401, foreign Origin 403, missing subprotocol 400', async t => {
  const partner = uniqueId('origin')
  await gw.adminApi('POST', '/admin/v1/partners', { id: partner, name: 'P', contact: 'p@example.com', attributes: { region: 'eu-west' }, allowed_origins: ['https://portal.partner.example'] })
  const share = await gw.adminApi('POST', '/admin/v1/shares', { partner, products: [{ product: 'orders', policy: 'partner-basic', access: ['read'] }] })
  const token = share.body.token.access_token as string
  const cases: Array<[string, Parameters<typeof WsClient.connect>[1], number, string]> = [
    ['no token', {}, 401, 'token_missing'],
    ['bad token', { token: 'x.y.z' }, 401, 'token_invalid'],
    ['foreign Origin', { token, origin: 'https://evil.example' }, 403, 'origin_forbidden'],
    ['no subprotocol', { token, protocol: null }, 400, 'bad_request'],
    ['other subprotocol', { token, protocol: 'chat' }, 400, 'bad_request']
  ]
  for (const [name, options, status, code] of cases) {
    const res = await WsClient.connect(gw.partnerUrl, options)
    t.notOk(isWsClient(res), name)
    if (!isWsClient(res)) {
      t.equal(res.status, status, name)
      t.equal(res.body.code, code, name)
    }
  }
  const allowed = await connect({ token, origin: 'https://portal.partner.example' })
  t.ok(allowed, 'an allowed Origin connects')
  const noOrigin = await connect({ token })
  t.ok(noOrigin, 'a client without Origin (not a browser) connects')
})

t.test('close codes: 4400 malformed, 4409 duplicate id, 1009 too big; error 404 keeps the connection', async t => {
  const { token } = await gw.share(['orders'])
  for (const bad of ['not json', '[1,2]', '{"type":"dance"}', '{"type":"subscribe","id":"a"}', '{"type":"subscribe","id":"a","product":"orders","extra":1}']) {
    const ws = await connect({ token })
    ws.send(bad)
    const { code } = await ws.closed
    t.equal(code, 4400, `malformed: ${bad}`)
  }
  // A long, multi-byte field name used to overflow the close reason (123 bytes) and
  // throw inside the message handler.
  const unicode = await connect({ token })
  unicode.send(JSON.stringify({ type: 'subscribe', id: 'a', product: 'orders', ['é'.repeat(200)]: 1 }))
  const closed = await unicode.closed
  t.equal(closed.code, 4400, 'a long non-ASCII field name: 4400')
  t.ok(Buffer.byteLength(closed.reason) <= 123 && /^[\x20-\x7e]*$/.test(closed.reason), 'the close reason is short printable ASCII')
  const binary = await connect({ token })
  binary.socket.send(Buffer.from([1, 2, 3]), { binary: true })
  t.equal((await binary.closed).code, 4400, 'binary frame')

  const dup = await connect({ token })
  dup.send({ type: 'subscribe', id: 'same', product: 'orders' })
  dup.send({ type: 'subscribe', id: 'same', product: 'orders' })
  t.equal((await dup.closed).code, 4409)

  const big = await connect({ token })
  big.send({ type: 'subscribe', id: 'big', product: 'orders', from: 'x'.repeat(70 * 1024) })
  t.equal((await big.closed).code, 1009)

  const ws = await connect({ token })
  ws.send({ type: 'subscribe', id: 'nope', product: 'shipments' })
  const error = await ws.waitFor(m => m.type === 'error')
  t.same(error, { type: 'error', id: 'nope', status: 404, code: 'product_unknown', detail: 'no such product in this share' })
  ws.send({ type: 'subscribe', id: 'bad-cursor', product: 'orders', from: 'garbage' })
  t.match(await ws.waitFor(m => m.type === 'error' && m.id === 'bad-cursor'), { status: 400, code: 'cursor_invalid' })
  ws.send({ type: 'subscribe', id: 'ok', product: 'orders' })
  await ws.waitFor(m => m.type === 'subscribed' && m.id === 'ok')
  t.pass('the connection stayed open')
})

t.test('revocation → revoked then 4403; token expiry → expiring then 4401', async t => {
  const { token, shareId } = await gw.share(['orders'])
  const ws = await connect({ token })
  ws.send({ type: 'subscribe', id: 'r', product: 'orders' })
  await ws.waitFor(m => m.type === 'subscribed')
  const idle = await connect({ token })
  await gw.adminApi('POST', `/admin/v1/shares/${shareId}/revoke`, { reason: 'test' })
  t.equal((await ws.closed).code, 4403)
  t.ok(ws.messages.some(m => m.type === 'revoked' && m.reason === 'share_revoked'), 'revoked before the close')
  t.equal((await idle.closed).code, 4403, 'a connection without subscriptions is closed too')

  const other = await gw.share(['orders'])
  const minted = await gw.ctx.shares.mintToken(other.shareId, { name: 'test' }, 32)
  const expiring = await connect({ token: minted.access_token })
  expiring.send({ type: 'subscribe', id: 'e', product: 'orders' })
  const notice = await expiring.waitFor(m => m.type === 'expiring', 10000)
  t.ok(notice.seconds > 0 && notice.seconds <= 30)
  t.equal((await expiring.closed).code, 4401)
  t.equal(expiring.messages.filter(m => m.type === 'expiring').length, 1, 'one notice per connection')
})

t.test('a slow consumer past its buffer limit → 1013', async t => {
  const topic = await kafka.createTopic('ws-slow', 1)
  const g = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: topic }), env: { STREAMSHARE_STREAM_MAX_BUFFERED_BYTES: '65536', STREAMSHARE_STREAM_STALL_TIMEOUT_MS: '1000' } })
  const { token } = await g.share(['orders'])
  const ws = await connect({ token }, g.partnerUrl)
  ws.send({ type: 'subscribe', id: 'slow', product: 'orders' })
  await ws.waitFor(m => m.type === 'subscribed')
  // Stop reading: the kernel buffers fill, then the gateway's.
  const raw = (ws.socket as unknown as { _socket: { pause: () => void, resume: () => void } })._socket
  raw.pause()
  for (let i = 0; i < 40 && g.ctx.streams.size > 0; i++) {
    await kafka.produceRaw(topic, Array.from({ length: 500 }, () => orders.record(0)))
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  t.equal(g.ctx.streams.size, 0, 'the gateway gave up on the client')
  // Reading again, the client gets what was buffered, then the close frame.
  raw.resume()
  const { code } = await ws.closed
  t.equal(code, 1013)
})

t.test('1000 concurrent clients on one view receive the same records in order', async t => {
  const topic = await kafka.createTopic('ws-fanout', 1)
  // 1000 connections from one address: above the default per-IP connection rate.
  const g = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: topic }), env: { STREAMSHARE_IP_CONNECTIONS_PER_MINUTE: '5000' } })
  // One share, 1000 subscribes: above the default requests_per_minute too.
  const { token } = await g.share(['orders'], { quota: { requests_per_minute: 5000 } })
  const clients: WsClient[] = []
  for (let batch = 0; batch < 10; batch++) {
    clients.push(...await Promise.all(Array.from({ length: 100 }, async () => await connect({ token }, g.partnerUrl))))
  }
  for (const c of clients) c.send({ type: 'subscribe', id: 'orders', product: 'orders' })
  await Promise.all(clients.map(async c => await c.waitFor(m => m.type === 'subscribed', 60000)))
  const produced = Array.from({ length: 20 }, () => orders.record(0))
  await kafka.produceRaw(topic, produced)
  await Promise.all(clients.map(async c => await c.waitForCount(m => m.type === 'record', 20, 60000)))
  const expected = produced.map(p => p.key)
  let identical = 0
  const reference = JSON.stringify(records(clients[0]!, 'orders'))
  for (const c of clients) {
    const got = records(c, 'orders')
    if (JSON.stringify(got.map(m => m.key)) === JSON.stringify(expected) && JSON.stringify(got) === reference) identical++
  }
  t.equal(identical, 1000, 'every client got all 20 records, in order, byte-identical')
  for (const c of clients) c.close()
})

t.test('shutdown → 1001', async t => {
  const topic = await kafka.createTopic('ws-shutdown', 1)
  const g = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: topic }) })
  const { token } = await g.share(['orders'])
  const ws = await connect({ token }, g.partnerUrl)
  ws.send({ type: 'subscribe', id: 'x', product: 'orders' })
  await ws.waitFor(m => m.type === 'subscribed')
  await g.close()
  t.equal((await ws.closed).code, 1001)
})
