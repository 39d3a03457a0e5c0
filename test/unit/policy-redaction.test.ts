/**
 * Property: redaction never leaks (CONTRACT §5 "Nothing leaked"). Random records
 * shaped like the schema, with random extra fields at every level (unicode names,
 * `__proto__`/`constructor`, deep nesting, huge strings, empty values), go through
 * an allow-mode and a deny-mode policy. Every redacted value is a canary carrying
 * a per-run UUID, so a leak in any form shows up as text in the serialised output.
 */
import t from 'tap'
import fc from 'fast-check'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { compilePolicy, type CompiledPolicy } from '../../src/policy/index.js'
import type { FieldActionSpec } from '../../src/catalog/types.js'
import type { JsonSchema } from '../../src/policy/json-schema.js'

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default

const SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['id', 'secret', 'profile'],
  $defs: {
    contact: {
      type: 'object',
      description: 'How to reach the person: email or phone.',
      properties: { email: { type: 'string' }, phone: { type: 'string' }, note: { type: 'string' } }
    }
  },
  properties: {
    id: { type: 'string' },
    secret: { type: 'string', description: 'never shared' },
    token: { type: 'string' },
    phone: { type: 'string' },
    city: { type: 'string' },
    lat: { type: 'number', minimum: -90, maximum: 90 },
    at: { type: 'string', format: 'date-time' },
    profile: {
      type: 'object',
      properties: {
        name: { type: 'string' },
        age: { type: 'integer' },
        bio: { type: 'string', examples: ['Likes the secret garden'] },
        contact: { $ref: '#/$defs/contact' }
      }
    },
    lines: {
      type: 'array',
      items: { type: 'object', properties: { sku: { type: 'string' }, price: { type: 'number' }, comment: { type: 'string' } } }
    },
    tags: { type: 'array', items: { type: 'string' } },
    extra_known: { type: 'string' }
  }
}

const ALLOW: Record<string, FieldActionSpec> = {
  id: 'keep',
  secret: 'drop',
  token: 'hash',
  phone: { mask: { keep_last: 2 } },
  city: { truncate: 2 },
  lat: { truncate: 1 },
  at: { generalize: 'hour' },
  'profile.name': 'hash',
  'profile.age': 'keep',
  'profile.bio': 'drop',
  'profile.contact.email': 'drop',
  'profile.contact.phone': { mask: { keep_first: 1 } },
  'lines[*].sku': 'keep',
  'lines[*].price': { truncate: 0 },
  'lines[*].comment': 'hash',
  tags: 'keep'
}

/** What may appear at each level of an allow-mode output. */
const ALLOWED_KEYS: Record<string, string[]> = {
  '': ['id', 'token', 'phone', 'city', 'lat', 'at', 'profile', 'lines', 'tags'],
  profile: ['name', 'age', 'contact'],
  'profile.contact': ['phone'],
  'lines[*]': ['sku', 'price', 'comment']
}

const DENY: Record<string, FieldActionSpec> = {
  secret: 'drop',
  'profile.bio': 'drop',
  'profile.contact.email': 'drop',
  token: 'hash',
  'lines[*].comment': 'hash',
  phone: { mask: { keep_last: 2 } },
  city: { truncate: 2 }
}
const DENY_REDACTED = ['secret', 'profile.bio', 'profile.contact.email', 'token', 'lines[*].comment', 'phone', 'city']

function compile (fields: Record<string, FieldActionSpec>, mode: 'allow' | 'deny'): CompiledPolicy {
  const r = compilePolicy(
    { name: 'p', product: 'prop', version: 'v', mode, fields: Object.entries(fields), where: undefined, headers: [], key: 'keep' },
    { schema: SCHEMA as unknown as JsonSchema, schemaFile: 'schemas/prop.json', keyFormat: 'string' }
  )
  if (!r.ok) throw new Error(JSON.stringify(r.problems))
  return r.policy
}

function ajv (): Ajv2020 {
  const a = new Ajv2020({ strict: false, allErrors: true })
  addFormats(a)
  return a
}

const SPECIAL_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', 'secret', 'email', 'bio', 'note', '']

