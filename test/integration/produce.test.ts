/**
 * Partner produce (CONTRACT §5 produce row, §6 publish): write_schema validation,
 * all or nothing, size limits, stamped headers, audit — checked on the topic itself.
 */
import t from 'tap'
import { request } from 'undici'
import { testKafka } from '../helpers/kafka.js'
import { policiesWithTopics } from '../helpers/policies.js'
import { startTestGateway } from '../helpers/gateway.js'
import { isWsClient, WsClient } from '../helpers/ws-client.js'
import type { KafkaRecord } from '../../src/kafka/types.js'

const kafka = testKafka()
t.teardown(async () => { await kafka.close() })
const returnsTopic = await kafka.createTopic('returns', 2)
const ordersTopic = await kafka.createTopic('produce-orders', 1)
const gw = await startTestGateway(t, { policiesDir: await policiesWithTopics({ returns: returnsTopic, orders: ordersTopic }) })
const writer = await gw.share([{ product: 'returns', policy: 'own-returns', access: ['read', 'write'] }, 'orders'])

let seq = 0
function aReturn (extra: Record<string, unknown> = {}): Record<string, unknown> {
  seq++
  return { return_id: `r-${seq}`, order_id: `o-${100000 + seq}`, reason: 'damaged', items: [{ sku: 'SKU-1001', quantity: 1 }], requested_at: new Date().toISOString(), ...extra }
}

async function post (token: string, body: unknown, product = 'returns', raw?: string): Promise<{ status: number, body: any }> {
  const res = await request(`${gw.partnerUrl}/v1/streams/${product}/records`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: raw ?? JSON.stringify(body)
  })
  const text = await res.body.text()
  return { status: res.statusCode, body: text === '' ? undefined : JSON.parse(text) }
}

/**
 * Every committed record of the topic, once the records at `written` are readable.
 * A 201 means the transaction is committed, but Kafka writes the commit markers to
 * the partitions just after, and until then a read_committed reader (and the stable
 * offset our watermarks report) stops before them: reading at once made this test
 * miss a record now and then under load.
 */
