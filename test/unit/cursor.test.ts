import t from 'tap'
import fc from 'fast-check'
import { createHmac, randomBytes } from 'node:crypto'
import { CursorCodec } from '../../src/engine/cursor.js'
import { GatewayError } from '../../src/errors.js'

const codec = new CursorCodec(randomBytes(32))

function code (fn: () => unknown): string | undefined {
  try { fn(); return undefined } catch (err) { return err instanceof GatewayError ? err.code : String(err) }
}

t.test('round-trips any positions (property)', async t => {
  fc.assert(fc.property(
    fc.dictionary(fc.integer({ min: 0, max: 9999 }).map(String), fc.oneof(fc.integer({ min: 0, max: 2 ** 31 }), fc.constant(Number.MAX_SAFE_INTEGER))),
    fc.string({ minLength: 1, maxLength: 40 }),
    (dict, share) => {
      const positions = new Map(Object.entries(dict).map(([p, o]) => [Number(p), o]))
      const cursor = codec.encode(share, 'orders', positions)
      const back = codec.decode(share, 'orders', cursor)
      return back.size === positions.size && [...positions].every(([p, o]) => back.get(p) === o) && /^[A-Za-z0-9_-]+$/.test(cursor)
    }
  ), { numRuns: 500 })
  t.pass('round-trips')
})

t.test('is compact', async t => {
  const positions = new Map(Array.from({ length: 12 }, (_, p) => [p, 1_000_000 + p]))
  const cursor = codec.encode('share-1', 'orders', positions)
  t.ok(cursor.length < 100, `12 partitions in ${cursor.length} chars`)
})

t.test('refuses tampered, foreign and malformed cursors', async t => {
  const cursor = codec.encode('share-1', 'orders', new Map([[0, 42], [1, 7]]))
  t.equal(code(() => codec.decode('share-2', 'orders', cursor)), 'cursor_invalid', 'other share')
  t.equal(code(() => codec.decode('share-1', 'shipments', cursor)), 'cursor_invalid', 'other product')
  t.equal(code(() => new CursorCodec(randomBytes(32)).decode('share-1', 'orders', cursor)), 'cursor_invalid', 'other gateway secret')
  for (const bad of ['', 'AAAA', '!!!', 'a'.repeat(20000), cursor + 'A', cursor.slice(0, -1)]) {
    t.equal(code(() => codec.decode('share-1', 'orders', bad)), 'cursor_invalid', `malformed ${bad.slice(0, 10)}`)
  }
  fc.assert(fc.property(fc.nat({ max: Buffer.from(cursor, 'base64url').length * 8 - 1 }), bit => {
    const raw = Buffer.from(cursor, 'base64url')
    raw[bit >> 3]! ^= 1 << (bit & 7)
    return code(() => codec.decode('share-1', 'orders', raw.toString('base64url'))) === 'cursor_invalid'
  }), { numRuns: 300 })
  t.pass('every single-bit flip is refused')
})

t.test('the wire form is HMAC-SHA-256(share \\0 product \\0 payload)[0..12], whatever order partitions were added in', async t => {
  const key = randomBytes(32)
  const codec = new CursorCodec(key)
  const sorted = codec.encode('sh_1', 'orders', new Map([[0, 5], [1, 300], [7, 2 ** 40]]))
  const shuffled = codec.encode('sh_1', 'orders', new Map([[7, 2 ** 40], [0, 5], [1, 300]]))
  t.equal(shuffled, sorted, 'partitions are written in ascending order')
  const raw = Buffer.from(sorted, 'base64url')
  const payload = raw.subarray(0, raw.length - 12)
  const mac = createHmac('sha256', key).update('sh_1\u0000orders\u0000').update(payload).digest().subarray(0, 12)
  t.equal(raw.subarray(raw.length - 12).toString('hex'), mac.toString('hex'), 'the same MAC node:crypto computes: cursors issued before stay valid')
  t.strictSame([...codec.decode('sh_1', 'orders', sorted)], [[0, 5], [1, 300], [7, 2 ** 40]])
})