function nest (depth: number, leaf: unknown): unknown {
  let v = leaf
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? { [`d${i}`]: v } : [v]
  return v
}

/** A record shaped like SCHEMA plus extras; every secret carries `uuid`. */
function recordArbitrary (uuid: string): fc.Arbitrary<Record<string, unknown>> {
  const canary = (field: string): fc.Arbitrary<string> =>
    fc.string({ unit: 'grapheme', maxLength: 12 }).map(s => `CANARY-${uuid}-${field}-${s}`)
  const extraValue: fc.Arbitrary<unknown> = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    canary('extra'),
    fc.constantFrom('', 0, false, null, [], {}),
    fc.integer({ min: 20, max: 120 }).map(d => nest(d, `CANARY-${uuid}-deep`)),
    fc.integer({ min: 10_000, max: 200_000 }).map(n => `${uuid}`.padEnd(n, 'x') + '😀')
  )
  const extraKey: fc.Arbitrary<string> = fc.oneof(
    fc.constantFrom(...SPECIAL_KEYS),
    fc.string({ unit: 'grapheme', maxLength: 10 }),
    fc.string({ maxLength: 4 }).map(s => `x-${uuid}-${s}`)
  )
  const extras = fc.array(fc.tuple(extraKey, extraValue), { maxLength: 4 })
  // Extras never reuse a name the schema declares at that level (the record must
  // stay valid); they do reuse names declared at other levels.
  const withExtras = <T extends Record<string, unknown>>(base: fc.Arbitrary<T>, declared: readonly string[]): fc.Arbitrary<Record<string, unknown>> =>
    fc.tuple(base, extras).map(([obj, more]) => {
      const out: Record<string, unknown> = { ...obj }
      for (const [k, v] of more) {
        if (declared.includes(k) || Object.prototype.hasOwnProperty.call(out, k)) continue
        Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true })
      }
      return out
    })
  const contact = withExtras(fc.record({ email: canary('email'), phone: canary('cphone'), note: canary('note') }, { requiredKeys: [] }), ['email', 'phone', 'note'])
  const profile = withExtras(fc.record({ name: canary('name'), age: fc.integer(), bio: canary('bio'), contact }, { requiredKeys: [] }), ['name', 'age', 'bio', 'contact'])
  const line = withExtras(fc.record({ sku: fc.string({ maxLength: 8 }), price: fc.double({ noNaN: true, noDefaultInfinity: true }), comment: canary('comment') }, { requiredKeys: [] }), ['sku', 'price', 'comment'])
  const root = withExtras(fc.record({
    id: fc.string({ maxLength: 10 }),
    secret: canary('secret'),
    token: canary('token'),
    phone: canary('phone'),
    city: canary('city'),
    lat: fc.double({ min: -90, max: 90, noNaN: true }),
    at: fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map(d => d.toISOString()),
    profile,
    lines: fc.array(line, { maxLength: 4 }),
    tags: fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 }),
    extra_known: canary('extra_known')
  }, { requiredKeys: ['id', 'secret', 'profile'] }), Object.keys(SCHEMA.properties))
  // As the record decoder would see it: JSON text parsed (own __proto__ keys, no -0, no undefined).
  return root.map(r => JSON.parse(JSON.stringify(r)) as Record<string, unknown>)
}

/** Every key path of an output, as level → keys, with [*] for array elements. */
function checkKeys (value: unknown, at: string, fail: (m: string) => void): void {
  if (Array.isArray(value)) { for (const v of value) checkKeys(v, at === '' ? '[*]' : `${at}[*]`, fail); return }
  if (value === null || typeof value !== 'object') return
  const allowed = ALLOWED_KEYS[at]
  if (allowed === undefined) { fail(`an object at ${at} should not exist`); return }
  for (const k of Object.keys(value)) {
    if (!allowed.includes(k)) fail(`key ${JSON.stringify(k)} at ${at === '' ? 'the root' : at} is not listed`)
    checkKeys((value as Record<string, unknown>)[k], at === '' ? k : `${at}.${k}`, fail)
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) fail(`object at ${at} has another prototype`)
}

