import t from 'tap'
import fc from 'fast-check'
import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'
import { flat, jsonPrefix, recordPrefix } from '../../src/engine/messages.js'

t.test('recordPrefix writes exactly what JSON.stringify of the envelope would', async t => {
  const json = fc.jsonValue({ maxDepth: 3 })
  fc.assert(fc.property(
    fc.string(), fc.nat({ max: 10_000 }), fc.maxSafeNat(), fc.integer({ min: 0, max: 8.64e15 }),
    fc.option(json, { nil: undefined }), json,
    fc.dictionary(fc.string(), fc.string()), fc.string(),
    (product, partition, offset, timestamp, key, value, headers, version) => {
      const expected = jsonPrefix({ type: 'record', product, partition, offset, timestamp: new Date(timestamp).toISOString(), key, value, headers, policy_version: version })
      return recordPrefix(JSON.stringify(product), partition, offset, timestamp, key, value, headers, version) === expected
    }
  ), { numRuns: 2000 })
})

t.test('flat() turns a built-up envelope into one flat string (what the ring keeps)', async t => {
  v8.setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const value = { order_id: 'o-1', total: 94.93, customer: { id: 'c-1', phone: '***4382' }, items: [{ sku: 'SKU-1006', quantity: 2 }] }
  // Heap bytes kept per envelope when 20,000 of them are held, built like the ring's frames.
  const perEnvelope = (keep: (text: string) => string): { bytes: number, chars: number } => {
    gc(); gc()
    const before = process.memoryUsage().heapUsed
    const held: string[] = []
    for (let i = 0; i < 20_000; i++) {
      const prefix = recordPrefix('"orders"', i % 3, 100_000 + i, 1764133200123 + i, `o-${i}`, value, { traceparent: `00-${i}` }, '1')
      held.push(keep(`id: c${i}\nevent: record\ndata: ${prefix}c${i}"}\n\n`))
    }
    gc(); gc()
    return { bytes: (process.memoryUsage().heapUsed - before) / held.length, chars: held[0]!.length }
  }
  const rope = perEnvelope(text => text)
  const flattened = perEnvelope(flat)
  t.ok(flattened.bytes < rope.bytes * 0.85, `flat keeps less: ${Math.round(flattened.bytes)} B against ${Math.round(rope.bytes)} B for a rope of ${rope.chars} characters`)
  t.ok(flattened.bytes < flattened.chars + 200, `about the text itself: ${Math.round(flattened.bytes)} B for ${flattened.chars} characters`)
  const built = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n'].reduce((s, c) => s + c + String(s.length), '')
  const copy = built.split('').join('')
  t.equal(flat(built), copy, 'the text is unchanged')
})