async function topicRecords (topic: string, written: Array<{ partition: number, offset: number }>): Promise<KafkaRecord[]> {
  const deadline = Date.now() + 10_000
  let marks: Awaited<ReturnType<typeof kafka.cluster.watermarks>>
  for (;;) {
    marks = await kafka.cluster.watermarks(topic)
    if (written.every(w => (marks.find(m => m.partition === w.partition)?.high ?? 0) > w.offset) || Date.now() > deadline) break
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  const out: KafkaRecord[] = []
  await kafka.cluster.readRange(topic, new Map(marks.map(m => [m.partition, m.low])), new Map(marks.map(m => [m.partition, m.high])), r => { out.push(...r) }, 15000)
  return out
}

async function highWatermarks (topic: string): Promise<string> {
  return JSON.stringify((await kafka.cluster.watermarks(topic)).map(m => m.high))
}

t.test('one record and a batch: 201 with offsets in input order, stamped headers on the topic', async t => {
  const one = await post(writer.token, { key: 'r-one', value: aReturn({ return_id: 'r-one' }), headers: { traceparent: '00-abc-def-01' } })
  t.equal(one.status, 201)
  t.equal(one.body.offsets.length, 1)
  const batch = [aReturn(), aReturn(), aReturn()].map(v => ({ key: v.return_id, value: v }))
  const many = await post(writer.token, batch)
  t.equal(many.status, 201)
  t.equal(many.body.offsets.length, 3)
  const onTopic = await topicRecords(returnsTopic, [...one.body.offsets, ...many.body.offsets])
  for (const [i, { partition, offset }] of (many.body.offsets as Array<{ partition: number, offset: number }>).entries()) {
    const r = onTopic.find(x => x.partition === partition && x.offset === offset)
    t.ok(r, `record ${i} is at ${partition}:${offset}`)
    t.equal(r?.key?.toString(), batch[i]!.key)
    t.same(JSON.parse(r!.value!.toString()), batch[i]!.value)
    t.equal(r?.headers['streamshare-partner']?.toString(), writer.partnerId, 'partner id stamped')
    t.equal(r?.headers['streamshare-share']?.toString(), writer.shareId, 'share id stamped')
  }
  const first = onTopic.find(x => x.key?.toString() === 'r-one')
  t.equal(first?.headers.traceparent?.toString(), '00-abc-def-01', 'partner headers pass')
})

t.test('a schema-invalid record in a batch: 400 schema_invalid with paths, no values, nothing written', async t => {
  const before = await highWatermarks(returnsTopic)
  const secret = 'SECRET-VALUE-1234'
  const res = await post(writer.token, [{ value: aReturn() }, { value: aReturn() }, { value: aReturn({ reason: secret }) }])
  t.equal(res.status, 400)
  t.equal(res.body.code, 'schema_invalid')
  t.same(res.body.errors, [{ path: '/2/value/reason', message: 'must be equal to one of the allowed values' }])
  t.notMatch(JSON.stringify(res.body), secret, 'the offending value is not echoed')
  t.equal(await highWatermarks(returnsTopic), before, 'nothing was written: all or nothing')
  const single = await post(writer.token, { value: aReturn({ items: [] }) })
  t.same(single.body.errors, [{ path: '/value/items', message: 'must NOT have fewer than 1 items' }])
  const unknownField = await post(writer.token, { value: aReturn({ internal_cost: 12 }) })
  t.equal(unknownField.status, 400)
  t.match(unknownField.body.errors[0].path, /^\/value/)
  const reserved = await post(writer.token, { value: aReturn(), headers: { 'streamshare-partner': 'someone-else' } })
  t.equal(reserved.status, 400, 'the stamped headers cannot be forged')
  t.equal(reserved.body.errors[0].path, '/headers/streamshare-partner')
  t.equal(await highWatermarks(returnsTopic), before)
})

t.test('size limits → 413, nothing written', async t => {
  const before = await highWatermarks(returnsTopic)
  const big = await post(writer.token, { value: aReturn({ notes: 'x'.repeat(2 * 1024 * 1024) }) })
  t.equal(big.status, 413, 'body over the limit')
  t.equal(big.body.code, 'payload_too_large')
  const tooMany = await post(writer.token, Array.from({ length: 501 }, () => ({ value: aReturn() })))
  t.equal(tooMany.status, 400, 'more than 500 records (schema maxItems)')
  t.equal(await highWatermarks(returnsTopic), before)
})

t.test('write access: a read-only share or a product without write_schema → 403', async t => {
  const reader = await gw.share([{ product: 'returns', policy: 'own-returns', access: ['read'] }])
  const readOnly = await post(reader.token, { value: aReturn() })
  t.equal(readOnly.status, 403)
  t.equal(readOnly.body.code, 'scope_missing')
  const orders = await post(writer.token, { value: { order_id: 'o-1' } }, 'orders')
  t.equal(orders.status, 403, 'orders has no write_schema: never writable')
  const grant = await gw.adminApi('POST', '/admin/v1/shares', { partner: writer.partnerId, products: [{ product: 'orders', policy: 'partner-basic', access: ['read', 'write'] }] })
  t.equal(grant.status, 400, 'and no share can even be granted write on it')
})

t.test('WebSocket publish: published with partition and offset; errors carry the ref', async t => {
  const ws = await WsClient.connect(gw.partnerUrl, { token: writer.token })
  if (!isWsClient(ws)) throw new Error('refused')
  t.teardown(() => { ws.close() })
  const value = aReturn()
  ws.send({ type: 'publish', ref: 'p1', product: 'returns', key: value.return_id, value })
  const ok = await ws.waitFor(m => m.ref === 'p1')
  t.match(ok, { type: 'published', ref: 'p1', partition: Number, offset: Number })
  ws.send({ type: 'publish', ref: 'p2', product: 'returns', value: aReturn({ quantity: 'lots', reason: 'NOPE' }) })
  const bad = await ws.waitFor(m => m.ref === 'p2')
  t.match(bad, { type: 'error', ref: 'p2', status: 400, code: 'schema_invalid' })
  t.notMatch(JSON.stringify(bad), 'NOPE')
  ws.send({ type: 'publish', ref: 'p3', product: 'orders', value: {} })
  t.match(await ws.waitFor(m => m.ref === 'p3'), { type: 'error', status: 403, code: 'scope_missing' })
  const onTopic = await topicRecords(returnsTopic, [ok as { partition: number, offset: number }])
  t.ok(onTopic.some(r => r.partition === ok.partition && r.offset === ok.offset && r.headers['streamshare-share']?.toString() === writer.shareId))
})

t.test('the writer reads its own returns back (own-returns filters by partner), others do not see them', async t => {
  // The last publish's commit marker may still be on its way (see topicRecords): a
  // batch can end before that record is readable, so read until it is.
  let body: { records: Array<{ value: Record<string, unknown>, headers: Record<string, string> }> } = { records: [] }
  for (let attempt = 0; attempt < 20 && body.records.length < 5; attempt++) {
    const mine = await request(`${gw.partnerUrl}/v1/streams/returns/records?from=earliest&limit=100&wait_ms=3000`, { headers: { authorization: `Bearer ${writer.token}` } })
    body = await mine.body.json() as typeof body
  }
  t.ok(body.records.length >= 5, `${body.records.length} records read back`)
  t.ok(body.records.every(r => r.headers['streamshare-partner'] === writer.partnerId))
  const other = await gw.share([{ product: 'returns', policy: 'own-returns', access: ['read', 'write'] }])
  const theirs = await request(`${gw.partnerUrl}/v1/streams/returns/records?from=earliest&limit=100&wait_ms=500`, { headers: { authorization: `Bearer ${other.token}` } })
  t.same((await theirs.body.json() as { records: unknown[] }).records, [], 'another partner sees none of them')
})

t.test('every produce is audited', async t => {
  let records: Array<Record<string, any>> = []
  for (let i = 0; i < 50; i++) {
    records = (await gw.adminApi('GET', `/admin/v1/audit?share=${writer.shareId}`)).body.records.filter((r: { kind: string }) => r.kind === 'produce')
    if (records.length >= 3) break
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  t.ok(records.length >= 3, `${records.length} produce records`)
  t.match(records.find(r => r.records === 3), { kind: 'produce', action: 'publish', product: 'returns', transport: 'http', partner: writer.partnerId })
  t.ok(records.some(r => r.transport === 'ws'))
  t.notMatch(JSON.stringify(records), 'SKU-1001', 'no record data in the audit')
})

t.test('a cursor resting on a transaction marker moves past it and hands over to the tap', async t => {
  // Every partner write is a transaction: after its last record comes a commit marker,
  // a control record no consumer sees. The cursor after that last record points at
  // the marker. Once the tap has moved on (here: it closed when idle and restarts at
  // the end of the topic), a reader started there must still move past the marker.
  const g = await startTestGateway(t, { policiesDir: await policiesWithTopics({ returns: await kafka.createTopic('returns-markers', 1) }), env: { STREAMSHARE_TAP_IDLE_MS: '0' } })
  const me = await g.share([{ product: 'returns', policy: 'own-returns', access: ['read', 'write'] }])
  const auth = { authorization: `Bearer ${me.token}` }
  const live = await request(`${g.partnerUrl}/v1/streams/returns?format=ndjson`, { headers: auth })
  const lines: Array<Record<string, any>> = []
  let buffered = ''
  live.body.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    const parts = buffered.split('\n')
    buffered = parts.pop() ?? ''
    for (const line of parts) if (line !== '') lines.push(JSON.parse(line) as Record<string, any>)
  })
  await new Promise(resolve => setTimeout(resolve, 300))
  const write = await request(`${g.partnerUrl}/v1/streams/returns/records`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ value: aReturn() }) })
  t.equal(write.statusCode, 201)
  await write.body.dump()
  for (let i = 0; i < 100 && !lines.some(l => l.type === 'record'); i++) await new Promise(resolve => setTimeout(resolve, 50))
  const atMarker = lines.find(l => l.type === 'record')?.cursor as string
  t.ok(atMarker, 'the record arrived live, with its cursor')
  live.body.destroy()
  await new Promise(resolve => setTimeout(resolve, 500)) // the idle tap closes

  const page = await request(`${g.partnerUrl}/v1/streams/returns/records?from=${encodeURIComponent(atMarker)}&wait_ms=0`, { headers: auth })
  const body = await page.body.json() as { records: unknown[], cursor: string }
  t.same(body.records, [], 'nothing after the record')
  t.not(body.cursor, atMarker, 'even with wait_ms=0 the cursor moves past the marker')

  const replayReaders = async (): Promise<number> => {
    const res = await request(`${g.adminUrl}/metrics`)
    return Number(/^streamshare_replay_readers (\d+)/m.exec(await res.body.text())?.[1] ?? NaN)
  }
  const resumed = await request(`${g.partnerUrl}/v1/streams/returns?format=ndjson&from=${encodeURIComponent(atMarker)}`, { headers: auth })
  t.equal(resumed.statusCode, 200)
  let readers = await replayReaders()
  for (let i = 0; i < 100 && readers !== 0; i++) {
    await new Promise(resolve => setTimeout(resolve, 100))
    readers = await replayReaders()
  }
  t.equal(readers, 0, 'the resumed stream left replay for the tap without any new record')
  resumed.body.destroy()
})
