import t from 'tap'
import { createHmac } from 'node:crypto'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { compilePolicy, type CompiledPolicy, type PolicyProblem, type PolicySource, type PolicyView } from '../../src/policy/index.js'
import type { FieldActionSpec, KeyFormat } from '../../src/catalog/types.js'
import type { JsonSchema } from '../../src/policy/json-schema.js'

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default

// ---------------------------------------------------------------------------
// A product schema with every shape of path: nested objects, $ref, arrays of
// objects, arrays of arrays, allOf/oneOf, an open object, an untyped field.
const RICH_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'Rich',
  description: 'A record with every shape of field.',
  type: 'object',
  required: ['id', 'email'],
  $defs: {
    address: {
      type: 'object',
      description: 'Where to deliver; street is the street line.',
      required: ['city'],
      properties: {
        street: { type: 'string', description: 'the street line', examples: ['Keizersgracht 1'] },
        city: { type: 'string' },
        zip: { type: 'string', pattern: '^[0-9]{4} ?[A-Z]{2}$' }
      }
    }
  },
  properties: {
    id: { type: 'string' },
    email: { type: 'string', format: 'email', description: 'contact address' },
    phone: { type: 'string' },
    status: { type: 'string', enum: ['new', 'test', 'done'] },
    n: { type: 'number', minimum: -90, maximum: 90 },
    count: { type: 'integer' },
    flag: { type: 'boolean' },
    at: { type: 'string', format: 'date-time' },
    day: { type: 'string', format: 'date' },
    ms: { type: 'integer', minimum: 0 },
    tags: { type: 'array', items: { type: 'string' } },
    address: { $ref: '#/$defs/address' },
    lines: {
      type: 'array',
      items: {
        type: 'object',
        required: ['sku'],
        properties: { sku: { type: 'string' }, qty: { type: 'integer', minimum: 1 }, note: { type: 'string', description: 'free text, may hold the email' } }
      }
    },
    matrix: { type: 'array', items: { type: 'array', items: { type: 'object', properties: { v: { type: 'number' }, w: { type: 'number' } } } } },
    meta: { type: 'object' },
    choice: {
      oneOf: [
        { type: 'object', properties: { kind: { const: 'a' }, a: { type: 'string' } }, required: ['kind', 'a'] },
        { type: 'object', properties: { kind: { const: 'b' }, b: { type: 'number' } }, required: ['kind'] }
      ]
    },
    combined: {
      allOf: [
        { type: 'object', properties: { x: { type: 'string' } }, required: ['x'] },
        { properties: { y: { type: 'string' } } }
      ]
    },
    nullable: { type: ['string', 'null'] },
    anything: {}
  }
} as const

interface PolicyOptions {
  mode?: 'allow' | 'deny'
  where?: string
  headers?: string[]
  key?: 'keep' | 'hash' | 'drop'
  keyFormat?: KeyFormat
  schema?: JsonSchema
}

function tryCompile (fields: Record<string, FieldActionSpec>, options: PolicyOptions = {}): { ok: true, policy: CompiledPolicy } | { ok: false, problems: PolicyProblem[] } {
  const source: PolicySource = {
    name: 'p',
    product: 'rich',
    version: 'v1',
    mode: options.mode ?? 'allow',
    fields: Object.entries(fields),
    where: options.where,
    headers: options.headers ?? [],
    // Allow mode must name the key: fixtures keep it unless a test says otherwise.
    key: 'key' in options ? options.key : 'keep'
  }
  return compilePolicy(source, { schema: options.schema ?? (RICH_SCHEMA as unknown as JsonSchema), schemaFile: 'schemas/rich.json', keyFormat: options.keyFormat ?? 'string' })
}

function compile (fields: Record<string, FieldActionSpec>, options: PolicyOptions = {}): CompiledPolicy {
  const r = tryCompile(fields, options)
  if (!r.ok) throw new Error(r.problems.map(p => `${JSON.stringify(p.at)}: ${p.message}`).join('\n'))
  return r.policy
}

