/**
 * A passthrough policy (deny mode, nothing listed) delivers each record value as the
 * JSON text it was produced as — spliced into the envelope instead of parsed and
 * serialised again — in tap mode and in replay, on SSE and NDJSON; a value written
 * over several lines takes the serialising path, so frames stay intact.
 */
import t, { type Test } from 'tap'
import { appendFile } from 'node:fs/promises'
import path from 'node:path'
import { testKafka } from '../helpers/kafka.js'
import { policiesWithTopics } from '../helpers/policies.js'
import { startTestGateway } from '../helpers/gateway.js'
import { isStream, StreamClient } from '../helpers/stream-client.js'
import { PartnerOrders } from '../helpers/records.js'

const kafka = testKafka()
t.teardown(async () => { await kafka.close() })
const topic = await kafka.createTopic('passthrough', 1)
const policiesDir = await policiesWithTopics({ orders: topic })
await appendFile(path.join(policiesDir, 'products', 'orders.yaml'), '\n  passthrough:\n    mode: deny\n    description: Every field as produced.\n    fields: {}\n')
const gw = await startTestGateway(t, { policiesDir })
const { token } = await gw.share([{ product: 'orders', policy: 'passthrough' }])
const orders = new PartnerOrders(11)

// Texts JSON.stringify(JSON.parse(text)) would change: a number beyond 2^53 (its exact
// digits), an exponent, escapes, spacing; and one value over several lines.
const exact = (n: number): { key: string, value: string } => {
  const o = orders.next()
  const body = JSON.stringify({ ...o.value, order_id: `o-900${n}` }).slice(1, -1)
  return { key: `k-${n}`, value: `{ "big_id": 12345678901234567891, "ratio": 1.50e2, "note": "caf\\u00e9 \\/ tab\\t", ${body} }` }
}
const multiLine = (): { key: string, value: string } => {
  const o = orders.next()
  return { key: 'k-multi', value: JSON.stringify({ ...o.value, order_id: 'o-9999' }, null, 2) }
}

async function open (query: string, format: 'sse' | 'ndjson'): Promise<StreamClient> {
  const s = await StreamClient.open(`${gw.partnerUrl}/v1/streams/orders${query}`, { token, format })
  if (!isStream(s)) throw new Error(`no stream: ${s.status} ${JSON.stringify(s.problem)}`)
  t.teardown(() => { s.close() })
  return s
}

function checkDelivered (t: Test, s: StreamClient, records: Array<{ key: string, value: string }>): void {
  const got = s.messages.filter(m => m.data.type === 'record')
  t.same(got.map(m => m.data.key), records.map(r => r.key), 'every record, in order, each in its own frame')
  for (let i = 0; i < records.length; i++) {
    const sent = records[i]!
    t.same(got[i]!.data.value, JSON.parse(sent.value), `${sent.key}: the value parses to what was produced`)
    if (sent.key === 'k-multi') continue
    t.ok(s.raw.includes(`"value":${sent.value},"headers":`), `${sent.key}: its text went out as produced`)
  }
  t.ok(s.raw.includes('12345678901234567891'), 'the big number keeps its exact digits')
}

t.test('tap mode: records produced while streams are open', async t => {
  const sse = await open('', 'sse')
  const ndjson = await open('', 'ndjson')
  const records = [exact(1), multiLine(), exact(2)]
  await kafka.produceRaw(topic, records)
  await sse.waitFor(3)
  await ndjson.waitFor(3)
  checkDelivered(t, sse, records)
  checkDelivered(t, ndjson, records)
  t.equal(ndjson.raw.split('\n').filter(line => line.includes('"type":"record"')).length, 3, 'NDJSON: one line per record')
})

t.test('replay: the same records read from earliest by a private reader', async t => {
  const records = [exact(3), multiLine(), exact(4)]
  await kafka.produceRaw(topic, records)
  const sse = await open('?from=earliest', 'sse')
  await sse.waitFor(6)
  const [first, , , ...rest] = sse.messages.filter(m => m.data.type === 'record')
  t.equal(first!.data.key, 'k-1')
  t.same(rest.map(m => m.data.key), records.map(r => r.key))
  for (const r of records) if (r.key !== 'k-multi') t.ok(sse.raw.includes(`"value":${r.value},"headers":`), `${r.key}: as produced`)
})

t.test('the tap ring keeps each record as its text, not as a parsed tree', async t => {
  // A listener of our own on the same tap the streams use.
  const tap = await gw.ctx.taps.acquire('orders', { wake () {} })
  t.teardown(() => { gw.ctx.taps.release(tap, { wake () {} }) })
  const stream = await open('', 'ndjson')
  const records = [exact(5), exact(6)]
  await kafka.produceRaw(topic, records)
  await stream.waitFor(2)
  const entries = []
  for (let seq = tap.ring.firstSeq; tap.ring.at(seq) !== undefined; seq++) entries.push(tap.ring.at(seq)!)
  const ours = entries.filter(e => records.some(r => r.value === e.valueText))
  t.equal(ours.length, 2, 'both records are in the ring with their text')
  t.ok(ours.every(e => e.value === undefined), 'their parsed values were let go once the stream had its view')
  // A share reading them later (its first view of these entries) parses the text again.
  const other = await gw.share([{ product: 'orders', policy: 'partner-basic' }])
  const late = await StreamClient.open(`${gw.partnerUrl}/v1/streams/orders?from=earliest`, { token: other.token, format: 'ndjson' })
  if (!isStream(late)) throw new Error('no stream')
  t.teardown(() => { late.close() })
  const got = await late.waitFor(8) // everything produced in this file so far
  const last = got.filter(m => m.data.type === 'record').slice(-2)
  t.same(last.map(m => m.data.value.order_id), ['o-9005', 'o-9006'], 'views computed from the text later are right')
  t.notOk(JSON.stringify(last).includes('big_id'), 'and still redacted by their policy')
})
