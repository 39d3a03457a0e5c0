/**
 * View worker threads compute exactly what the main thread computes: the same
 * outcome per record (delivered, filtered, skipped with the same reason) and the same
 * envelope bytes and cursors. A failed thread loses nothing: its chunks are handed
 * back for the main thread to compute.
 */
import t, { type Test } from 'tap'
import { loadCatalog } from '../../src/catalog/load.js'
import { GatewaySecret } from '../../src/auth/gateway-secret.js'
import { bindPolicy } from '../../src/policy/index.js'
import { CursorCodec, cursorPayload } from '../../src/engine/cursor.js'
import { decodeRecord, NO_HEADERS, recordHeaders } from '../../src/engine/record-decoder.js'
import { viewRecord } from '../../src/engine/record-view.js'
import { viewBindingSpec } from '../../src/engine/share-view.js'
import { ViewWorkerPool, VIEW_CHUNK_RECORDS, type BatchViews, type WorkerBinding } from '../../src/engine/view-workers.js'
import { VIEW_FILTERED, VIEW_FILTER_ERROR, VIEW_RECORD, VIEW_SKIPPED_KEY_NOT_JSON, VIEW_SKIPPED_NOT_JSON, VIEW_SKIPPED_SCHEMA, envelopeCursor, resultText } from '../../src/engine/view-worker-protocol.js'
import { createLogger } from '../../src/observability/logger.js'
import type { KafkaRecord } from '../../src/kafka/types.js'
import type { PolicyDefinition, Product } from '../../src/catalog/types.js'
import { SHIPPED_POLICIES } from '../helpers/policies.js'
import { PartnerOrders } from '../helpers/records.js'

const catalog = await loadCatalog(SHIPPED_POLICIES)
const secret = new GatewaySecret('view-worker-test-secret-0123456789abcdef')
const cursors = new CursorCodec(secret.key('cursor'))
const partner = { id: 'partner-vw', attributes: { region: 'eu-west' } }
const logger = createLogger('silent')

function bindingOf (product: Product, policy: PolicyDefinition, shareId: string): WorkerBinding {
  return {
    key: `${catalog.version}|${shareId}|${policy.version}`,
    readsHeaders: policy.compiled.readsHeaders,
    spec: () => viewBindingSpec(product, policy, { shareId, partnerId: partner.id, partnerAttributes: partner.attributes }, secret)
  }
}

/** Every kind of record a replay meets, spread over 3 partitions. */
function mixedRecords (count: number): KafkaRecord[] {
  const orders = new PartnerOrders(7)
  const records: KafkaRecord[] = []
  const next = [5, 0, 100]
  for (let i = 0; i < count; i++) {
    const partition = i % 3
    const o = orders.record()
    let value: Buffer | null = Buffer.from(o.value)
    const headers: KafkaRecord['headers'] = { traceparent: Buffer.from(`00-${i}-01`), other: 'x' }
    if (i % 11 === 3) value = Buffer.from('{not json')
    if (i % 13 === 4) value = Buffer.from(JSON.stringify({ ...o.order, total: 'a lot' }))
    if (i % 17 === 5) value = Buffer.from(JSON.stringify({ ...o.order, region: 'us-east' }))
    if (i % 19 === 6) value = null
    if (i % 23 === 7) Object.defineProperty(headers, '__proto__', { value: Buffer.from('a header named __proto__'), enumerable: true })
    if (i % 29 === 8) headers.traceparent = [Buffer.from('first'), 'ünïcode-last']
    records.push({ topic: 't', partition, offset: next[partition]!++, timestamp: 1764000000000 + i * 997, key: Buffer.from(o.key), value, headers })
  }
  return records
}

const KIND = { not_json: VIEW_SKIPPED_NOT_JSON, schema: VIEW_SKIPPED_SCHEMA, key_not_json: VIEW_SKIPPED_KEY_NOT_JSON } as const

/** What the main thread computes for one record: [kind, text] as a worker reports it. */
function computedHere (product: Product, policy: PolicyDefinition, shareId: string, record: KafkaRecord, positions: Map<number, number>): [number, string] {
  // As Subscription.deliverReplay: every record moves the position, delivered or not.
  positions.set(record.partition, record.offset + 1)
  const decoded = decodeRecord(product, record)
  if (!decoded.ok) return [KIND[decoded.reason], decoded.detail]
  const view = bindPolicy(policy.compiled, { shareId, secret, partnerAttributes: partner.attributes, partnerId: partner.id })
  const headers = policy.compiled.readsHeaders ? recordHeaders(record.headers) : NO_HEADERS
  const out = viewRecord(JSON.stringify(product.name), { partition: record.partition, offset: record.offset, timestamp: record.timestamp, key: decoded.key, value: decoded.value, headers }, view, policy.version)
  if (!out.delivered) return [out.reason === 'filtered' ? VIEW_FILTERED : VIEW_FILTER_ERROR, '']
  return [VIEW_RECORD, out.prefix + cursors.encode(shareId, product.name, positions) + '"}']
}

async function settled (batch: BatchViews): Promise<void> {
  for (const chunk of batch.chunks) await chunk.done
}

async function readyPool (t: Test, restartDelayMs?: number): Promise<ViewWorkerPool> {
  const pool = new ViewWorkerPool({ size: 1, cursorKey: secret.key('cursor'), logger, restartDelayMs })
  t.teardown(async () => { await pool.close() })
  t.equal(pool.submit(bindingOf(catalog.products.get('orders')!, catalog.products.get('orders')!.policies.get('partner-basic')!, 's0'), [], undefined), undefined, 'no thread is ready at first: the caller computes')
  for (let i = 0; i < 600 && pool.ready === 0; i++) await new Promise(resolve => setTimeout(resolve, 50))
  t.equal(pool.ready, 1, 'the thread started')
  return pool
}