/** Freezes a value deeply, so a test fails if a view writes into its input. */
function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}

// ---------------------------------------------------------------------------

const KEY_A = Buffer.alloc(32, 1)
const KEY_B = Buffer.alloc(32, 2)
const hmac = (key: Buffer, text: string): string => createHmac('sha256', key).update(text).digest('base64url')

function bind (policy: CompiledPolicy, options: { key?: Buffer, attributes?: Record<string, unknown>, shareId?: string } = {}): PolicyView {
  return policy.bind({ shareId: options.shareId ?? 'share-a', hashKey: options.key ?? KEY_A, partnerAttributes: options.attributes ?? {}, partnerId: 'p-1' })
}

function delivered (view: PolicyView, value: unknown, key: unknown = 'r-1', headers: Record<string, string> = {}): { value: unknown, key: unknown, headers: Record<string, string> } {
  const out = view({ value, key, headers })
  if (!out.delivered) throw new Error(`not delivered: ${JSON.stringify(out)}`)
  return out
}

function record (): Record<string, unknown> {
  return deepFreeze({
    id: 'r-1',
    email: 'ann@example.com',
    phone: '+31 6 1234 5678',
    status: 'new',
    n: 52.36769,
    count: 3,
    flag: true,
    at: '2026-11-25T10:17:33.123Z',
    day: '2026-11-25',
    ms: Date.UTC(2026, 10, 25, 10, 17, 33, 123),
    tags: ['a', 'b'],
    address: { street: 'Keizersgracht 1', city: 'Amsterdam', zip: '1012 AB', floor: 3 },
    lines: [{ sku: 'S1', qty: 2, note: 'ring ann@example.com', extra: 'x' }, { sku: 'S2', note: 'n' }],
    matrix: [[{ v: 1.25, w: 2 }], []],
    meta: { anything: 'goes' },
    choice: { kind: 'a', a: 'alpha' },
    combined: { x: 'ex', y: 'why', z: 'zed' },
    nullable: null,
    anything: { deep: 1 },
    upstream_new: 'added after the policy was written'
  })
}

const ALLOW_FIELDS: Record<string, FieldActionSpec> = {
  id: 'keep',
  email: 'drop',
  phone: { mask: { keep_last: 4 } },
  status: 'keep',
  n: { truncate: 1 },
  count: 'keep',
  flag: 'keep',
  at: { generalize: 'hour' },
  day: { generalize: 'month' },
  ms: { generalize: 'day' },
  tags: 'keep',
  'address.city': 'keep',
  'address.zip': { truncate: 2 },
  'address.street': 'hash',
  'lines[*].sku': 'keep',
  'lines[*].qty': 'keep',
  'matrix[*][*].v': 'keep',
  'choice.kind': 'keep',
  'combined.x': 'keep',
  'combined.y': { mask: { keep_first: 1 } },
  nullable: 'hash'
}

const DENY_FIELDS: Record<string, FieldActionSpec> = {
  email: 'drop',
  'address.street': 'drop',
  'lines[*].note': 'drop',
  'matrix[*][*].w': 'drop',
  id: 'hash',
  n: { truncate: 1 },
  phone: { mask: { keep_last: 2 } },
  at: { generalize: 'day' },
  count: 'keep'
}

function ajvFor (schema: Record<string, unknown>): (value: unknown) => boolean {
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  addFormats(ajv)
  const validate = ajv.compile(schema)
  return value => {
    const ok = validate(value)
    if (!ok) console.error(JSON.stringify(validate.errors))
    return ok
  }
}

