import t from 'tap'
import fc from 'fast-check'
import { Environment } from '@marcbachmann/cel-js'
import { CelPartner, compileWhere, type WhereContext } from '../../src/policy/where.js'
import { UNDECIDED, compileFastWhere } from '../../src/policy/where-fast.js'
import { SchemaNavigator } from '../../src/policy/json-schema.js'

// An open schema: any record field may be named, so expressions are only limited by the grammar below.
const schema = { navigator: new SchemaNavigator({ type: 'object' }), schemaFile: 'open.json' }
const parser = new Environment({ unlistedVariablesAreDyn: true })

const literal = fc.constantFrom("'x'", "'y'", "''", "'eu-west'", "'it''s'".replace("''", "\\'"), "'\\u00e9'")
const operand = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('record.a', 'record.b', "record['c d']", 'record.n.a', "record.n['b']", 'record.__proto__', 'record.constructor') },
  { weight: 2, arbitrary: fc.constantFrom('headers.h', "headers['k']", 'partner.attributes.region', "partner.attributes['tier']", 'partner.id') },
  { weight: 3, arbitrary: literal }
)
const comparison = fc.oneof(
  fc.tuple(operand, fc.constantFrom('==', '!='), operand).map(([a, op, b]) => `${a} ${op} ${b}`),
  fc.tuple(operand, fc.array(literal, { maxLength: 3 })).map(([a, items]) => `${a} in [${items.join(', ')}]`)
)
const expression: fc.Arbitrary<string> = fc.letrec<{ e: string }>(tie => ({
  e: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    comparison,
    fc.tuple(tie('e'), fc.constantFrom('&&', '||'), tie('e')).map(([a, op, b]) => `(${a}) ${op} (${b})`),
    tie('e').map(e => `!(${e})`)
  )
})).e

const jsonValue = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('x', 'y', '', 'eu-west', "it's", 'é', '\uD800') },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double({ noNaN: true }) },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom('x', 1), { maxLength: 2 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('a', 'b'), fc.constantFrom('x', 'y', 2), { maxKeys: 2 }) }
)
const record = fc.record({
  a: jsonValue, b: jsonValue, 'c d': jsonValue, n: jsonValue, constructor: jsonValue
}, { requiredKeys: [] }).map(r => JSON.parse(JSON.stringify(r)) as unknown)
const strings = fc.dictionary(fc.constantFrom('h', 'k', 'region', 'tier'), fc.constantFrom('x', 'y', 'eu-west', ''), { maxKeys: 3 })

t.test('the fast path gives exactly what cel-js gives (results and error texts)', async t => {
  let decided = 0
  let runs = 0
  fc.assert(fc.property(expression, fc.array(fc.tuple(record, strings, strings, fc.constantFrom('p-1', 'x')), { minLength: 1, maxLength: 8 }), (text, cases) => {
    const fast = compileWhere(text, schema)
    const slow = compileWhere(text, schema, { fastPath: false })
    if (!fast.ok || !slow.ok) return !fast.ok && !slow.ok
    const shortcut = compileFastWhere(parser.parse(text).ast)
    if (shortcut === undefined) throw new Error(`the fast path refused ${text}`)
    for (const [value, headers, attributes, id] of cases) {
      const ctx: WhereContext = { record: value, key: null, headers, partner: new CelPartner(id, attributes) }
      runs++
      if (shortcut(ctx) !== UNDECIDED) decided++
      const a = fast.where.filter(ctx)
      const b = slow.where.filter(ctx)
      if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`${text} on ${JSON.stringify(ctx)}: fast ${JSON.stringify(a)}, cel-js ${JSON.stringify(b)}`)
    }
    return true
  }), { numRuns: 1500 })
  t.ok(decided > runs / 5, `the fast path decided ${decided} of ${runs} evaluations itself`)
  t.ok(decided < runs, 'and handed the rest to cel-js')
})

t.test('shapes outside the string subset are left to cel-js entirely', async t => {
  for (const text of ["record.count > 2 && record.a == 'x'", 'record.a == record.b + 1', "'tier' in partner.attributes", "record.items.exists(i, i.sku == 'x')", "key == 'k'", "record.a.startsWith('x')", 'record.flag', 'record.a == 1']) {
    t.equal(compileFastWhere(parser.parse(text).ast), undefined, text)
  }
  t.type(compileFastWhere(parser.parse("record.status != 'test' && partner.attributes.region == record.region").ast), 'function', 'the shipped partner-basic filter takes the fast path')
})
