import t from 'tap'
import { createHmac } from 'node:crypto'
import {
  WITHHELD, actionContext, generalizeMillis, generalizeTimestamp, generalizeValue, hashValue, keepScalar,
  maskValue, truncateNumber, truncateString, truncateValue
} from '../../src/policy/actions.js'
import { canonicalJson } from '../../src/policy/canonical-json.js'

const ctx = actionContext(Buffer.alloc(32, 7))

t.test('mask: keep_last / keep_first, one * per hidden character (code points)', async t => {
  t.equal(maskValue(0, 4)('+31 6 1234 5678', ctx), '***********5678')
  t.equal(maskValue(2, 0)('secret', ctx), 'se****')
  t.equal(maskValue(2, 2)('abcdef', ctx), 'ab**ef')
  t.equal(maskValue(0, 0)('abc', ctx), '***')
  t.equal(maskValue(0, 1)('😀😀😀😀😀', ctx), '****😀', 'a surrogate pair is one character')
  t.equal(maskValue(1, 0)('ñandú', ctx), 'ñ****')
})

t.test('mask: a value not longer than the kept part is masked completely', async t => {
  t.equal(maskValue(0, 4)('1234', ctx), '****', 'exactly the kept length would show it all')
  t.equal(maskValue(0, 4)('123', ctx), '***')
  t.equal(maskValue(2, 2)('abcd', ctx), '****')
  t.equal(maskValue(0, 4)('', ctx), '')
})

t.test('mask: numbers and booleans as their text; null stays null; objects are withheld', async t => {
  t.equal(maskValue(0, 2)(123456, ctx), '****56')
  t.equal(maskValue(1, 0)(true, ctx), 't***')
  t.equal(maskValue(0, 2)(null, ctx), null)
  t.equal(maskValue(0, 2)({ a: 1 }, ctx), WITHHELD)
  t.equal(maskValue(0, 2)(['1234'], ctx), WITHHELD)
})

t.test('truncate strings: first N code points, never half a surrogate pair', async t => {
  t.equal(truncateString('1012 AB', 3), '101')
  t.equal(truncateString('héllo wörld', 3), 'hél')
  t.equal(truncateString('😀😀😀', 2), '😀😀')
  t.equal(truncateString('ab', 5), 'ab')
  t.equal(truncateString('abc', 0), '')
  t.equal(truncateValue(3)('Amsterdam', ctx), 'Ams')
})

t.test('truncate numbers: N decimals, toward zero, on the decimal text', async t => {
  t.equal(truncateNumber(52.36769, 1), 52.3)
  t.equal(truncateNumber(-122.3321, 1), -122.3)
  t.equal(truncateNumber(-74.006, 1), -74)
  t.equal(truncateNumber(0.29, 2), 0.29, 'not 0.28 (0.29 * 100 = 28.999...)')
  t.equal(truncateNumber(0.299, 2), 0.29)
  t.equal(truncateNumber(1.5, 0), 1)
  t.equal(truncateNumber(-1.5, 0), -1)
  t.ok(Object.is(truncateNumber(-0.05, 1), 0), 'never -0')
  t.equal(truncateNumber(1e-7, 3), 0)
  t.equal(truncateNumber(1.23e-5, 6), 0.000012)
  t.equal(truncateNumber(1.23e-5, 9), 1.23e-5)
  t.equal(truncateNumber(1e21, 2), 1e21)
  t.equal(truncateNumber(123, 0), 123)
  t.equal(truncateNumber(4.9041, 8), 4.9041)
  t.equal(truncateValue(1)(true, ctx), WITHHELD)
  t.equal(truncateValue(1)(null, ctx), null)
})

t.test('generalize RFC 3339 timestamps: zero the finer parts, keep the shape, UTC Z', async t => {
  const ts = '2026-11-25T10:17:33.123Z'
  t.equal(generalizeTimestamp(ts, 'second'), '2026-11-25T10:17:33.000Z')
  t.equal(generalizeTimestamp(ts, 'minute'), '2026-11-25T10:17:00.000Z')
  t.equal(generalizeTimestamp(ts, 'hour'), '2026-11-25T10:00:00.000Z')
  t.equal(generalizeTimestamp(ts, 'day'), '2026-11-25T00:00:00.000Z')
  t.equal(generalizeTimestamp(ts, 'month'), '2026-11-01T00:00:00.000Z')
  t.equal(generalizeTimestamp('2026-11-25T10:17:33Z', 'hour'), '2026-11-25T10:00:00Z', 'no fraction stays no fraction')
  t.equal(generalizeTimestamp('2026-11-25t10:17:33.123456z', 'minute'), '2026-11-25T10:17:00.000000Z')
  t.equal(generalizeTimestamp('2026-11-25T01:30:00+02:00', 'day'), '2026-11-24T00:00:00Z', 'offsets move to UTC first')
  t.equal(generalizeTimestamp('2026-11-30T23:30:00-01:00', 'month'), '2026-12-01T00:00:00Z')
  t.equal(generalizeTimestamp('2026-11-25', 'month'), '2026-11-01', 'a full-date')
  t.equal(generalizeTimestamp('2026-11-25', 'hour'), '2026-11-25')
  t.equal(generalizeTimestamp('yesterday', 'day'), undefined)
  t.equal(generalizeValue('day')('yesterday', ctx), WITHHELD)
  t.equal(generalizeValue('day')({ at: ts }, ctx), WITHHELD)
  t.equal(generalizeValue('day')(null, ctx), null)
})