t.test('allow mode: only listed paths, every action, exact output', async t => {
  const policy = compile(ALLOW_FIELDS)
  const out = delivered(bind(policy), record())
  t.strictSame(out.value, {
    id: 'r-1',
    phone: '***********5678',
    status: 'new',
    n: 52.3,
    count: 3,
    flag: true,
    at: '2026-11-25T10:00:00.000Z',
    day: '2026-11-01',
    ms: Date.UTC(2026, 10, 25),
    tags: ['a', 'b'],
    address: { city: 'Amsterdam', zip: '10', street: hmac(KEY_A, '"Keizersgracht 1"') },
    lines: [{ sku: 'S1', qty: 2 }, { sku: 'S2' }],
    matrix: [[{ v: 1.25 }], []],
    choice: { kind: 'a' },
    combined: { x: 'ex', y: 'w**' },
    nullable: null
  })
  const text = JSON.stringify(out)
  for (const absent of ['ann@example.com', 'email', 'upstream_new', 'floor', 'extra', 'note', 'meta', 'zed', 'alpha', 'Keizersgracht']) {
    t.notOk(text.includes(absent), `${absent} does not leave`)
  }
  t.ok(ajvFor(policy.outputSchema)(out.value), 'the output schema validates the output')
})

t.test('allow mode: absent fields stay absent, no nulls are invented', async t => {
  const policy = compile(ALLOW_FIELDS)
  t.strictSame(delivered(bind(policy), { id: 'x', email: 'e' }).value, { id: 'x' })
  t.strictSame(delivered(bind(policy), { id: 'x', email: 'e', address: {}, lines: [{}] }).value, { id: 'x', address: {}, lines: [{}] })
  t.strictSame(delivered(bind(policy), { id: 'x', email: 'e', lines: null, address: null }).value, { id: 'x', lines: null, address: null }, 'null stays null')
})

t.test('a value whose type does not match is withheld, never passed raw', async t => {
  const policy = compile(ALLOW_FIELDS)
  const out = delivered(bind(policy), {
    id: 'x',
    email: 'e',
    phone: { number: '+31 6 1234 5678' },
    at: 'yesterday',
    tags: [{ secret: 'S' }],
    address: 'Keizersgracht 1, Amsterdam',
    lines: ['S1-as-text', { sku: 'S2', qty: 1 }],
    matrix: { v: 1 },
    combined: { x: { nested: 'X' }, y: ['why'] }
  })
  t.strictSame(out.value, { id: 'x', lines: [{ sku: 'S2', qty: 1 }], combined: {} })
  const deny = compile(DENY_FIELDS, { mode: 'deny' })
  const d = delivered(bind(deny), { id: 'x', email: 'e', address: 'Keizersgracht 1', lines: { note: 'N' }, other: 1 })
  t.strictSame(d.value, { id: hmac(KEY_A, '"x"'), other: 1 }, 'deny mode: a path that is not the expected shape is withheld too')
})

t.test('keep on an untyped field passes scalars, withholds objects', async t => {
  const policy = compile({ id: 'keep', anything: 'keep' })
  t.strictSame(delivered(bind(policy), { id: 'x', anything: 'scalar' }).value, { id: 'x', anything: 'scalar' })
  t.strictSame(delivered(bind(policy), { id: 'x', anything: { secret: 1 } }).value, { id: 'x' })
  t.strictSame(delivered(bind(policy), { id: 'x', anything: [1, 'two'] }).value, { id: 'x', anything: [1, 'two'] })
})

t.test('deny mode: everything passes but dropped paths; transforms on a copy', async t => {
  const policy = compile(DENY_FIELDS, { mode: 'deny' })
  const input = record()
  const out = delivered(bind(policy), input)
  t.strictSame(out.value, {
    id: hmac(KEY_A, '"r-1"'),
    phone: '*************78',
    status: 'new',
    n: 52.3,
    count: 3,
    flag: true,
    at: '2026-11-25T00:00:00.000Z',
    day: '2026-11-25',
    ms: Date.UTC(2026, 10, 25, 10, 17, 33, 123),
    tags: ['a', 'b'],
    address: { city: 'Amsterdam', zip: '1012 AB', floor: 3 },
    lines: [{ sku: 'S1', qty: 2, extra: 'x' }, { sku: 'S2' }],
    matrix: [[{ v: 1.25 }], []],
    meta: { anything: 'goes' },
    choice: { kind: 'a', a: 'alpha' },
    combined: { x: 'ex', y: 'why', z: 'zed' },
    nullable: null,
    anything: { deep: 1 },
    upstream_new: 'added after the policy was written'
  })
  t.equal((input.address as Record<string, unknown>).street, 'Keizersgracht 1', 'the input is untouched (and frozen)')
  const text = JSON.stringify(out)
  for (const absent of ['ann@example.com', 'Keizersgracht', '"email"', '"street"', '"note"', '"w"']) t.notOk(text.includes(absent), `${absent} does not leave`)
  t.ok(ajvFor(policy.outputSchema)(out.value), 'the output schema validates the output')
})

