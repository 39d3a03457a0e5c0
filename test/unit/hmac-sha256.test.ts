import t from 'tap'
import fc from 'fast-check'
import { createHmac } from 'node:crypto'
import { HmacSha256 } from '../../src/auth/hmac-sha256.js'

const reference = (key: Uint8Array, ...parts: Array<string | Uint8Array>): Buffer => {
  const h = createHmac('sha256', key)
  for (const p of parts) h.update(p)
  return h.digest()
}

t.test('RFC 4231 test case 2 (key "Jefe")', async t => {
  const h = new HmacSha256(Buffer.from('Jefe'))
  t.equal(Buffer.from(h.base64url('what do ya want for nothing?'), 'base64url').toString('hex'),
    '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843')
})

t.test('equals node:crypto for random keys and texts (block edges, non-ASCII, lone surrogates)', async t => {
  fc.assert(fc.property(
    fc.uint8Array({ minLength: 0, maxLength: 150 }),
    fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.nat({ max: 200 }).map(n => 'x'.repeat(n)),
      fc.constantFrom('', '\uD800', 'a\uDC00b', '€', '😀'.repeat(30))
    ),
    (key, text) => {
      const h = new HmacSha256(key)
      const expected = reference(key, Buffer.from(text, 'utf8')).toString('base64url')
      return h.base64url(text) === expected && h.base64url(text) === expected // twice: no state leaks between calls
    }
  ), { numRuns: 2000 })
})

t.test('every message length from 0 to 300 (the padding crosses block edges at 55/56 and 119/120)', async t => {
  const key = Buffer.alloc(32, 9)
  const h = new HmacSha256(key)
  let mismatches = 0
  for (let n = 0; n <= 300; n++) {
    const text = 'ab'.repeat(n).slice(0, n)
    if (h.base64url(text) !== reference(key, text).toString('base64url')) mismatches++
  }
  t.equal(mismatches, 0)
})

t.test('truncatedInto: prefix + message, first N bytes, written at an offset', async t => {
  fc.assert(fc.property(
    fc.uint8Array({ minLength: 16, maxLength: 64 }),
    fc.uint8Array({ maxLength: 120 }),
    fc.uint8Array({ maxLength: 200 }),
    fc.integer({ min: 1, max: 32 }),
    fc.nat({ max: 10 }),
    (key, prefix, message, size, at) => {
      const out = new Uint8Array(at + size + 3).fill(0xaa)
      // Only the first messageLength bytes count: pass a longer buffer to check that.
      const padded = new Uint8Array(message.length + 5).fill(0x77)
      padded.set(message)
      new HmacSha256(key).truncatedInto(prefix, padded, message.length, size, out, at)
      const expected = reference(key, prefix, message).subarray(0, size)
      return Buffer.from(out.subarray(at, at + size)).equals(expected) &&
        out.subarray(0, at).every(b => b === 0xaa) && out.subarray(at + size).every(b => b === 0xaa)
    }
  ), { numRuns: 1000 })
})

t.test('instances with different keys do not share state', async t => {
  const a = new HmacSha256(Buffer.alloc(32, 1))
  const b = new HmacSha256(Buffer.alloc(32, 2))
  const first = a.base64url('"c-1"')
  b.base64url('"c-1"')
  t.equal(a.base64url('"c-1"'), first)
  t.not(first, b.base64url('"c-1"'))
})

t.test('a very long value (the scratch buffer grows, then is given back) and short ones after it', async t => {
  const key = Buffer.alloc(32, 5)
  const h = new HmacSha256(key)
  const long = 'é'.repeat(100_000)
  t.equal(h.base64url(long), reference(key, long).toString('base64url'))
  t.equal(h.base64url('"c-1"'), reference(key, '"c-1"').toString('base64url'))
  t.equal(h.base64url(long + 'x'), reference(key, long + 'x').toString('base64url'))
})
