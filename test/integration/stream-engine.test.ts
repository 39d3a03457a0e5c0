/**
 * The stream engine against the real broker: exact resume under random
 * disconnects, replay → tap hand-over, gaps, schema quarantine, replay limits,
 * partitions added while streaming, shared bytes for aligned subscribers.
 */
import t, { type Test } from 'tap'
import { request } from 'undici'
import { deleteBefore, testKafka } from '../helpers/kafka.js'
import { policiesWithTopics } from '../helpers/policies.js'
import { startTestGateway } from '../helpers/gateway.js'
import { PartnerOrders } from '../helpers/records.js'
import { isStream, StreamClient, type WireMessage } from '../helpers/stream-client.js'
import { holdTap } from '../helpers/taps.js'
import { QUARANTINE_TOPIC } from '../../src/engine/quarantine.js'
import { FETCH_BYTES_PER_PARTITION } from '../../src/kafka/reader.js'

const kafka = testKafka()
t.teardown(async () => { await kafka.close() })
const orders = new PartnerOrders(41)

async function open (url: string, token: string, from?: string, format: 'sse' | 'ndjson' = 'ndjson'): Promise<StreamClient> {
  const s = await StreamClient.open(url + '/v1/streams/orders' + (from === undefined ? '' : `?from=${encodeURIComponent(from)}`), { token, format })
  if (!isStream(s)) throw new Error(`expected a stream, got ${s.status} ${JSON.stringify(s.problem)}`)
  return s
}

/** Produces `count` partner-visible orders over the topic's partitions, in batches. */
async function produce (topic: string, count: number, partitions: number, batch = 250): Promise<void> {
  for (let done = 0; done < count; done += batch) {
    const n = Math.min(batch, count - done)
    await kafka.produceRaw(topic, Array.from({ length: n }, (_, i) => orders.record((done + i) % partitions)))
  }
}

/** Asserts: per partition, exactly the offsets [from, to), in order, once each. */
function assertExact (t: Test, messages: WireMessage[], ranges: Map<number, [number, number]>, label: string): void {
  const byPartition = new Map<number, number[]>()
  for (const m of messages) {
    if (m.data.type !== 'record') continue
    const list = byPartition.get(m.data.partition) ?? []
    list.push(m.data.offset)
    byPartition.set(m.data.partition, list)
  }
  for (const [p, [from, to]] of ranges) {
    const got = byPartition.get(p) ?? []
    const expected = Array.from({ length: to - from }, (_, i) => from + i)
    const ok = got.length === expected.length && got.every((o, i) => o === expected[i])
    t.ok(ok, `${label}: partition ${p} has offsets ${from}..${to - 1} exactly once, in order (got ${got.length}, first ${got[0]}, last ${got.at(-1)})`)
  }
}

t.test('(a) exact resume: random disconnects while 20k records arrive over 3 partitions', async t => {
  const topic = await kafka.createTopic('resume-20k', 3)
  // A small ring: most resumes start before it and go through replay and hand-over.
  const gw = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: topic }), env: { STREAMSHARE_RING_MAX_RECORDS: '1500' } })
  const { token } = await gw.share(['orders'])
  const startMarks = new Map((await kafka.cluster.watermarks(topic)).map(m => [m.partition, m.high]))
  const total = 20000
  let stream = await open(gw.partnerUrl, token)
  const producing = produce(topic, total, 3)
  const received: WireMessage[] = []
  let reconnects = 0
  // Deterministic pseudo-random disconnect points.
  let seed = 7
  const nextChunk = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return 300 + (seed % 2500) }
  while (received.length < total) {
    const want = Math.min(total - received.length, nextChunk())
    try {
      await stream.waitFor(want, 60000)
    } catch {
      // The stream may end early (e.g. cut); resume below from what we have.
    }
    stream.close()
    await new Promise(resolve => setTimeout(resolve, 20))
    received.push(...stream.messages)
    if (received.length >= total) break
    const last = received.at(-1)
    stream = await open(gw.partnerUrl, token, last?.data.cursor as string | undefined)
    reconnects++
  }
  stream.close()
  await producing
  t.ok(reconnects >= 5, `${reconnects} reconnects`)
  const endMarks = new Map((await kafka.cluster.watermarks(topic)).map(m => [m.partition, m.high]))
  assertExact(t, received, new Map([...endMarks].map(([p, hi]) => [p, [startMarks.get(p) ?? 0, hi]])), 'union of all sessions')
  t.equal(received.length, total, 'exactly the records produced after the start: nothing lost, nothing twice')
})