t.test('__proto__ and constructor keys in records are plain data', async t => {
  const input = JSON.parse('{"id":"x","email":"e","__proto__":{"polluted":1},"constructor":"c","address":{"city":"A","__proto__":{"street":"S"}}}') as Record<string, unknown>
  const allow = delivered(bind(compile(ALLOW_FIELDS)), input).value as Record<string, unknown>
  t.equal(JSON.stringify(allow), '{"id":"x","address":{"city":"A"}}')
  const deny = delivered(bind(compile(DENY_FIELDS, { mode: 'deny' })), input).value as Record<string, unknown>
  t.equal(Object.getPrototypeOf(deny), Object.prototype, 'no prototype was set')
  t.equal(JSON.stringify(deny), `{"id":"${hmac(KEY_A, '"x"')}","__proto__":{"polluted":1},"constructor":"c","address":{"city":"A","__proto__":{"street":"S"}}}`)
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'nothing polluted')
})

t.test('hash is keyed per share: same share same output, other share other output', async t => {
  const policy = compile({ id: 'hash', email: 'drop' })
  const a1 = delivered(bind(policy, { key: KEY_A }), { id: 'c-1', email: 'e' }).value
  const a2 = delivered(bind(policy, { key: KEY_A, shareId: 'share-a-again' }), { id: 'c-1', email: 'e' }).value
  const b = delivered(bind(policy, { key: KEY_B, shareId: 'share-b' }), { id: 'c-1', email: 'e' }).value
  t.strictSame(a1, a2)
  t.strictSame(a1, { id: hmac(KEY_A, '"c-1"') })
  t.notSame(a1, b)
  t.strictSame(b, { id: hmac(KEY_B, '"c-1"') })
  t.throws(() => policy.bind({ shareId: 's', hashKey: Buffer.alloc(4), partnerAttributes: {}, partnerId: 'p-1' }), /hash key/)
})

t.test('headers: only the allow-list passes', async t => {
  const policy = compile({ id: 'keep' }, { headers: ['traceparent', 'tenant'] })
  const out = delivered(bind(policy), { id: 'x' }, 'k', { traceparent: '00-abc-01', authorization: 'Bearer secret', tenant: 't1', other: 'o' })
  t.strictSame(out.headers, { traceparent: '00-abc-01', tenant: 't1' })
  t.strictSame(delivered(bind(policy), { id: 'x' }, 'k', {}).headers, {})
  t.strictSame(delivered(bind(compile({ id: 'keep' })), { id: 'x' }, 'k', { traceparent: 't' }).headers, {}, 'default: none')
})

t.test('key: keep, hash, drop', async t => {
  t.equal(delivered(bind(compile({ id: 'keep' })), { id: 'x' }, 'o-1').key, 'o-1')
  t.strictSame(delivered(bind(compile({ id: 'keep' }, { key: 'keep', keyFormat: 'json' })), { id: 'x' }, { sku: 'S', wh: 'w' }).key, { sku: 'S', wh: 'w' })
  t.equal(delivered(bind(compile({ id: 'keep' }, { key: 'hash', keyFormat: 'json' })), { id: 'x' }, { wh: 'w', sku: 'S' }).key, hmac(KEY_A, '{"sku":"S","wh":"w"}'))
  t.equal(delivered(bind(compile({ id: 'keep' }, { key: 'drop' })), { id: 'x' }, 'o-1').key, null)
  t.equal(delivered(bind(compile({ id: 'keep' }, { key: 'hash' })), { id: 'x' }, null).key, null)
})