function valuesAt (record: unknown, path: string): unknown[] {
  let current: unknown[] = [record]
  for (const part of path.split('.')) {
    const name = part.replace('[*]', '')
    const next: unknown[] = []
    for (const c of current) {
      if (c === null || typeof c !== 'object' || Array.isArray(c) || !Object.prototype.hasOwnProperty.call(c, name)) continue
      const v = (c as Record<string, unknown>)[name]
      if (part.endsWith('[*]')) { if (Array.isArray(v)) next.push(...v) } else next.push(v)
    }
    current = next
  }
  return current
}

t.test('redaction never leaks: allow mode', async t => {
  const policy = compile(ALLOW, 'allow')
  const validOutput = ajv().compile(policy.outputSchema)
  const validInput = ajv().compile(SCHEMA)
  const view = policy.bind({ shareId: 's', hashKey: Buffer.alloc(32, 3), partnerAttributes: {}, partnerId: 'p-1' })
  fc.assert(fc.property(fc.uuid().chain(uuid => fc.tuple(fc.constant(uuid), recordArbitrary(uuid))), ([uuid, record]) => {
    if (!validInput(record)) throw new Error(`generator bug: ${JSON.stringify(validInput.errors)}`)
    const out = view({ value: record, key: 'k', headers: { secret: uuid } })
    if (!out.delivered) throw new Error('not delivered')
    const text = JSON.stringify(out)
    if (text.includes(uuid)) throw new Error(`the run's canary UUID appears in the output: ${text.slice(0, 500)}`)
    checkKeys(out.value, '', m => { throw new Error(m) })
    if (!validOutput(out.value)) throw new Error(`output does not match the derived schema: ${JSON.stringify(validOutput.errors)}`)
  }), { numRuns: 300 })
  t.pass('300 random records')
})

t.test('redaction never leaks: deny mode', async t => {
  const policy = compile(DENY, 'deny')
  const validOutput = ajv().compile(policy.outputSchema)
  const validInput = ajv().compile(SCHEMA)
  const view = policy.bind({ shareId: 's', hashKey: Buffer.alloc(32, 4), partnerAttributes: {}, partnerId: 'p-1' })
  fc.assert(fc.property(fc.uuid().chain(uuid => recordArbitrary(uuid)), record => {
    if (!validInput(record)) throw new Error(`generator bug: ${JSON.stringify(validInput.errors)}`)
    const out = view({ value: record, key: 'k', headers: {} })
    if (!out.delivered) throw new Error('not delivered')
    const text = JSON.stringify(out)
    for (const path of DENY_REDACTED) {
      for (const raw of valuesAt(record, path)) {
        if (typeof raw !== 'string') continue
        const needle = JSON.stringify(raw).slice(1, -1)
        if (text.includes(needle)) throw new Error(`${path}: its value appears in the output`)
      }
    }
    if (Object.prototype.hasOwnProperty.call(out.value, 'secret')) throw new Error('secret passed')
    const profile = (out.value as Record<string, unknown>).profile as Record<string, unknown> | undefined
    if (profile !== undefined && Object.prototype.hasOwnProperty.call(profile, 'bio')) throw new Error('bio passed')
    const contact = profile?.contact as Record<string, unknown> | undefined
    if (contact !== undefined && Object.prototype.hasOwnProperty.call(contact, 'email')) throw new Error('email passed')
    if (!validOutput(out.value)) throw new Error(`output does not match the derived schema: ${JSON.stringify(validOutput.errors)}`)
  }), { numRuns: 300 })
  t.pass('300 random records')
})

t.test('derived schemas never name withheld fields', async t => {
  const allow = JSON.stringify(compile(ALLOW, 'allow').outputSchema)
  for (const w of ['secret', 'bio', 'email', 'note', 'extra_known', '$defs', 'garden']) t.notOk(allow.includes(w), `allow: no "${w}"`)
  const deny = JSON.stringify(compile(DENY, 'deny').outputSchema)
  for (const w of ['secret', 'bio', 'email', 'garden']) t.notOk(deny.includes(w), `deny: no "${w}"`)
  t.ok(deny.includes('extra_known') && deny.includes('note'), 'deny: what passes is described')
})