t.test('generalize epoch milliseconds', async t => {
  const ms = Date.UTC(2026, 10, 25, 10, 17, 33, 123)
  t.equal(generalizeMillis(ms, 'second'), Date.UTC(2026, 10, 25, 10, 17, 33))
  t.equal(generalizeMillis(ms, 'minute'), Date.UTC(2026, 10, 25, 10, 17))
  t.equal(generalizeMillis(ms, 'hour'), Date.UTC(2026, 10, 25, 10))
  t.equal(generalizeMillis(ms, 'day'), Date.UTC(2026, 10, 25))
  t.equal(generalizeMillis(ms, 'month'), Date.UTC(2026, 10, 1))
  t.equal(generalizeMillis(-1, 'second'), -1000, 'before 1970 floors down')
  t.equal(generalizeValue('hour')(ms, ctx), Date.UTC(2026, 10, 25, 10))
})

t.test('hash: HMAC-SHA-256 of the canonical JSON text, base64url', async t => {
  const key = Buffer.alloc(32, 7)
  const expected = createHmac('sha256', key).update('"c-123456"').digest('base64url')
  t.equal(hashValue('c-123456', ctx), expected)
  t.equal(hashValue('c-123456', ctx), expected, 'stable (and served from the cache)')
  t.match(hashValue('x', ctx), /^[A-Za-z0-9_-]{43}$/)
  t.not(hashValue(1, ctx), hashValue('1', ctx), 'the number 1 and the string "1" differ')
  t.equal(hashValue({ b: 1, a: [1, 'x'] }, ctx), hashValue({ a: [1, 'x'], b: 1 }, ctx), 'key order does not matter')
  t.equal(hashValue(null, ctx), null)
  const other = actionContext(Buffer.alloc(32, 8))
  t.not(hashValue('c-123456', other), expected, 'another key, another hash')
})

t.test('hash cache is bounded', async t => {
  const c = actionContext(Buffer.alloc(32, 1))
  for (let i = 0; i < 2000; i++) hashValue(`v${i}`, c)
  t.ok(c.hashCache.size <= 512)
})

t.test('keep in allow mode passes scalars and arrays of scalars only', async t => {
  t.equal(keepScalar('a', ctx), 'a')
  t.equal(keepScalar(0, ctx), 0)
  t.equal(keepScalar(null, ctx), null)
  t.same(keepScalar(['a', 1, [2]], ctx), ['a', 1, [2]])
  t.equal(keepScalar({ a: 1 }, ctx), WITHHELD)
  t.equal(keepScalar([{ a: 1 }], ctx), WITHHELD)
})

t.test('canonical JSON sorts keys at every depth', async t => {
  t.equal(canonicalJson({ b: { d: 1, c: [true, null] }, a: 'x' }), '{"a":"x","b":{"c":[true,null],"d":1}}')
  t.equal(canonicalJson('é'), '"é"')
  t.equal(canonicalJson(1.5), '1.5')
})

t.test('generalize: the UTC fast path agrees with calendar arithmetic (property)', async t => {
  const { generalizeTimestamp } = await import('../../src/policy/actions.js')
  const fcMod = (await import('fast-check')).default
  const units = ['second', 'minute', 'hour', 'day', 'month'] as const
  fcMod.assert(fcMod.property(fcMod.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }), fcMod.constantFrom(...units), (date, unit) => {
    const text = date.toISOString() // YYYY-MM-DDTHH:MM:SS.sssZ
    const d = new Date(date.getTime())
    if (unit !== 'second') d.setUTCSeconds(0)
    if (unit === 'hour' || unit === 'day' || unit === 'month') d.setUTCMinutes(0)
    if (unit === 'day' || unit === 'month') d.setUTCHours(0)
    if (unit === 'month') d.setUTCDate(1)
    d.setUTCMilliseconds(0)
    return generalizeTimestamp(text, unit) === d.toISOString()
  }), { numRuns: 2000 })
  t.equal(generalizeTimestamp('2026-11-25T13:37:42Z', 'minute'), '2026-11-25T13:37:00Z', 'no fraction stays without one')
  t.equal(generalizeTimestamp('2026-11-25t13:37:42.5z', 'hour'), '2026-11-25T13:00:00.0Z', 'lower-case t and z normalised')
  t.equal(generalizeTimestamp('2026-11-25T13:37:42+02:00', 'hour'), '2026-11-25T11:00:00Z', 'offsets move to UTC first')
})