t.test('a tombstone (null value) passes as null; a non-object value is not delivered', async t => {
  const view = bind(compile(ALLOW_FIELDS))
  t.strictSame(view({ value: null, key: 'k', headers: {} }), { delivered: true, value: null, key: 'k', headers: {} })
  const out = view({ value: 'just text', key: 'k', headers: {} })
  t.equal(out.delivered, false)
  t.match(out, { reason: 'filter_error', error: /^value_shape/ })
  t.notOk(JSON.stringify(out).includes('just text'))
})

t.test('where: true delivers, false filters', async t => {
  const policy = compile({ id: 'keep', status: 'keep' }, { where: "record.status != 'test' && headers.source == 'web' && key.startsWith('r-')" })
  const view = bind(policy)
  t.equal(view({ value: { id: 'x', status: 'new' }, key: 'r-1', headers: { source: 'web' } }).delivered, true)
  t.strictSame(view({ value: { id: 'x', status: 'test' }, key: 'r-1', headers: { source: 'web' } }), { delivered: false, reason: 'filtered' })
  t.strictSame(view({ value: { id: 'x', status: 'new' }, key: 'q-1', headers: { source: 'web' } }), { delivered: false, reason: 'filtered' })
})

t.test('where: partner attributes', async t => {
  const policy = compile({ id: 'keep' }, { where: "partner.attributes.region == record.status && 'tier' in partner.attributes" })
  t.equal(bind(policy, { attributes: { region: 'new', tier: 2 } })({ value: { id: 'x', status: 'new' }, key: 'k', headers: {} }).delivered, true, 'numbers become strings')
  t.equal(bind(policy, { attributes: { region: 'old', tier: 'gold' } })({ value: { id: 'x', status: 'new' }, key: 'k', headers: {} }).delivered, false)
  t.equal(policy.shareIndependent, false)
})

t.test('where: an error is a result, counted by the caller, and never quotes the record', async t => {
  const missing = bind(compile({ id: 'keep' }, { where: "partner.attributes.region == 'eu'" }))
  const r1 = missing({ value: { id: 'x' }, key: 'k', headers: {} })
  t.match(r1, { delivered: false, reason: 'filter_error', error: /^no_such_key \(at "partner\.attributes\.region"\)$/ })
  const leaky = bind(compile({ id: 'keep' }, { where: 'record.meta[record.email] == 1' }))
  const r2 = leaky({ value: { id: 'x', email: 'ann@example.com', meta: {} }, key: 'k', headers: {} })
  t.match(r2, { delivered: false, reason: 'filter_error' })
  t.notOk(JSON.stringify(r2).includes('ann@example.com'), 'the CEL message names the value; ours does not')
  const ok = leaky({ value: { id: 'x', email: 'a', meta: { a: 1 } }, key: 'k', headers: {} })
  t.equal(ok.delivered, true, 'the next record is evaluated normally')
})

t.test('where: a non-boolean result is an error, not a pass', async t => {
  const view = bind(compile({ id: 'keep' }, { where: 'record.status' }))
  t.strictSame(view({ value: { id: 'x', status: 'new' }, key: 'k', headers: {} }), { delivered: false, reason: 'filter_error', error: 'not_boolean: the expression gave a string, not a boolean' })
  const nullView = bind(compile({ id: 'keep' }, { where: 'record.nullable' }))
  t.match(nullView({ value: { id: 'x', nullable: null }, key: 'k', headers: {} }), { reason: 'filter_error', error: /gave null/ })
})

t.test('where: JSON numbers compare with int and double literals', async t => {
  const view = bind(compile({ id: 'keep' }, { where: 'record.count >= 2 && record.n < 60.5 && record.lines.exists(l, l.qty == 2)' }))
  t.equal(view({ value: { id: 'x', count: 3, n: 52.1, lines: [{ sku: 's', qty: 2 }] }, key: 'k', headers: {} }).delivered, true)
  t.equal(view({ value: { id: 'x', count: 1, n: 52.1, lines: [] }, key: 'k', headers: {} }).delivered, false)
})