t.test('(b) replay → tap hand-over: no gap or duplicate at the seam, the replay reader is released', async t => {
  const topic = await kafka.createTopic('handover', 1)
  const gw = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: topic }), env: { STREAMSHARE_RING_MAX_RECORDS: '100' } })
  const { token } = await gw.share(['orders'])
  await produce(topic, 3000, 1)
  const stream = await open(gw.partnerUrl, token, 'earliest')
  t.teardown(() => { stream.close() })
  // More records arrive while the stream replays history: the seam is crossed under load.
  const producing = produce(topic, 2000, 1, 100)
  await stream.waitFor(3000, 60000)
  await producing
  await stream.waitFor(5000, 60000)
  assertExact(t, stream.messages, new Map([[0, [0, 5000]]]), 'one partition')
  for (let i = 0; i < 50 && gw.ctx.taps.replayReaders > 0; i++) await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(gw.ctx.taps.replayReaders, 0, 'caught up: the stream now reads from the tap, its replay reader is gone')
  await produce(topic, 10, 1)
  await stream.waitFor(5010)
  assertExact(t, stream.messages, new Map([[0, [0, 5010]]]), 'after the hand-over')
})

t.test('(c) gaps: a position below the log start is announced with its range, then delivery goes on', async t => {
  const topic = await kafka.createTopic('gaps', 1)
  const gw = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: topic }) })
  const { token } = await gw.share(['orders'])
  await produce(topic, 20, 1)
  const first = await open(gw.partnerUrl, token, 'earliest')
  const [m0, m1, m2] = await first.waitFor(3)
  first.close()
  t.same([m0, m1, m2].map(m => m!.data.offset), [0, 1, 2])
  // Retention (here: an explicit delete) removes offsets 0..9.
  await deleteBefore(kafka, topic, 0, 10)
  const resumed = await open(gw.partnerUrl, token, m2!.data.cursor as string)
  t.teardown(() => { resumed.close() })
  const [gap, next] = await resumed.waitFor(2)
  t.match(gap!.data, { type: 'gap', partition: 0, from_offset: 3, to_offset: 9, reason: 'retention' })
  t.type(gap!.data.cursor, 'string')
  t.equal(next!.data.offset, 10, 'delivery continues from the earliest available')
  await resumed.waitFor(11)
  assertExact(t, resumed.messages, new Map([[0, [10, 20]]]), 'after the gap')
})

t.test('(c2) gaps: records deleted before the tap read them are announced too, live and from the ring', async t => {
  const topic = await kafka.createTopic('tap-gaps', 1)
  const gw = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: topic }) })
  const { token } = await gw.share(['orders'])
  const live = await open(gw.partnerUrl, token, 'latest')
  t.teardown(() => { live.close() })
  await produce(topic, 3, 1)
  const before = await live.waitFor(3)
  // Hold the tap's reader (as a stalled broker connection or a long GC would) while
  // retention deletes records it has not read.
  const tap = await holdTap(t, gw, 'orders')
  const reader = (tap as unknown as { reader: { pause: () => void, resume: () => void } }).reader
  reader.pause()
  await new Promise(resolve => setTimeout(resolve, 1000)) // a fetch in flight (≤ 250 ms) comes back
  await produce(topic, 10, 1) // offsets 3..12
  await deleteBefore(kafka, topic, 0, 8)
  reader.resume()
  const got = await live.waitFor(3 + 1 + 5)
  t.match(got[3]!.data, { type: 'gap', partition: 0, from_offset: 3, to_offset: 7, reason: 'retention' }, 'the live stream is told which offsets are gone')
  assertExact(t, got.slice(0, 3), new Map([[0, [0, 3]]]), 'before the gap')
  t.same(got.slice(4).map(m => m.data.offset), [8, 9, 10, 11, 12], 'then delivery goes on from the log start')
  // A stream resuming from before the gap reads it from the ring, with its own cursor.
  const resumed = await open(gw.partnerUrl, token, before[2]!.data.cursor as string)
  t.teardown(() => { resumed.close() })
  const again = await resumed.waitFor(6)
  t.match(again[0]!.data, { type: 'gap', partition: 0, from_offset: 3, to_offset: 7, reason: 'retention' })
  t.same(again.slice(1).map(m => m.data.offset), [8, 9, 10, 11, 12])
  t.equal(gw.ctx.taps.replayReaders, 0, 'served from the ring, no replay reader')
})

