/**
 * The AsyncAPI document of a share (src/discovery/asyncapi.ts): valid against the
 * official AsyncAPI 3.0.0 JSON Schema (@asyncapi/specs), complete (a channel per
 * product and transport, operations, servers, security), consistent (every $ref
 * resolves, operations only name messages of their channel, delivered records
 * validate against the documented envelope) — and it never names a withheld field.
 */
import t, { type Test } from 'tap'
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'
import specs from '@asyncapi/specs'
import { loadCatalog } from '../../src/catalog/load.js'
import type { Catalog, Product } from '../../src/catalog/types.js'
import { GatewaySecret } from '../../src/auth/gateway-secret.js'
import { DemoDataGenerator } from '../../src/dev/demo-data.js'
import { bindPolicy } from '../../src/policy/index.js'
import { buildAsyncApi, type AsyncApiInput, type AsyncApiShare } from '../../src/discovery/asyncapi.js'
import { SHIPPED_POLICIES } from '../helpers/policies.js'

/* eslint-disable @typescript-eslint/no-explicit-any */
type Obj = Record<string, any>

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default

/**
 * The official schema is draft-07 and embeds the draft-07 meta-schema under its own
 * $id, so ajv's built-in copy must be left out (`meta: false`, else "resolves to more
 * than one schema"); it also needs `strict: false` (it uses `additionalItems` without
 * an `items` array, which strict mode rejects).
 */
function asyncApiValidator (): ReturnType<Ajv['compile']> {
  const ajv = new Ajv({ meta: false, strict: false, allErrors: true })
  addFormats(ajv)
  return ajv.compile(specs.schemas['3.0.0'] as object)
}
const validateAsyncApi = asyncApiValidator()

const catalog = await loadCatalog(SHIPPED_POLICIES)
const PUBLIC_URL = 'https://streams.example.com'

const share: AsyncApiShare = {
  id: 'sh_test1',
  partner: 'acme',
  products: [
    { product: 'orders', policy: 'partner-basic', access: ['read'] },
    { product: 'shipments', policy: 'carrier-tracking', access: ['read'] },
    { product: 'inventory-levels', policy: 'marketplace-availability', access: ['read'] },
    { product: 'returns', policy: 'own-returns', access: ['read', 'write'] }
  ],
  history: 'P7D',
  expires_at: '2030-01-01T00:00:00.000Z'
}

function build (input: Partial<AsyncApiInput> = {}): Obj {
  return buildAsyncApi({ share, catalog, publicUrl: PUBLIC_URL, ...input })
}

function valid (t: Test, doc: unknown, label: string): void {
  const ok = validateAsyncApi(doc)
  t.ok(ok, `${label}: valid AsyncAPI 3.0.0`)
  if (ok !== true) t.comment(JSON.stringify(validateAsyncApi.errors?.slice(0, 10), null, 2))
}

/** Resolves a local JSON pointer. */
function resolve (doc: Obj, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined
  let node: unknown = doc
  for (const raw of ref.slice(2).split('/')) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (node === null || typeof node !== 'object' || !Object.prototype.hasOwnProperty.call(node, part)) return undefined
    node = (node as Obj)[part]
  }
  return node
}

function allRefs (node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const x of node) allRefs(x, out)
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v)
      else allRefs(v, out)
    }
  }
  return out
}

/** A name as a word anywhere in the text (not inside `order_id` or `pathname`). */
function mentions (text: string, name: string): boolean {
  return new RegExp(`(?<![A-Za-z0-9_])${name}(?![A-Za-z0-9_])`, 'i').test(text)
}

t.test('the official AsyncAPI 3.0.0 schema rejects what it should (the validator is real)', async t => {
  t.notOk(validateAsyncApi({ asyncapi: '3.0.0', info: { title: 'x' } }), 'info.version is required')
  t.notOk(validateAsyncApi({ asyncapi: '2.6.0', info: { title: 'x', version: '1' } }), 'only 3.0.0')
  const doc = build()
  const broken = structuredClone(doc)
  broken.operations['orders.sse.receive'].action = 'subscribe'
  t.notOk(validateAsyncApi(broken), 'a 2.x action is refused')
  const broken2 = structuredClone(doc)
  broken2.channels['orders.sse'].messages.record = { payload: {}, bogus: true }
  t.notOk(validateAsyncApi(broken2), 'an unknown message field is refused')
  const broken3 = structuredClone(doc)
  broken3.components.securitySchemes.httpBearer.scheme = 'basic'
  broken3.components.securitySchemes.httpBearer.bearerFormat = 'JWT'
  t.notOk(validateAsyncApi(broken3), 'bearerFormat only with the bearer scheme')
})