t.test('shareIndependent: no hash and no partner in where', async t => {
  t.equal(compile({ id: 'keep' }, { where: "record.status != 'test'" }).shareIndependent, true)
  t.equal(compile({ id: 'hash' }).shareIndependent, false)
  t.equal(compile({ id: 'keep' }, { key: 'hash' }).shareIndependent, false)
  t.equal(compile({ id: 'keep' }, { where: "partner.attributes.x == 'y'" }).shareIndependent, false)
  t.equal(compile({ id: 'keep' }).hasFilter, false)
})

t.test('readsHeaders: only when headers pass or where names them', async t => {
  t.equal(compile({ id: 'keep' }).readsHeaders, false, 'no headers listed, no where')
  t.equal(compile({ id: 'keep' }, { where: "record.status != 'test'" }).readsHeaders, false, 'a where without headers')
  t.equal(compile({ id: 'keep' }, { headers: ['traceparent'] }).readsHeaders, true, 'an allow-listed header')
  t.equal(compile({ id: 'keep' }, { where: "headers['x-tenant'] == 'a'" }).readsHeaders, true, 'a where that reads headers')
  t.equal(compile({ id: 'keep' }, { where: "'x' in headers" }).readsHeaders, true, 'a where that tests headers')
  // The flag is honest: a view told there are no headers gives the same outcome.
  const view = bind(compile({ id: 'keep' }, { where: "record.status != 'test'" }))
  const withHeaders = view({ value: { id: 'x', status: 'new' }, key: 'k', headers: { a: 'b' } })
  t.same(view({ value: { id: 'x', status: 'new' }, key: 'k', headers: {} }), withHeaders)
})

// ---------------------------------------------------------------------------
// Load-time problems (the catalog turns `at` into a line; see catalog.test.ts)

function problems (fields: Record<string, FieldActionSpec>, options: PolicyOptions = {}): string[] {
  const r = tryCompile(fields, options)
  return r.ok ? [] : r.problems.map(p => `${typeof p.at === 'string' ? p.at : p.at.field}: ${p.message}`)
}

t.test('problems: unknown paths, [*] on non-arrays, arrays without [*]', async t => {
  t.strictSame(problems({ 'customer.email': 'drop' }), ['customer.email: unknown field path "customer.email" (not in schemas/rich.json)'])
  t.strictSame(problems({ 'address.country': 'keep' }), ['address.country: unknown field path "address.country" (not in schemas/rich.json)'], 'through a $ref')
  t.strictSame(problems({ 'lines.sku': 'keep' }), ['lines.sku: unknown field path "lines.sku" (not in schemas/rich.json; lines is an array: use [*] for its elements)'])
  t.strictSame(problems({ 'status[*]': 'keep' }), ['status[*]: field path "status[*]": status is not an array in schemas/rich.json, so [*] cannot follow it'])
  t.strictSame(problems({ 'meta.anything': 'keep' }), ['meta.anything: unknown field path "meta.anything" (not in schemas/rich.json)'], 'an open object lists no properties')
  t.strictSame(problems({ 'choice.b': 'keep', 'combined.y': 'keep' }), [], 'oneOf and allOf branches are followed')
})

t.test('problems: actions that cannot apply to the schema type', async t => {
  t.match(problems({ address: { truncate: 3 } }), [/^address: field address: truncate cannot apply to object/])
  t.match(problems({ flag: { truncate: 3 } }), [/truncate cannot apply to boolean/])
  t.match(problems({ tags: { mask: { keep_last: 1 } } }), [/mask cannot apply to array/])
  t.match(problems({ id: { generalize: 'day' } }), [/generalize needs a string with format date-time or date/])
  t.match(problems({ flag: { generalize: 'day' } }), [/generalize cannot apply to boolean/])
  t.strictSame(problems({ ms: { generalize: 'day' }, day: { generalize: 'month' }, n: { truncate: 2 }, count: { mask: { keep_last: 1 } }, address: 'hash' }), [])
  t.match(problems({ address: 'keep' }), [/keep on an object would also pass fields added to it upstream later/])
  t.match(problems({ lines: 'keep' }), [/keep on an array of objects/])
  t.strictSame(problems({ address: 'keep', lines: 'keep' }, { mode: 'deny' }), [], 'deny mode passes whole objects anyway')
})