t.test('a record larger than one fetch returns per partition is delivered, live and on replay', async t => {
  const topic = await kafka.createTopic('big-record', 1)
  const gw = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: topic }) })
  const { token } = await gw.share([{ product: 'orders', policy: 'analytics-internal' }])
  const live = await open(gw.partnerUrl, token, 'latest')
  t.teardown(() => { live.close() })
  const big = orders.record(0)
  const value = { ...big.order, notes: 'x'.repeat(FETCH_BYTES_PER_PARTITION + 100_000) }
  await kafka.produceRaw(topic, [orders.record(0), { ...big, value: JSON.stringify(value) }, orders.record(0)])
  const got = await live.waitFor(3)
  t.same(got.map(m => m.data.offset), [0, 1, 2], 'live: all three, in order')
  t.equal(got[1]!.data.value.notes.length, FETCH_BYTES_PER_PARTITION + 100_000, 'the big one whole')
  const replayed = await open(gw.partnerUrl, token, 'earliest')
  t.teardown(() => { replayed.close() })
  t.same((await replayed.waitFor(3)).map(m => m.data.offset), [0, 1, 2], 'replay: the same')
})

t.test('(d) invalid records are skipped, quarantined with the reason, and the stream goes on', async t => {
  const topic = await kafka.createTopic('quarantine', 1)
  const gw = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: topic }) })
  const { token } = await gw.share(['orders'])
  const stream = await open(gw.partnerUrl, token)
  t.teardown(() => { stream.close() })
  const since = Date.now() - 1000
  const good = orders.record()
  await kafka.produceRaw(topic, [
    { key: 'bad-json', value: '{"order_id": ' },
    { key: 'bad-schema', value: JSON.stringify({ order_id: 'o-1', status: 'confirmed' }) },
    good
  ])
  const got = await stream.waitFor(3)
  t.same(got.map(m => m.data.type), ['skipped', 'skipped', 'record'])
  t.same(got.slice(0, 2).map(m => [m.data.offset, m.data.reason]), [[0, 'schema'], [1, 'schema']])
  t.equal(got[2]!.data.key, good.key)

  // The quarantine topic has both, keyed by their coordinates, with the reason.
  const found = new Map<string, Record<string, any>>()
  for (let attempt = 0; attempt < 50 && found.size < 2; attempt++) {
    const marks = await kafka.cluster.watermarks(QUARANTINE_TOPIC)
    const start = await kafka.cluster.offsetsForTimestamp(QUARANTINE_TOPIC, since)
    await kafka.cluster.readRange(QUARANTINE_TOPIC, start, new Map(marks.map(m => [m.partition, m.high])), (records) => {
      for (const r of records) {
        const key = r.key?.toString() ?? ''
        if (key.startsWith(`${topic}/`)) found.set(key, JSON.parse(r.value!.toString()))
      }
    }, 10000)
    if (found.size < 2) await new Promise(resolve => setTimeout(resolve, 200))
  }
  t.match(found.get(`${topic}/0/0`), { product: 'orders', partition: 0, offset: 0, reason: 'not_json' })
  t.match(found.get(`${topic}/0/1`), { product: 'orders', offset: 1, reason: 'schema', detail: /required|must/ })
  t.equal(Buffer.from(found.get(`${topic}/0/0`)!.value_base64 as string, 'base64').toString(), '{"order_id": ', 'the raw record is kept for the owners')
})