t.test('a share over the shipped policies: a valid AsyncAPI 3.0.0 document', async t => {
  const doc = build()
  valid(t, doc, 'four products, one writable')
  t.equal(doc.asyncapi, '3.0.0')
  t.equal(doc.info.title, 'streamshare — share sh_test1')
  t.match(doc.info.version, /^[0-9a-f]{12}$/, 'version is a content hash')
  t.match(doc.info.description, /acme/)
  t.match(doc.info.description, /P7D/)
  t.match(doc.info.description, /2030-01-01/)
  t.same(build(), doc, 'deterministic')
  t.not(build({ publicUrl: 'https://other.example.com' }).info.version, doc.info.version, 'the version follows the content')
  t.equal(JSON.parse(JSON.stringify(doc)).info.title, doc.info.title, 'plain JSON')
})

t.test('servers and the security scheme', async t => {
  const doc = build()
  t.same(Object.keys(doc.servers).sort(), ['http', 'websocket'])
  t.equal(doc.servers.http.host, 'streams.example.com')
  t.equal(doc.servers.http.protocol, 'https')
  t.equal(doc.servers.websocket.host, 'streams.example.com')
  t.equal(doc.servers.websocket.protocol, 'wss')
  t.equal(doc.servers.http.pathname, undefined, 'no pathname for a root URL')
  const scheme = doc.components.securitySchemes.httpBearer
  t.same({ type: scheme.type, scheme: scheme.scheme, bearerFormat: scheme.bearerFormat }, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
  t.match(scheme.description, /POST \/v1\/tickets/, 'tickets are explained')
  t.match(scheme.description, /\?ticket=/)
  for (const server of Object.values(doc.servers) as Obj[]) t.same(server.security, [{ $ref: '#/components/securitySchemes/httpBearer' }])

  const plain = build({ publicUrl: 'http://localhost:8080/gateway' })
  valid(t, plain, 'http URL with a path')
  t.equal(plain.servers.http.protocol, 'http')
  t.equal(plain.servers.websocket.protocol, 'ws')
  t.equal(plain.servers.http.host, 'localhost:8080')
  t.equal(plain.servers.http.pathname, '/gateway')
})

t.test('a channel per product and transport, operations per access', async t => {
  const doc = build()
  const channels = doc.channels as Record<string, Obj>
  const operations = doc.operations as Record<string, Obj>
  for (const p of ['orders', 'shipments', 'inventory-levels', 'returns']) {
    t.equal(channels[`${p}.sse`]?.address, `/v1/streams/${p}`, `${p}: SSE channel`)
    t.equal(channels[`${p}.ndjson`]?.address, `/v1/streams/${p}`, `${p}: NDJSON channel`)
    t.equal(channels[`${p}.batch`]?.address, `/v1/streams/${p}/records`, `${p}: batch channel`)
    t.equal(channels[`${p}.ws`]?.address, '/v1/ws', `${p}: WebSocket channel`)
    t.same(channels[`${p}.ws`]?.servers, [{ $ref: '#/servers/websocket' }])
    t.same(channels[`${p}.sse`]?.servers, [{ $ref: '#/servers/http' }])
    t.equal(channels[`${p}.ws`]?.bindings?.ws?.headers?.properties?.['Sec-WebSocket-Protocol']?.const, 'streamshare.v1')
    t.match(channels[`${p}.sse`]?.description, /text\/event-stream/)
    t.match(channels[`${p}.ndjson`]?.description, /application\/x-ndjson/)
    for (const m of ['record', 'gap', 'skipped', 'expiring', 'revoked']) {
      t.ok(channels[`${p}.sse`]?.messages[m] !== undefined, `${p}: SSE ${m}`)
      t.ok(channels[`${p}.ws`]?.messages[m] !== undefined, `${p}: WebSocket ${m}`)
    }
    t.ok(channels[`${p}.ws`]?.messages.subscribe !== undefined, `${p}: WebSocket subscribe`)
    t.equal(operations[`${p}.sse.receive`]?.action, 'receive')
    t.equal(operations[`${p}.sse.receive`]?.bindings?.http?.query?.properties?.format?.enum?.[0], 'sse')
    t.equal(operations[`${p}.ndjson.receive`]?.action, 'receive')
    t.equal(operations[`${p}.batch.receive`]?.bindings?.http?.method, 'GET')
    t.equal(operations[`${p}.batch.receive`]?.bindings?.http?.query?.properties?.limit?.maximum, 1000)
    t.equal(operations[`${p}.ws.subscribe`]?.action, 'send')
    t.equal(operations[`${p}.ws.receive`]?.action, 'receive')
  }
  t.equal(Object.keys(channels).length, 16, 'four transports × four products')

  // Write access: returns only (the only product with a write_schema and a write grant).
  t.equal(operations['returns.batch.send']?.action, 'send')
  t.equal(operations['returns.batch.send']?.bindings?.http?.method, 'POST')
  t.equal(operations['returns.ws.publish']?.action, 'send')
  t.ok(channels['returns.ws']?.messages.publish !== undefined, 'returns: publish message')
  const writeValue = resolve(doc, '#/components/schemas/returns.write') as Obj
  t.ok(writeValue?.properties?.return_id !== undefined && writeValue?.properties?.reason?.enum !== undefined, 'the write schema is the product write_schema')
  t.equal(writeValue.additionalProperties, false)
  for (const p of ['orders', 'shipments', 'inventory-levels']) {
    t.equal(operations[`${p}.batch.send`], undefined, `${p}: no produce`)
    t.equal(operations[`${p}.ws.publish`], undefined, `${p}: no publish`)
    t.equal(channels[`${p}.ws`]?.messages.publish, undefined, `${p}: no publish message`)
  }
})

t.test('references resolve; operations name messages of their own channel', async t => {
  const doc = build()
  const refs = allRefs(doc)
  t.ok(refs.length > 100, `${refs.length} references`)
  for (const r of new Set(refs)) t.ok(resolve(doc, r) !== undefined, `${r} resolves`)
  for (const [id, op] of Object.entries(doc.operations as Record<string, Obj>)) {
    const channelRef = op.channel.$ref as string
    for (const m of [...(op.messages ?? []), ...(op.reply?.messages ?? [])] as Obj[]) {
      t.ok((m.$ref as string).startsWith(`${channelRef}/messages/`), `${id}: ${m.$ref as string} is a message of its channel`)
    }
  }
  t.notOk(JSON.stringify(doc).includes('$defs'), 'no $defs travel')
  t.notOk(JSON.stringify(doc).includes('json-schema.org/draft/2020-12'), 'payloads are AsyncAPI schemas, not tagged 2020-12')
})

t.test('record envelopes: the value is the derived output schema; real views validate', async t => {
  const doc = build()
  const ajv = new Ajv({ strict: false, allErrors: true })
  addFormats(ajv)
  // Only the components: the document's top-level `id` would read as a draft-04 schema id.
  ajv.addSchema({ components: doc.components }, 'asyncapi')
  const secret = new GatewaySecret('a test secret that is long enough')
  const demo = new DemoDataGenerator(7)
  const orders = catalog.products.get('orders') as Product
  const policy = orders.policies.get('partner-basic')!
  const validateEnvelope = ajv.getSchema('asyncapi#/components/schemas/orders.record')!
  const validateWs = ajv.getSchema('asyncapi#/components/schemas/ws.orders.record')!
  let checked = 0
  for (let i = 0; i < 200 && checked < 20; i++) {
    const r = demo.order()
    const view = bindPolicy(policy.compiled, { shareId: share.id, secret, partnerAttributes: { region: r.value.region }, partnerId: 'acme' })
    const out = view({ value: r.value, key: r.key, headers: r.headers })
    if (!out.delivered) continue
    const envelope = { type: 'record', product: 'orders', partition: 0, offset: i, timestamp: new Date(0).toISOString(), key: out.key, value: out.value, headers: out.headers, policy_version: policy.version, cursor: 'c' }
    if (!validateEnvelope(envelope)) t.fail(JSON.stringify(validateEnvelope.errors))
    t.ok(validateWs({ id: 's1', ...envelope }), 'the WebSocket frame validates')
    t.notOk(validateWs(envelope), 'a WebSocket frame needs the subscription id')
    checked++
  }
  t.ok(checked >= 10, `${checked} delivered records validate against the documented envelope`)
  const tombstone = { type: 'record', product: 'orders', partition: 0, offset: 1, timestamp: new Date(0).toISOString(), key: 'k', value: null, headers: {}, policy_version: 'v', cursor: 'c' }
  t.ok(validateEnvelope(tombstone), 'a tombstone (null value) is documented')
  t.notOk(validateEnvelope({ ...tombstone, value: { order_id: 'o-1', email: 'x@example.com' } }), 'a withheld field would not validate')
  t.notOk(validateEnvelope({ ...tombstone, headers: { 'x-internal': 'a' } }), 'only the policy headers pass')
  const value = resolve(doc, '#/components/schemas/orders.value') as Obj
  t.same(Object.keys(value.properties).sort(), Object.keys(policy.compiled.outputSchema.properties as Obj).sort(), 'the value schema has the output schema fields')
})

t.test('withheld fields are never named', async t => {
  const text = JSON.stringify(build())
  // orders/partner-basic withholds these (customer.name/email, shipping.name/street/city,
  // payment.*, items[*].name/unit_price, loyalty_tier). Other products of the share
  // keep none of them. ("city", "channel" and "method" are left out of the check:
  // shipments keeps location.city; "channel" and "method" are AsyncAPI vocabulary.)
  for (const w of ['email', 'name', 'street', 'card_last4', 'payment', 'loyalty_tier', 'unit_price']) {
    t.notOk(mentions(text, w), `"${w}" appears nowhere`)
  }
  for (const kept of ['order_id', 'postcode', 'quantity', 'sku', 'currency', 'tracking_number', 'return_id']) {
    t.ok(mentions(text, kept), `"${kept}" (delivered) is documented`)
  }

  // Deny mode: orders/analytics-internal drops customer.name/email/phone, shipping.name/street, payment.card_last4.
  const deny = JSON.stringify(build({ share: { ...share, products: [{ product: 'orders', policy: 'analytics-internal', access: ['read'] }] } }))
  // ("phone" is also a value of the kept `channel` enum, so it is not checked here.)
  for (const w of ['email', 'street', 'card_last4']) t.notOk(mentions(deny, w), `analytics-internal: "${w}" appears nowhere`)
  t.ok(mentions(deny, 'loyalty_tier') && mentions(deny, 'unit_price'), 'analytics-internal: what it keeps is documented')

  // Catalog text that names a withheld field is left out.
  const orders = catalog.products.get('orders') as Product
  const products = new Map(catalog.products)
  const policies = new Map(orders.policies)
  policies.set('partner-basic', { ...orders.policies.get('partner-basic')!, description: 'No Email, no street.' })
  products.set('orders', { ...orders, description: 'Orders, with the customer email and payment details upstream.', policies })
  const chatty: Catalog = { ...catalog, products }
  const scrubbed = build({ catalog: chatty, share: { ...share, products: [{ product: 'orders', policy: 'partner-basic', access: ['read'] }] } })
  valid(t, scrubbed, 'scrubbed descriptions')
  const scrubbedText = JSON.stringify(scrubbed)
  for (const w of ['email', 'payment', 'street']) t.notOk(mentions(scrubbedText, w), `a description naming "${w}" is left out`)
  const harmless = build({ share: { ...share, products: [{ product: 'orders', policy: 'partner-basic', access: ['read'] }] } })
  t.match(harmless.info.description, /Confirmed customer orders/, 'a harmless product description is kept')
})

t.test('edge cases: unknown grants, write without a write schema, write-only, empty share', async t => {
  const odd = build({
    share: {
      ...share,
      products: [
        { product: 'orders', policy: 'partner-basic', access: ['read', 'write'] }, // no write_schema: read only
        { product: 'nope', policy: 'x', access: ['read'] },
        { product: 'shipments', policy: 'no-such-policy', access: ['read'] }
      ]
    }
  })
  valid(t, odd, 'odd grants')
  t.same(Object.keys(odd.channels).sort(), ['orders.batch', 'orders.ndjson', 'orders.sse', 'orders.ws'])
  t.equal(odd.operations['orders.batch.send'], undefined, 'no write without a write_schema')
  t.equal(odd.components.schemas['produce.response'], undefined, 'no produce schemas without a writable product')

  const writeOnly = build({ share: { ...share, products: [{ product: 'returns', policy: 'own-returns', access: ['write'] }] } })
  valid(t, writeOnly, 'write only')
  t.same(Object.keys(writeOnly.channels).sort(), ['returns.batch', 'returns.ws'], 'write only: batch (POST) and WebSocket')
  t.same(Object.keys(writeOnly.operations).sort(), ['returns.batch.send', 'returns.ws.publish'])
  t.equal(writeOnly.components.schemas['returns.value'], undefined, 'nothing read, no read schema')
  for (const r of new Set(allRefs(writeOnly))) t.ok(resolve(writeOnly, r) !== undefined, `write only: ${r} resolves`)

  const empty = build({ share: { ...share, products: [] } })
  valid(t, empty, 'empty share')
  t.same(empty.channels, {})
  t.same(empty.operations, {})
})