t.test('problems: overlapping paths', async t => {
  t.match(problems({ address: 'hash', 'address.city': 'keep' }), [/field address.city is inside address, which is listed too/])
  t.match(problems({ 'lines[*].sku': 'keep', lines: 'drop' }), [/field lines\[\*\].sku is inside lines/])
})

t.test('problems: where', async t => {
  t.match(problems({ id: 'keep' }, { where: "record.status == 'a' &&" }), [/^where: Unexpected token: EOF \(at column \d+\)$/])
  t.match(problems({ id: 'keep' }, { where: "record.status = 'x'" }), [/^where: Unexpected character: =/])
  t.match(problems({ id: 'keep' }, { where: 'headers.source + 1 == 2' }), [/^where: no such overload: string \+ int \(at "headers.source \+ 1"\)$/])
  t.match(problems({ id: 'keep' }, { where: 'recrd.status == 1' }), [/^where: Unknown variable: recrd/])
  t.match(problems({ id: 'keep' }, { where: "partner.region == 'x'" }), [/^where: No such key: region/])
  t.strictSame(problems({ id: 'keep' }, { where: '1 + 2' }), ['where: must be a boolean expression, but it gives int'])
  t.strictSame(problems({ id: 'keep' }, { where: "record.stauts == 'new'" }), ['where: unknown field record.stauts (not in schemas/rich.json)'])
  t.strictSame(problems({ id: 'keep' }, { where: "has(record.address.country) && record['adress'].city == 'x'" }), [
    'where: unknown field record.address.country (not in schemas/rich.json)',
    'where: unknown field record.adress (not in schemas/rich.json)'
  ])
  t.strictSame(problems({ id: 'keep' }, { where: "record.meta.anything == 'x' && record.lines.exists(record, record.whatever == 1)" }), [], 'open objects and macro variables are not checked')
  t.match(problems({ id: 'keep' }, { where: 'record.id.matches(record.status)' }), [/^where: matches\(\) needs a literal pattern/])
  t.match(problems({ id: 'keep' }, { where: "record.id.matches('(unclosed')" }), [/^where: invalid regular expression in matches\(\)/])
  t.strictSame(problems({ id: 'keep' }, { where: "record.id.matches('^r-[0-9]+$')" }), [])
})

t.test('problems: an allow-mode policy must name its key rule (the key leaves too)', async t => {
  t.strictSame(problems({ id: 'keep' }, { keyFormat: 'json', key: undefined }), ['policy: an allow-mode policy lists what leaves, and the record key (json) leaves too: say key: keep, key: hash or key: drop'])
  t.strictSame(problems({ id: 'keep' }, { keyFormat: 'string', key: undefined }), ['policy: an allow-mode policy lists what leaves, and the record key (string) leaves too: say key: keep, key: hash or key: drop'])
  t.strictSame(problems({ id: 'keep' }, { keyFormat: 'none', key: undefined }), [], 'no key to decide about')
  t.strictSame(problems({ id: 'keep' }, { keyFormat: 'json', key: 'hash' }), [])
  t.strictSame(problems({ id: 'drop' }, { keyFormat: 'json', mode: 'deny', key: undefined }), [], 'deny mode passes the key unless told')
})

// ---------------------------------------------------------------------------
// Output schemas

