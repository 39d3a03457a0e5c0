/**
 * Long-poll batches (CONTRACT §5): records and the cursor that continues after them,
 * limits, waiting, and the share's history window for where a read may start.
 */
import t from 'tap'
import { request } from 'undici'
import { testKafka } from '../helpers/kafka.js'
import { policiesWithTopics } from '../helpers/policies.js'
import { startTestGateway } from '../helpers/gateway.js'
import { PartnerOrders } from '../helpers/records.js'

const kafka = testKafka()
t.teardown(async () => { await kafka.close() })
const orders = new PartnerOrders(31)
const topic = await kafka.createTopic('batches', 2)
const gw = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: topic }) })

async function batch (token: string, query: string): Promise<{ status: number, body: any }> {
  const res = await request(`${gw.partnerUrl}/v1/streams/orders/records?${query}`, { headers: { authorization: `Bearer ${token}` } })
  return { status: res.statusCode, body: await res.body.json() }
}

t.test('pages through history with limit and cursor, then long-polls for new records', async t => {
  const { token } = await gw.share(['orders'])
  await kafka.produceRaw(topic, Array.from({ length: 25 }, (_, i) => orders.record(i % 2)))
  const seen: string[] = []
  let cursor: string | undefined
  let pages = 0
  for (let page = 0; page < 20 && seen.length < 25; page++) {
    const from = cursor === undefined ? 'earliest' : encodeURIComponent(cursor)
    const res = await batch(token, `from=${from}&limit=10&wait_ms=2000`)
    t.equal(res.status, 200)
    t.ok(res.body.records.length <= 10, 'limit respected')
    for (const r of res.body.records) seen.push(`${r.partition as number}:${r.offset as number}`)
    cursor = res.body.cursor
    pages++
  }
  t.equal(seen.length, 25, 'every record once')
  t.equal(new Set(seen).size, 25, 'no duplicates across pages')
  t.ok(pages >= 3, `${pages} pages`)

  // Nothing new: the poll waits, then returns no records and a usable cursor.
  const empty = await batch(token, `from=${encodeURIComponent(cursor!)}&limit=10&wait_ms=300`)
  t.same(empty.body.records, [])
  t.type(empty.body.cursor, 'string')
  // A record produced while a poll waits ends the wait with it.
  const waiting = batch(token, `from=${encodeURIComponent(empty.body.cursor as string)}&limit=10&wait_ms=20000`)
  await new Promise(resolve => setTimeout(resolve, 300))
  const fresh = orders.record(1)
  await kafka.produceRaw(topic, [fresh])
  const got = await waiting
  t.equal(got.body.records.length, 1)
  t.equal(got.body.records[0].key, fresh.key)
  t.equal(got.body.records[0].type, 'record')
})

t.test('wait_ms=0 from history still returns records: the first replay batch is awaited', async t => {
  // A fresh gateway and topic: the history below lies before its tap, so the batch is
  // served by a replay reader, whose group join takes longer than wait_ms=0.
  const history = await kafka.createTopic('batches-history', 2)
  await kafka.produceRaw(history, Array.from({ length: 30 }, (_, i) => orders.record(i % 2)))
  const g = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: history }) })
  const { token } = await g.share(['orders'])
  const seen = new Set<string>()
  let from = 'earliest'
  for (let poll = 0; poll < 10 && seen.size < 30; poll++) {
    const res = await request(`${g.partnerUrl}/v1/streams/orders/records?from=${encodeURIComponent(from)}&limit=1000&wait_ms=0`, { headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 200)
    const body = await res.body.json() as { records: Array<{ partition: number, offset: number }>, cursor: string }
    if (poll === 0) t.ok(body.records.length > 0, `the first poll returned ${body.records.length} records`)
    for (const r of body.records) seen.add(`${r.partition}:${r.offset}`)
    from = body.cursor
  }
  t.equal(seen.size, 30, 'every historic record, polling with wait_ms=0')
})

t.test('from=latest returns a cursor even when there is nothing yet, so nothing is lost between polls', async t => {
  const { token } = await gw.share(['orders'])
  const first = await batch(token, 'limit=5&wait_ms=0')
  t.same(first.body.records, [])
  const produced = orders.record(0)
  await kafka.produceRaw(topic, [produced])
  const second = await batch(token, `from=${encodeURIComponent(first.body.cursor as string)}&limit=5&wait_ms=5000`)
  t.same(second.body.records.map((r: { key: string }) => r.key), [produced.key])
})

t.test('bad parameters → 400', async t => {
  const { token } = await gw.share(['orders'])
  for (const query of ['limit=0', 'limit=1001', 'wait_ms=30001', 'wait_ms=-1', 'limit=abc', 'from=not-a-cursor']) {
    const res = await batch(token, query)
    t.equal(res.status, 400, query)
    t.match(res.body.code, /^(bad_request|cursor_invalid)$/, query)
  }
})

t.test('history window: none starts at now, P1D and all reach back as far as they allow', async t => {
  const historyTopic = await kafka.createTopic('history', 1)
  const g = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: historyTopic }) })
  const old = orders.record(0)
  // A record "from last week" (CreateTime) and one from now.
  await kafka.produceRaw(historyTopic, [{ key: old.key, value: old.value, timestamp: Date.now() - 7 * 86400e3 }])
  const recent = orders.record(0)
  await kafka.produceRaw(historyTopic, [recent])
  const keysFor = async (history: string, from: string): Promise<string[]> => {
    const { token } = await g.share(['orders'], { history })
    const res = await request(`${g.partnerUrl}/v1/streams/orders/records?from=${from}&limit=10&wait_ms=3000`, { headers: { authorization: `Bearer ${token}` } })
    return ((await res.body.json() as { records: Array<{ key: string }> }).records).map(r => r.key)
  }
  t.same(await keysFor('all', 'earliest'), [old.key, recent.key], 'all: everything')
  t.same(await keysFor('P1D', 'earliest'), [recent.key], 'P1D: earliest means one day back')
  t.same(await keysFor('P1D', '2000-01-01T00:00:00Z'), [recent.key], 'P1D: an older timestamp is moved up to the window')
  t.same(await keysFor('none', 'earliest'), [], 'none: earliest means now')
})
