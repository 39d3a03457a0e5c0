import t from 'tap'
import fc from 'fast-check'
import { ajvFormatsDateTime, isDateTime } from '../../src/catalog/date-time-format.js'
import { loadCatalog } from '../../src/catalog/load.js'
import { SHIPPED_POLICIES } from '../helpers/policies.js'

const SAMPLES = [
  '2026-11-26T04:29:47.123Z', '2026-11-26t04:29:47z', '2026-11-26T04:29:47Z', '2026-11-26T04:29:47.1234567Z',
  '2024-02-29T00:00:00Z', '2023-02-29T00:00:00Z', '2000-02-29T12:00:00Z', '1900-02-29T12:00:00Z', '2026-04-31T00:00:00Z',
  '2026-00-10T00:00:00Z', '2026-13-10T00:00:00Z', '2026-01-00T00:00:00Z', '2026-01-32T00:00:00Z',
  '2026-12-31T23:59:60Z', '2026-12-31T23:59:60.999Z', '2026-12-31T22:59:60Z', '2026-12-31T23:58:60Z', '2026-12-31T23:59:61Z',
  '2026-12-31T24:00:00Z', '2026-12-31T23:60:00Z', '2026-12-31T23:59:59.Z', '2026-12-31T23:59:59.5.5Z', '2026-12-31T23:59:59,5Z',
  '2026-12-31T23:59:59+01:00', '2026-12-31T23:59:60+00:00', '2026-12-31 23:59:59Z', '2026-12-31T23:59:59', '2026-12-31',
  '２026-12-31T23:59:59Z', '2026-12-31T23:59:59Zt', '2026-1-31T23:59:59Z', '', 'T', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59.999999999Z'
]

t.test('the fast date-time check answers exactly like ajv-formats', async t => {
  for (const text of SAMPLES) t.equal(isDateTime(text), ajvFormatsDateTime(text), JSON.stringify(text))
  // Texts of the usual shape with every field varied, including out-of-range ones.
  const two = fc.integer({ min: 0, max: 99 }).map(n => String(n).padStart(2, '0'))
  const shaped = fc.tuple(two, two, two, two, two, two, two, fc.constantFrom('T', 't', ' ', 'x'), fc.constantFrom('Z', 'z', '', '+01:00', '-00:30'),
    fc.option(fc.stringMatching(/^\.[0-9]{0,4}$/), { nil: '' }))
    .map(([c, y, mo, d, h, mi, s, sep, zone, frac]) => `${c}${y}-${mo}-${d}${sep}${h}:${mi}:${s}${frac}${zone}`)
  fc.assert(fc.property(shaped, text => isDateTime(text) === ajvFormatsDateTime(text)), { numRuns: 20_000 })
  // And anything at all.
  fc.assert(fc.property(fc.string({ maxLength: 40 }), text => isDateTime(text) === ajvFormatsDateTime(text)), { numRuns: 5_000 })
})

t.test('product schemas use it: a bad date-time is withheld, a good one passes', async t => {
  const catalog = await loadCatalog(SHIPPED_POLICIES)
  const orders = catalog.products.get('orders')!
  const valid = (createdAt: string): boolean => orders.validate({ order_id: 'o-1', status: 'confirmed', region: 'eu-west', total: 1, currency: 'EUR', created_at: createdAt, customer: { id: 'c-1', email: 'a@b.example' }, items: [{ sku: 'SKU-1', quantity: 1, unit_price: 1 }] })
  t.ok(valid('2026-11-26T04:29:47.123Z'))
  t.notOk(valid('2026-02-30T04:29:47.123Z'), 'no 30 February')
  t.notOk(valid('2026-11-26T04:29:47.123'), 'no time zone')
  t.ok(valid('2026-11-26T05:29:47+01:00'), 'an offset goes through ajv-formats')
})