t.test('a replay computed by a view worker thread is byte for byte the replay computed on the main thread', async t => {
  const topic = await kafka.createTopic('view-workers', 3)
  const policiesDir = await policiesWithTopics({ orders: topic })
  const onMain = await startTestGateway(t, { policiesDir, env: { STREAMSHARE_VIEW_WORKERS: '0' } })
  const withThread = await startTestGateway(t, { policiesDir, env: { STREAMSHARE_VIEW_WORKERS: '1' } })
  t.equal(onMain.ctx.viewWorkers, undefined, 'STREAMSHARE_VIEW_WORKERS=0: no threads')
  const pool = withThread.ctx.viewWorkers
  if (pool === undefined) throw new Error('expected a view worker pool')
  pool.warm()
  for (let i = 0; i < 600 && pool.ready === 0; i++) await new Promise(resolve => setTimeout(resolve, 50))
  // One share on both instances (one registry): same hash key, same cursors.
  const { token, shareId } = await onMain.share([{ product: 'orders', policy: 'partner-basic' }])
  const records = []
  for (let i = 0; i < 1500; i++) {
    const r = orders.record(i % 3)
    if (i % 97 === 5) records.push({ ...r, value: '{"not json' })
    else if (i % 89 === 7) records.push({ ...r, value: JSON.stringify({ ...r.order, total: 'plenty' }) })
    else if (i % 83 === 9) records.push({ ...r, value: JSON.stringify({ ...r.order, region: 'us-east' }) })
    else records.push({ ...r, headers: { traceparent: `00-${i}-01`, dropped: 'not in the allow-list' } })
  }
  await kafka.produceRaw(topic, records)
  const filtered = records.filter(r => r.value.includes('"us-east"')).length
  const expected = records.length - filtered
  const readAll = async (url: string): Promise<Array<Record<string, any>>> => {
    const stream = await open(url, token, 'earliest', 'sse')
    try {
      await stream.waitFor(expected, 60000)
      // Anything beyond what was produced would show up here (and differ).
      await new Promise(resolve => setTimeout(resolve, 500))
      return stream.messages.map(m => m.data)
    } finally { stream.close() }
  }
  const main = await readAll(onMain.partnerUrl)
  const threaded = await readAll(withThread.partnerUrl)
  t.ok(pool.stats.records >= records.length, `the thread computed the views (${pool.stats.records} records, ${pool.stats.failedChunks} chunks failed)`)
  t.equal(pool.stats.failedChunks, 0)
  // The instances may interleave partitions differently (fetch order), so each
  // partition's messages are compared, and each cursor is checked on its own stream.
  const byPartition = (messages: Array<Record<string, any>>): Map<number, string[]> => {
    const parts = new Map<number, string[]>()
    for (const { cursor: _cursor, ...rest } of messages) parts.set(rest.partition, [...(parts.get(rest.partition) ?? []), JSON.stringify(rest)])
    return parts
  }
  const mainParts = byPartition(main)
  const threadParts = byPartition(threaded)
  for (const p of [0, 1, 2]) t.same(threadParts.get(p), mainParts.get(p), `partition ${p}: the same ${mainParts.get(p)?.length} messages, byte for byte`)
  const cursorProblems = (messages: Array<Record<string, any>>): string[] => {
    const problems: string[] = []
    const last = new Map<number, number>()
    for (const m of messages) {
      last.set(m.partition, m.offset + 1)
      const at = withThread.ctx.cursors.decode(shareId, 'orders', m.cursor)
      if (at.get(m.partition) !== m.offset + 1) problems.push(`${m.partition}/${m.offset}: own partition at ${at.get(m.partition)}`)
      for (const [p, next] of last) if ((at.get(p) ?? 0) < next) problems.push(`${m.partition}/${m.offset}: partition ${p} at ${at.get(p)}, behind ${next}`)
    }
    return problems
  }
  t.same(cursorProblems(threaded), [], 'every cursor of the threaded replay resumes right after its message')
  t.same(cursorProblems(main), [], 'and so does every cursor of the main-thread replay')
  const types = new Set(main.map(m => m.type))
  t.same([...types].sort(), ['record', 'skipped'], 'records and skipped messages were compared')
  t.equal(main.length, records.length - filtered, 'records the policy filters out are not delivered')
})