t.test('output schema, allow mode: only listed paths, transformed types, closed objects', async t => {
  const schema = compile(ALLOW_FIELDS).outputSchema
  t.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema')
  t.equal(schema.additionalProperties, false)
  t.strictSame(Object.keys(schema.properties as object).sort(), Object.keys(ALLOW_FIELDS).filter(f => f !== 'email').map(f => f.split(/[.[]/)[0] as string).filter((f, i, a) => a.indexOf(f) === i).sort())
  t.strictSame(schema.required, ['id'], 'email was required, but is dropped')
  const props = schema.properties as Record<string, Record<string, unknown>>
  t.strictSame(props.id, { type: 'string' })
  t.match(props.phone, { type: 'string' })
  t.strictSame(props.n, { type: 'number', minimum: -90, maximum: 90, description: 'truncated to 1 decimal (toward zero)' })
  t.strictSame(props.at, { type: 'string', format: 'date-time', description: 'generalized to the hour (UTC)' })
  t.strictSame(props.nullable, { type: ['string', 'null'], contentEncoding: 'base64url', pattern: '^[A-Za-z0-9_-]{43}$', description: 'HMAC-SHA-256, per share' })
  t.strictSame(props.address, {
    type: 'object',
    properties: {
      city: { type: 'string' },
      zip: { type: 'string', maxLength: 2, description: 'truncated to 2 characters' },
      street: { type: 'string', contentEncoding: 'base64url', pattern: '^[A-Za-z0-9_-]{43}$', description: 'HMAC-SHA-256, per share' }
    },
    required: ['city'],
    additionalProperties: false
  })
  t.strictSame(props.lines, { type: 'array', items: { type: 'object', properties: { sku: { type: 'string' }, qty: { type: 'integer', minimum: 1 } }, required: ['sku'], additionalProperties: false } })
  t.strictSame(props.matrix, { type: 'array', items: { type: 'array', items: { type: 'object', properties: { v: { type: 'number' } }, additionalProperties: false } } })
  const text = JSON.stringify(schema)
  for (const absent of ['email', '$defs', '$ref', 'note', 'upstream', 'meta', 'oneOf', 'Keizersgracht']) t.notOk(text.includes(absent), `${absent} is not in the schema`)
})

t.test('output schema, deny mode: product schema minus dropped paths; withheld names nowhere', async t => {
  const schema = compile(DENY_FIELDS, { mode: 'deny' }).outputSchema
  const props = schema.properties as Record<string, Record<string, unknown>>
  t.strictSame(schema.required, ['id'])
  t.notOk('email' in props)
  t.strictSame(props.id, { type: 'string', contentEncoding: 'base64url', pattern: '^[A-Za-z0-9_-]{43}$', description: 'HMAC-SHA-256, per share' })
  t.strictSame(Object.keys((props.address as { properties: object }).properties), ['city', 'zip'])
  t.equal(props.address?.description, undefined, 'the address description mentions "street": left out')
  t.strictSame(props.lines, { type: 'array', items: { type: 'object', properties: { sku: { type: 'string' }, qty: { type: 'integer', minimum: 1 } }, required: ['sku'] } })
  t.match(props.choice, { anyOf: [{ type: 'object' }, { type: 'object' }] }, 'oneOf became anyOf')
  t.match(props.combined, { allOf: [{ required: ['x'] }, {}] })
  t.strictSame(props.meta, { type: 'object' })
  const text = JSON.stringify(schema)
  for (const absent of ['email', 'street', 'note', 'Keizersgracht', '$defs', '$ref', 'oneOf']) t.notOk(text.includes(absent), `${absent} is not in the schema`)
})

t.test('output schema validates the views of many records', async t => {
  for (const [fields, mode] of [[ALLOW_FIELDS, 'allow'], [DENY_FIELDS, 'deny']] as const) {
    const policy = compile(fields, { mode })
    const valid = ajvFor(policy.outputSchema)
    const view = bind(policy)
    const base = record()
    const variants: unknown[] = [
      base,
      { id: 'y', email: 'e' },
      { ...base, nullable: 'text', choice: { kind: 'b', b: 2 }, lines: [], matrix: [] },
      { ...base, address: { city: 'C' }, at: '2026-01-31T23:59:59+05:30' }
    ]
    for (const v of variants) t.ok(valid(delivered(view, v).value), `${mode}: valid`)
  }
})