t.test('a thread computes the same outcome, envelope and cursor as the main thread', async t => {
  const pool = await readyPool(t)
  const product = catalog.products.get('orders')!
  const records = mixedRecords(300)
  for (const policyName of ['partner-basic', 'analytics-internal']) {
    const policy = product.policies.get(policyName)!
    const shareId = `share-${policyName}`
    const start = new Map([[0, 5], [1, 0], [2, 100]])
    const batch = pool.submit(bindingOf(product, policy, shareId), records, start)
    t.ok(batch !== undefined, 'submitted to the thread')
    await settled(batch!)
    t.same(batch!.signedFrom, cursorPayload(start), 'the batch says which positions its cursors were signed from')
    const positions = new Map(start)
    const seen = new Set<number>()
    let mismatches = 0
    let cursorMisses = 0
    for (let i = 0; i < records.length; i++) {
      const result = batch!.chunks[Math.floor(i / VIEW_CHUNK_RECORDS)]!.result
      if (result == null) { t.fail(`chunk of record ${i} failed`); continue }
      const kind = result.kinds[i % VIEW_CHUNK_RECORDS]!
      seen.add(kind)
      const [expectedKind, expectedText] = computedHere(product, policy, shareId, records[i]!, positions)
      const text = kind === VIEW_FILTERED || kind === VIEW_FILTER_ERROR ? '' : resultText(result, i % VIEW_CHUNK_RECORDS)
      if (kind !== expectedKind || text !== expectedText) {
        mismatches++
        if (mismatches < 4) t.same([kind, text], [expectedKind, expectedText], `${policyName}: record ${i}`)
      }
      if (kind === VIEW_RECORD && envelopeCursor(text) !== JSON.parse(text).cursor) cursorMisses++
    }
    t.equal(cursorMisses, 0, `${policyName}: envelopeCursor finds every envelope's cursor`)
    t.equal(mismatches, 0, `${policyName}: all ${records.length} records computed alike`)
    const expectedKinds = policyName === 'partner-basic' ? [VIEW_RECORD, VIEW_FILTERED, VIEW_SKIPPED_NOT_JSON, VIEW_SKIPPED_SCHEMA] : [VIEW_RECORD, VIEW_SKIPPED_NOT_JSON, VIEW_SKIPPED_SCHEMA]
    for (const kind of expectedKinds) t.ok(seen.has(kind), `${policyName}: the records include outcome ${kind}`)
  }
  t.equal(pool.stats.failedChunks, 0, 'no chunk failed')
  t.equal(pool.stats.records, 600, 'every record was computed by the thread')
})

t.test('without positions a thread returns envelopes up to the cursor', async t => {
  const pool = await readyPool(t)
  const product = catalog.products.get('orders')!
  const policy = product.policies.get('partner-basic')!
  const records = mixedRecords(40).filter(r => r.value !== null && decodeRecord(product, r).ok)
  const batch = pool.submit(bindingOf(product, policy, 's1'), records, undefined)!
  await settled(batch)
  t.equal(batch.signedFrom, undefined)
  const result = batch.chunks[0]!.result!
  const i = [...result.kinds].indexOf(VIEW_RECORD)
  t.ok(i >= 0)
  t.ok(resultText(result, i).endsWith('"cursor":"'), 'the prefix ends where the cursor goes')
})

t.test('a binding that does not compile fails its chunks, which the caller then computes', async t => {
  const pool = await readyPool(t)
  const product = catalog.products.get('orders')!
  const policy = product.policies.get('partner-basic')!
  const broken = bindingOf(product, { ...policy, fields: [['no.such.field', 'keep']] as PolicyDefinition['fields'] }, 's2')
  const batch = pool.submit(broken, mixedRecords(100), undefined)!
  await settled(batch)
  t.ok(batch.chunks.every(c => c.result === null), 'every chunk is handed back')
  t.equal(pool.stats.failedChunks, 2)
  // The thread is still there for other bindings.
  const good = pool.submit(bindingOf(product, policy, 's3'), mixedRecords(20), undefined)!
  await settled(good)
  t.ok(good.chunks[0]!.result != null, 'the next binding is computed')
})

t.test('a thread that dies hands its chunks back and is replaced', async t => {
  const pool = await readyPool(t, 100)
  const product = catalog.products.get('orders')!
  const binding = bindingOf(product, product.policies.get('partner-basic')!, 's4')
  const batch = pool.submit(binding, mixedRecords(2000), undefined)!
  // The thread is killed while it works through the batch.
  const threads = (pool as unknown as { threads: Array<{ worker: { terminate: () => Promise<number> } }> }).threads
  await threads[0]!.worker.terminate()
  await settled(batch)
  t.ok(batch.chunks.some(c => c.result === null), 'unfinished chunks are handed back, not lost')
  t.ok(batch.chunks.every(c => c.result !== undefined), 'every chunk settled')
  t.equal(pool.ready, 0, 'the thread is gone')
  await new Promise(resolve => setTimeout(resolve, 150))
  t.equal(pool.submit(binding, mixedRecords(20), undefined), undefined, 'a new thread is starting')
  for (let i = 0; i < 600 && pool.ready === 0; i++) await new Promise(resolve => setTimeout(resolve, 50))
  const again = pool.submit(binding, mixedRecords(20), undefined)!
  await settled(again)
  t.ok(again.chunks[0]!.result != null, 'the replacement computes')
})