t.test('replay readers are limited per share: over the limit → 429 quota_exceeded with Retry-After', async t => {
  const topic = await kafka.createTopic('replay-limit', 1)
  const gw = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: topic }), env: { STREAMSHARE_RING_MAX_RECORDS: '10', STREAMSHARE_REPLAY_MAX_PER_SHARE: '1' } })
  const { token } = await gw.share(['orders'])
  await produce(topic, 200, 1)
  // A client that does not read: its replay reader stays busy.
  const busy = await StreamClient.open(gw.partnerUrl + '/v1/streams/orders?from=earliest', { token })
  t.ok(isStream(busy))
  const refused = await request(gw.partnerUrl + '/v1/streams/orders?from=earliest', { headers: { authorization: `Bearer ${token}` } })
  t.equal(refused.statusCode, 429)
  t.ok(refused.headers['retry-after'])
  t.equal((await refused.body.json() as { code: string }).code, 'quota_exceeded')
  const live = await StreamClient.open(gw.partnerUrl + '/v1/streams/orders', { token })
  t.ok(isStream(live), 'a live stream (no replay) is still admitted')
  if (isStream(busy)) busy.close()
  if (isStream(live)) live.close()
})

t.test('a partition added while streams are open is picked up', async t => {
  const topic = await kafka.createTopic('grow', 1)
  const gw = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: topic }), env: { STREAMSHARE_KAFKA_METADATA_MAX_AGE_MS: '2000' } })
  const { token } = await gw.share(['orders'])
  const stream = await open(gw.partnerUrl, token)
  t.teardown(() => { stream.close() })
  await produce(topic, 2, 1)
  await stream.waitFor(2)
  const admin = kafka.cluster.client.admin()
  await admin.connect()
  await admin.createPartitions({ topicPartitions: [{ topic, count: 2 }] })
  await admin.disconnect()
  // A producer that knows the new partition (our shared one refreshes its metadata later).
  const { testKafka: fresh } = await import('../helpers/kafka.js')
  const producer = fresh()
  t.teardown(async () => { await producer.close() })
  await producer.produceRaw(topic, [orders.record(1), orders.record(1), orders.record(1)])
  let sent = 3
  for (let i = 0; i < 30 && !stream.messages.some(m => m.data.partition === 1); i++) {
    await new Promise(resolve => setTimeout(resolve, 500))
  }
  await producer.produceRaw(topic, [orders.record(1)])
  sent++
  for (let i = 0; i < 20 && stream.messages.filter(m => m.data.partition === 1).length < sent; i++) await new Promise(resolve => setTimeout(resolve, 250))
  const onNew = stream.messages.filter(m => m.data.partition === 1).map(m => m.data.offset)
  t.ok(onNew.length > 0, 'records of the new partition arrive')
  t.equal(onNew[0], 0, 'from its first record')
  t.same(onNew, [0, 1, 2, 3], 'in order, none missing')
})

t.test('aligned subscriptions of one share receive identical bytes', async t => {
  const topic = await kafka.createTopic('shared-bytes', 2)
  const gw = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: topic }) })
  const { token } = await gw.share(['orders'])
  const a = await open(gw.partnerUrl, token, undefined, 'sse')
  const b = await open(gw.partnerUrl, token, undefined, 'sse')
  t.teardown(() => { a.close(); b.close() })
  await produce(topic, 20, 2)
  await a.waitFor(20)
  await b.waitFor(20)
  t.same(a.messages.map(m => m.id), b.messages.map(m => m.id), 'same cursors')
  t.equal(a.raw.slice(a.raw.indexOf('id:')), b.raw.slice(b.raw.indexOf('id:')), 'same bytes on the wire')
  const other = await gw.share(['orders'])
  const c = await open(gw.partnerUrl, other.token, a.messages[0]!.data.cursor as string).catch(() => undefined)
  t.equal(c, undefined, 'another share cannot use those cursors')
})
