/**
 * The AsyncAPI 3.0.0 document of one share (CONTRACT §5 `GET /v1/asyncapi.json`):
 * the partner listener as servers, one channel per product and transport the share
 * can use (SSE, NDJSON, batch, WebSocket), the stream messages of CONTRACT §5/§6 and
 * the operations on them, with the bearer-token security scheme.
 *
 * Nothing withheld is named. The only source of a product's field names is the
 * policy's derived output schema (`CompiledPolicy.outputSchema`, already free of
 * withheld names), plus — for grants with write access — the product's
 * `write_schema`, which is the partner's own input contract. Free text from the
 * catalog (product and policy descriptions) is left out when it mentions a field
 * the policy withholds. Pure: no I/O, no clock; the same input gives the same
 * document (its `info.version` is a hash of its content).
 */
import { createHash } from 'node:crypto'
import type { Access } from '../auth/tokens.js'
import type { Catalog, PolicyDefinition, Product } from '../catalog/types.js'
import { canonicalJson } from '../policy/canonical-json.js'
import { deriveOutputSchema, partnerText } from '../policy/output-schema.js'
import { isSchemaObject, type SchemaObject } from '../policy/json-schema.js'
import { BATCH_DEFAULT_LIMIT, BATCH_MAX_LIMIT, BATCH_MAX_WAIT_MS, PRODUCE_MAX_RECORDS, SUBSCRIPTION_ID_PATTERN, WS_SUBPROTOCOL } from '../transports/protocol.js'

/** One product of the share (a `ShareGrant`). */
export interface AsyncApiGrant {
  product: string
  policy: string
  access: readonly Access[]
}

/** The parts of a `Share` the document uses (a registry `Share` fits). */
export interface AsyncApiShare {
  id: string
  partner: string
  products: readonly AsyncApiGrant[]
  /** `none`, an ISO 8601 duration or `all`. */
  history: string
  expires_at: string | null
}

export interface AsyncApiInput {
  share: AsyncApiShare
  /** The catalog in force (the one streams use). */
  catalog: Catalog
  /** `STREAMSHARE_PUBLIC_URL` (config.publicUrl): base of the servers. */
  publicUrl: string
}

/** An AsyncAPI 3.0.0 document, ready for JSON.stringify. */
export type AsyncApiDocument = Record<string, unknown>

const ASYNCAPI_VERSION = '3.0.0'

const SERVER_HTTP = 'http'
const SERVER_WS = 'websocket'
const BEARER = 'httpBearer'

type Transport = 'sse' | 'ndjson' | 'batch' | 'ws'

interface ResolvedGrant {
  product: Product
  policy: PolicyDefinition
  read: boolean
  write: boolean
}

// --- small helpers ---------------------------------------------------------------

/** A JSON pointer segment (RFC 6901). */
function pointer (...segments: string[]): string {
  return '#/' + segments.map(s => s.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')
}

function ref (...segments: string[]): { $ref: string } {
  return { $ref: pointer(...segments) }
}

/** Keywords whose values are data (instances), not schemas: never walked for names. */
const DATA_KEYWORDS = new Set(['enum', 'const', 'default', 'examples', 'example'])

/** Schema keywords holding one subschema / a map of subschemas / a list of subschemas. */
const ONE_SCHEMA = ['additionalProperties', 'additionalItems', 'contains', 'propertyNames', 'not', 'if', 'then', 'else']
const SCHEMA_MAP = ['properties', 'patternProperties', 'definitions']
const SCHEMA_LIST = ['allOf', 'anyOf', 'oneOf']
/** JSON Schema 2020-12 keywords with no draft-07 meaning (or no meaning once embedded here). */
const DROPPED = new Set(['$schema', '$id', '$anchor', '$dynamicAnchor', '$dynamicRef', '$vocabulary', '$ref', '$defs', 'unevaluatedProperties', 'unevaluatedItems', 'dependentSchemas', 'minContains', 'maxContains'])

/**
 * A JSON Schema 2020-12 (as the catalog derives them: local references already
 * inlined) as an AsyncAPI Schema Object, the document's default schema format (a
 * superset of draft-07): `prefixItems`/`items` become `items` (list)/`additionalItems`,
 * `dependentRequired` becomes `dependencies`, and keywords that would mean nothing or
 * something else once embedded (`$schema`, `$id`, a stray `$ref`, `unevaluated*`) are
 * left out — which can only make the schema looser, never name anything new.
 */
function toAsyncApiSchema (node: unknown): unknown {
  if (typeof node === 'boolean') return node
  if (!isSchemaObject(node)) return {}
  const out: SchemaObject = {}
  for (const [k, v] of Object.entries(node)) {
    if (DROPPED.has(k)) continue
    if (DATA_KEYWORDS.has(k)) { out[k] = structuredClone(v); continue }
    if (k === 'prefixItems' || k === 'items') continue
    if (k === 'dependentRequired') { out.dependencies = structuredClone(v); continue }
    if (ONE_SCHEMA.includes(k)) { out[k] = toAsyncApiSchema(v); continue }
    if (SCHEMA_MAP.includes(k) && isSchemaObject(v)) {
      const map: SchemaObject = {}
      for (const [name, sub] of Object.entries(v)) Object.defineProperty(map, name, { value: toAsyncApiSchema(sub), enumerable: true, writable: true, configurable: true })
      out[k] = map
      continue
    }
    if (SCHEMA_LIST.includes(k) && Array.isArray(v)) { out[k] = v.map(toAsyncApiSchema); continue }
    out[k] = structuredClone(v)
  }
  if (Array.isArray(node.prefixItems)) {
    out.items = node.prefixItems.map(toAsyncApiSchema)
    if (node.items !== undefined) out.additionalItems = toAsyncApiSchema(node.items)
  } else if (node.items !== undefined) {
    out.items = Array.isArray(node.items) ? node.items.map(toAsyncApiSchema) : toAsyncApiSchema(node.items)
  }
  return out
}

// --- schemas of the messages -----------------------------------------------------

function keySchema (product: Product, policy: PolicyDefinition): SchemaObject {
  const action = policy.compiled.keyAction
  if (action === 'drop' || product.keyFormat === 'none') return { type: 'null', description: 'no key is delivered' }
  if (action === 'hash') return { type: ['string', 'null'], contentEncoding: 'base64url', description: 'the record key, HMAC-SHA-256 per share (joinable within this share only)' }
  if (product.keyFormat === 'json') return { description: 'the record key, as JSON (null when the record has none)' }
  return { type: ['string', 'null'], description: 'the record key (null when the record has none)' }
}

function headersSchema (policy: PolicyDefinition): SchemaObject {
  const properties: SchemaObject = {}
  for (const h of policy.compiled.headers) Object.defineProperty(properties, h, { value: { type: 'string' }, enumerable: true, writable: true, configurable: true })
  return {
    type: 'object',
    description: policy.compiled.headers.length === 0 ? 'no Kafka header passes this policy' : 'the Kafka headers this policy passes',
    properties,
    additionalProperties: false
  }
}

function envelopeSchema (g: ResolvedGrant, valueSchemaKey: string): SchemaObject {
  return {
    type: 'object',
    title: `record of ${g.product.name}`,
    required: ['type', 'product', 'partition', 'offset', 'timestamp', 'value', 'policy_version', 'cursor'],
    properties: {
      type: { const: 'record' },
      product: { const: g.product.name },
      partition: { type: 'integer', minimum: 0 },
      offset: { type: 'integer', minimum: 0 },
      timestamp: { type: 'string', format: 'date-time', description: 'the Kafka record timestamp' },
      key: keySchema(g.product, g.policy),
      value: {
        description: `the record value as policy ${g.policy.name} delivers it; null for a tombstone (the key was deleted)`,
        anyOf: [ref('components', 'schemas', valueSchemaKey), { type: 'null' }]
      },
      headers: headersSchema(g.policy),
      policy_version: { type: 'string', description: 'version of the policy that shaped this record', examples: [g.policy.version] },
      cursor: { type: 'string', description: 'opaque resume position: pass it as `from` (or SSE `Last-Event-ID`) to continue right after this message' }
    }
  }
}

const CURSOR_PROPERTY = { type: 'string', description: 'opaque resume position after this message' }

const GENERIC_SCHEMAS: Record<string, SchemaObject> = {
  gap: {
    type: 'object',
    title: 'gap',
    description: 'The requested position no longer exists (retention) or is older than the share may read (history_window); delivery continues after the gap.',
    required: ['type', 'partition', 'from_offset', 'to_offset', 'reason'],
    properties: {
      type: { const: 'gap' },
      partition: { type: 'integer', minimum: 0 },
      from_offset: { type: 'integer', minimum: 0 },
      to_offset: { type: 'integer', minimum: 0 },
      reason: { type: 'string', enum: ['retention', 'history_window'] },
      cursor: CURSOR_PROPERTY
    }
  },
  skipped: {
    type: 'object',
    title: 'skipped',
    description: 'A record failed the product schema: it is withheld (and quarantined) and counted.',
    required: ['type', 'partition', 'offset', 'reason'],
    properties: {
      type: { const: 'skipped' },
      partition: { type: 'integer', minimum: 0 },
      offset: { type: 'integer', minimum: 0 },
      reason: { const: 'schema' },
      cursor: CURSOR_PROPERTY
    }
  },
  expiring: {
    type: 'object',
    title: 'expiring',
    description: 'The token expires soon: fetch a new one and reconnect from the last cursor.',
    required: ['type', 'seconds'],
    properties: { type: { const: 'expiring' }, seconds: { type: 'integer', minimum: 0 } }
  },
  revoked: {
    type: 'object',
    title: 'revoked',
    description: 'Access ended (share or token revoked or expired, product removed): sent last, then the stream ends.',
    required: ['type', 'reason'],
    properties: { type: { const: 'revoked' }, reason: { type: 'string' } }
  },
  heartbeat: {
    type: 'object',
    title: 'heartbeat',
    description: 'NDJSON keep-alive line, every 15 s by default.',
    required: ['type'],
    properties: { type: { const: 'heartbeat' } }
  },
  'produce.response': {
    type: 'object',
    title: 'produced',
    description: 'HTTP 201: where each record was written, in input order.',
    required: ['offsets'],
    properties: {
      offsets: {
        type: 'array',
        items: { type: 'object', required: ['partition', 'offset'], properties: { partition: { type: 'integer', minimum: 0 }, offset: { type: 'integer', minimum: 0 } } }
      }
    }
  },
  'ws.unsubscribe': {
    type: 'object',
    title: 'unsubscribe',
    required: ['type', 'id'],
    additionalProperties: false,
    properties: { type: { const: 'unsubscribe' }, id: { type: 'string', pattern: SUBSCRIPTION_ID_PATTERN } }
  },
  'ws.subscribed': {
    type: 'object',
    title: 'subscribed',
    description: 'The subscription starts at `cursor`.',
    required: ['type', 'id', 'cursor'],
    properties: { type: { const: 'subscribed' }, id: { type: 'string' }, cursor: { type: 'string' } }
  },
  'ws.published': {
    type: 'object',
    title: 'published',
    required: ['type', 'ref', 'partition', 'offset'],
    properties: { type: { const: 'published' }, ref: { type: 'string' }, partition: { type: 'integer', minimum: 0 }, offset: { type: 'integer', minimum: 0 } }
  },
  'ws.error': {
    type: 'object',
    title: 'error',
    description: 'A subscribe or publish failed (the `id` or `ref` it was about); the connection stays open.',
    required: ['type', 'status', 'code'],
    properties: {
      type: { const: 'error' },
      id: { type: 'string' },
      ref: { type: 'string' },
      status: { type: 'integer', minimum: 400, maximum: 599 },
      code: { type: 'string', examples: ['scope_missing', 'product_unknown', 'cursor_invalid', 'schema_invalid', 'quota_exceeded'] },
      detail: { type: 'string' }
    }
  }
}

/** A message as carried on the WebSocket: the stream message with the subscription id. */
function withSubscriptionId (schemaKey: string): SchemaObject {
  return {
    allOf: [
      ref('components', 'schemas', schemaKey),
      { type: 'object', required: ['id'], properties: { id: { type: 'string', description: 'the subscription id' } } }
    ]
  }
}

function produceRecordSchema (writeSchemaKey: string): SchemaObject {
  return {
    type: 'object',
    required: ['value'],
    additionalProperties: false,
    properties: {
      key: { description: 'the record key (optional)' },
      value: ref('components', 'schemas', writeSchemaKey),
      headers: {
        type: 'object',
        description: 'Kafka headers; `streamshare-*` names are reserved (the gateway stamps streamshare-partner and streamshare-share)',
        additionalProperties: { type: 'string' }
      }
    }
  }
}

// --- the document --------------------------------------------------------------

function resolveGrants (input: AsyncApiInput): ResolvedGrant[] {
  const out = new Map<string, ResolvedGrant>()
  for (const grant of input.share.products) {
    if (out.has(grant.product)) continue
    const product = input.catalog.products.get(grant.product)
    const policy = product?.policies.get(grant.policy)
    // A grant whose product or policy left the catalog serves nothing (404 on use).
    if (product === undefined || policy === undefined) continue
    const read = grant.access.includes('read')
    const write = grant.access.includes('write') && product.writeSchema !== undefined
    if (read || write) out.set(product.name, { product, policy, read, write })
  }
  return [...out.values()].sort((a, b) => a.product.name < b.product.name ? -1 : a.product.name > b.product.name ? 1 : 0)
}

function servers (publicUrl: string): Record<string, unknown> {
  const url = new URL(publicUrl)
  const secure = url.protocol === 'https:'
  const pathname = url.pathname.replace(/\/+$/, '')
  const base = { host: url.host, ...(pathname === '' ? {} : { pathname }), security: [ref('components', 'securitySchemes', BEARER)] }
  return {
    [SERVER_HTTP]: {
      ...base,
      protocol: secure ? 'https' : 'http',
      title: 'partner listener (HTTP)',
      description: 'Server-Sent Events, NDJSON streams, batches (long poll) and produce.'
    },
    [SERVER_WS]: {
      ...base,
      protocol: secure ? 'wss' : 'ws',
      title: 'partner listener (WebSocket)',
      description: `\`GET /v1/ws\` with the subprotocol \`${WS_SUBPROTOCOL}\`: many subscriptions (and publishes) over one connection.`
    }
  }
}

const SECURITY_SCHEMES = {
  [BEARER]: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: [
      'A JWT minted by the gateway for this share, sent as `Authorization: Bearer <token>`; its `scope` grants `read:<product>` / `write:<product>`.',
      'Tokens are never accepted in query strings. Public keys: `GET /.well-known/jwks.json`.',
      'Browsers (EventSource, WebSocket), which cannot set headers, first call `POST /v1/tickets` with the header and pass the returned single-use ticket (valid 30 s) as `?ticket=` to `/v1/streams/{product}` or `/v1/ws`.'
    ].join('\n\n')
  }
}

function streamQuery (format: 'sse' | 'ndjson'): SchemaObject {
  return {
    type: 'object',
    properties: {
      from: { type: 'string', description: '`latest` (default), `earliest`, an RFC 3339 timestamp or a cursor' + (format === 'sse' ? '; the `Last-Event-ID` header wins' : '') },
      format: { type: 'string', enum: [format], description: `overrides the Accept header (${format === 'sse' ? 'text/event-stream' : 'application/x-ndjson'})` },
      ticket: { type: 'string', description: 'single-use browser ticket from `POST /v1/tickets` (instead of the Authorization header)' }
    }
  }
}

/**
 * Builds the AsyncAPI 3.0.0 document of one share. Products (or policies) of the
 * share that are no longer in the catalog are left out; `write` access appears only
 * for products that have a `write_schema`.
 */
export function buildAsyncApi (input: AsyncApiInput): AsyncApiDocument {
  const { share } = input
  const grants = resolveGrants(input)

  const schemas: Record<string, unknown> = {}
  const messages: Record<string, unknown> = {}
  const channels: Record<string, unknown> = {}
  const operations: Record<string, unknown> = {}

  for (const [key, schema] of Object.entries(GENERIC_SCHEMAS)) schemas[key] = structuredClone(schema)

  // Generic stream messages, once per transport framing.
  const streamKinds = ['gap', 'skipped', 'expiring', 'revoked'] as const
  for (const kind of streamKinds) {
    messages[`sse.${kind}`] = {
      title: kind,
      summary: `SSE event \`${kind}\``,
      contentType: 'application/json',
      description: `Sent as \`event: ${kind}\` with the JSON below as \`data:\`${kind === 'gap' || kind === 'skipped' ? ' and its cursor as `id:`' : ''}.`,
      payload: ref('components', 'schemas', kind)
    }
    messages[`ndjson.${kind}`] = { title: kind, summary: `NDJSON line \`${kind}\``, contentType: 'application/json', payload: ref('components', 'schemas', kind) }
    schemas[`ws.${kind}`] = withSubscriptionId(kind)
    messages[`ws.${kind}`] = { title: kind, summary: `\`${kind}\` of a subscription`, contentType: 'application/json', payload: ref('components', 'schemas', `ws.${kind}`) }
  }
  messages['ndjson.heartbeat'] = { title: 'heartbeat', summary: 'NDJSON keep-alive line', contentType: 'application/json', payload: ref('components', 'schemas', 'heartbeat') }
  for (const kind of ['unsubscribe', 'subscribed', 'published', 'error'] as const) {
    messages[`ws.${kind}`] = { title: kind, contentType: 'application/json', payload: ref('components', 'schemas', `ws.${kind}`) }
  }
  messages['produce.response'] = { title: 'produced', summary: 'HTTP 201 body of a write', contentType: 'application/json', payload: ref('components', 'schemas', 'produce.response') }
  let anyWrite = false

  const productLines: string[] = []
  for (const g of grants) {
    const p = g.product.name
    const outputSchema = g.policy.compiled.outputSchema
    const withheld = g.policy.compiled.withheldMentions
    const access = [g.read ? 'read' : undefined, g.write ? 'write' : undefined].filter(a => a !== undefined).join('+')
    const productText = partnerText(g.product.description, withheld)
    const policyText = partnerText(g.policy.description, withheld)
    productLines.push(`- \`${p}\` (${access}) through policy \`${g.policy.name}\` (version \`${g.policy.version}\`)` +
      (productText === undefined ? '' : `: ${productText}`) + (policyText === undefined ? '' : ` Policy: ${policyText}`))

    const valueKey = `${p}.value`
    const writeKey = `${p}.write`
    const channelIds = { sse: `${p}.sse`, ndjson: `${p}.ndjson`, batch: `${p}.batch`, ws: `${p}.ws` } satisfies Record<Transport, string>
    const address = { sse: `/v1/streams/${p}`, ndjson: `/v1/streams/${p}`, batch: `/v1/streams/${p}/records`, ws: '/v1/ws' } satisfies Record<Transport, string>
    const channelMessages: Record<Transport, Record<string, unknown>> = { sse: {}, ndjson: {}, batch: {}, ws: {} }
    const msg = (transport: Transport, local: string): { $ref: string } => ref('channels', channelIds[transport], 'messages', local)
    const scopeNote = (a: Access): string => `Needs scope \`${a}:${p}\`.`

    if (g.read) {
      schemas[valueKey] = { ...(toAsyncApiSchema(outputSchema) as SchemaObject), title: `${p} as delivered by policy ${g.policy.name}` }
      schemas[`${p}.record`] = envelopeSchema(g, valueKey)
      schemas[`ws.${p}.record`] = withSubscriptionId(`${p}.record`)
      schemas[`${p}.batch.page`] = {
        type: 'object',
        required: ['records', 'cursor'],
        properties: {
          records: {
            type: 'array',
            maxItems: BATCH_MAX_LIMIT,
            items: { anyOf: [ref('components', 'schemas', `${p}.record`), ref('components', 'schemas', 'gap'), ref('components', 'schemas', 'skipped')] }
          },
          cursor: { type: 'string', description: 'continue with `from=<cursor>`; returned even when `records` is empty' }
        }
      }
      schemas[`ws.${p}.subscribe`] = {
        type: 'object',
        title: 'subscribe',
        required: ['type', 'id', 'product'],
        additionalProperties: false,
        properties: {
          type: { const: 'subscribe' },
          id: { type: 'string', pattern: SUBSCRIPTION_ID_PATTERN, description: 'your label for the subscription, unique on the connection' },
          product: { const: p },
          from: { type: 'string', description: '`latest` (default), `earliest`, an RFC 3339 timestamp or a cursor' }
        }
      }
      messages[`${p}.sse.record`] = {
        title: `${p} record`,
        summary: 'SSE event `record`',
        contentType: 'application/json',
        description: 'Sent as `id: <cursor>`, `event: record`, `data: <envelope>`.',
        payload: ref('components', 'schemas', `${p}.record`)
      }
      messages[`${p}.ndjson.record`] = { title: `${p} record`, summary: 'NDJSON line `record`', contentType: 'application/json', payload: ref('components', 'schemas', `${p}.record`) }
      messages[`${p}.ws.record`] = { title: `${p} record`, summary: '`record` of a subscription', contentType: 'application/json', payload: ref('components', 'schemas', `ws.${p}.record`) }
      messages[`${p}.batch.page`] = { title: `${p} batch`, summary: 'HTTP 200 body of a batch', contentType: 'application/json', payload: ref('components', 'schemas', `${p}.batch.page`) }
      messages[`${p}.ws.subscribe`] = { title: 'subscribe', summary: `subscribe to ${p}`, contentType: 'application/json', payload: ref('components', 'schemas', `ws.${p}.subscribe`) }

      channelMessages.sse = { record: ref('components', 'messages', `${p}.sse.record`) }
      channelMessages.ndjson = { record: ref('components', 'messages', `${p}.ndjson.record`) }
      for (const kind of streamKinds) {
        channelMessages.sse[kind] = ref('components', 'messages', `sse.${kind}`)
        channelMessages.ndjson[kind] = ref('components', 'messages', `ndjson.${kind}`)
      }
      channelMessages.ndjson.heartbeat = ref('components', 'messages', 'ndjson.heartbeat')
      channelMessages.batch.page = ref('components', 'messages', `${p}.batch.page`)
      channelMessages.ws.subscribe = ref('components', 'messages', `${p}.ws.subscribe`)
      channelMessages.ws.unsubscribe = ref('components', 'messages', 'ws.unsubscribe')
      channelMessages.ws.subscribed = ref('components', 'messages', 'ws.subscribed')
      channelMessages.ws.record = ref('components', 'messages', `${p}.ws.record`)
      for (const kind of streamKinds) channelMessages.ws[kind] = ref('components', 'messages', `ws.${kind}`)
    }
    if (g.write && g.product.writeSchema !== undefined) {
      anyWrite = true
      // The partner's input contract, with local references inlined (deny mode, nothing listed: all of it).
      schemas[writeKey] = { ...(toAsyncApiSchema(deriveOutputSchema(g.product.writeSchema, { mode: 'deny', fields: [] })) as SchemaObject), title: `${p} record value to write` }
      schemas[`${p}.produce.record`] = produceRecordSchema(writeKey)
      schemas[`${p}.produce.request`] = {
        description: `one record, or an array of 1 to ${PRODUCE_MAX_RECORDS} (all or nothing)`,
        anyOf: [ref('components', 'schemas', `${p}.produce.record`), { type: 'array', minItems: 1, maxItems: PRODUCE_MAX_RECORDS, items: ref('components', 'schemas', `${p}.produce.record`) }]
      }
      schemas[`ws.${p}.publish`] = {
        type: 'object',
        title: 'publish',
        required: ['type', 'ref', 'product', 'value'],
        additionalProperties: false,
        properties: {
          type: { const: 'publish' },
          ref: { type: 'string', description: 'your reference, echoed in `published` or `error`' },
          product: { const: p },
          key: { description: 'the record key (optional)' },
          value: ref('components', 'schemas', writeKey),
          headers: { type: 'object', additionalProperties: { type: 'string' } }
        }
      }
      messages[`${p}.produce.request`] = { title: `write ${p}`, summary: 'HTTP POST body', contentType: 'application/json', payload: ref('components', 'schemas', `${p}.produce.request`) }
      messages[`${p}.ws.publish`] = { title: 'publish', summary: `write one ${p} record`, contentType: 'application/json', payload: ref('components', 'schemas', `ws.${p}.publish`) }
      channelMessages.batch.produce = ref('components', 'messages', `${p}.produce.request`)
      channelMessages.batch.produced = ref('components', 'messages', 'produce.response')
      channelMessages.ws.publish = ref('components', 'messages', `${p}.ws.publish`)
      channelMessages.ws.published = ref('components', 'messages', 'ws.published')
    }
    channelMessages.ws.error = ref('components', 'messages', 'ws.error')

    // Channels: SSE and NDJSON only for reading; batch and WebSocket for either.
    const transports: Transport[] = g.read ? ['sse', 'ndjson', 'batch', 'ws'] : ['batch', 'ws']
    const titles: Record<Transport, string> = {
      sse: `${p} — Server-Sent Events`,
      ndjson: `${p} — NDJSON stream`,
      batch: `${p} — batches${g.write ? ' and writes' : ''}`,
      ws: `${p} — WebSocket`
    }
    const descriptions: Record<Transport, string> = {
      sse: `\`GET ${address.sse}\` with \`Accept: text/event-stream\` (or \`?format=sse\`). A comment line every 15 s; \`retry:\` is set; resume with \`Last-Event-ID\`.`,
      ndjson: `\`GET ${address.ndjson}\` with \`Accept: application/x-ndjson\` (or \`?format=ndjson\`): one JSON message per line.`,
      batch: (g.read ? `\`GET ${address.batch}?from=&limit=&wait_ms=\`: up to ${BATCH_MAX_LIMIT} messages after \`from\` (long poll up to ${BATCH_MAX_WAIT_MS} ms).` : '') +
        (g.write ? `${g.read ? ' ' : ''}\`POST ${address.batch}\`: write records, validated against the product's write schema.` : ''),
      ws: `\`GET /v1/ws\` with the subprotocol \`${WS_SUBPROTOCOL}\`; JSON text frames. Messages of a subscription carry its \`id\`.` +
        (g.write ? ' `publish` writes a record.' : '')
    }
    for (const transport of transports) {
      const channel: Record<string, unknown> = {
        address: address[transport],
        title: titles[transport],
        description: descriptions[transport],
        servers: [ref('servers', transport === 'ws' ? SERVER_WS : SERVER_HTTP)],
        messages: channelMessages[transport]
      }
      if (transport === 'ws') {
        channel.bindings = {
          ws: {
            method: 'GET',
            query: { type: 'object', properties: { ticket: { type: 'string', description: 'single-use browser ticket (instead of the Authorization header)' } } },
            headers: { type: 'object', properties: { 'Sec-WebSocket-Protocol': { type: 'string', const: WS_SUBPROTOCOL } } },
            bindingVersion: '0.1.0'
          }
        }
      }
      channels[channelIds[transport]] = channel
    }

    // Operations.
    if (g.read) {
      for (const format of ['sse', 'ndjson'] as const) {
        operations[`${p}.${format}.receive`] = {
          action: 'receive',
          channel: ref('channels', channelIds[format]),
          title: `Stream ${p} (${format === 'sse' ? 'SSE' : 'NDJSON'})`,
          description: `${scopeNote('read')} Records arrive in offset order per partition; resume from the cursor of the last message processed.`,
          bindings: { http: { method: 'GET', query: streamQuery(format), bindingVersion: '0.3.0' } },
          messages: Object.keys(channelMessages[format]).map(local => msg(format, local))
        }
      }
      operations[`${p}.batch.receive`] = {
        action: 'receive',
        channel: ref('channels', channelIds.batch),
        title: `Read a batch of ${p}`,
        description: `${scopeNote('read')} Poll with \`from=<cursor>\` of the previous batch: nothing is lost between batches.`,
        bindings: {
          http: {
            method: 'GET',
            query: {
              type: 'object',
              properties: {
                from: { type: 'string', description: '`latest` (default), `earliest`, an RFC 3339 timestamp or a cursor' },
                limit: { type: 'integer', minimum: 1, maximum: BATCH_MAX_LIMIT, default: BATCH_DEFAULT_LIMIT },
                wait_ms: { type: 'integer', minimum: 0, maximum: BATCH_MAX_WAIT_MS, default: 0 }
              }
            },
            bindingVersion: '0.3.0'
          }
        },
        messages: [msg('batch', 'page')]
      }
      operations[`${p}.ws.subscribe`] = {
        action: 'send',
        channel: ref('channels', channelIds.ws),
        title: `Subscribe to ${p}`,
        description: `${scopeNote('read')} Answered by \`subscribed\` (or \`error\`), then the subscription's messages.`,
        messages: [msg('ws', 'subscribe')],
        reply: { channel: ref('channels', channelIds.ws), messages: [msg('ws', 'subscribed'), msg('ws', 'error')] }
      }
      operations[`${p}.ws.unsubscribe`] = {
        action: 'send',
        channel: ref('channels', channelIds.ws),
        title: 'Unsubscribe',
        messages: [msg('ws', 'unsubscribe')]
      }
      operations[`${p}.ws.receive`] = {
        action: 'receive',
        channel: ref('channels', channelIds.ws),
        title: `Receive ${p} on the WebSocket`,
        messages: ['record', ...streamKinds, 'error'].map(local => msg('ws', local))
      }
    }
    if (g.write) {
      operations[`${p}.batch.send`] = {
        action: 'send',
        channel: ref('channels', channelIds.batch),
        title: `Write ${p} records`,
        description: `${scopeNote('write')} One record or up to ${PRODUCE_MAX_RECORDS}, all or nothing; \`201\` with the offsets, \`400 schema_invalid\` with the failing paths.`,
        bindings: { http: { method: 'POST', bindingVersion: '0.3.0' } },
        messages: [msg('batch', 'produce')],
        reply: { channel: ref('channels', channelIds.batch), messages: [msg('batch', 'produced')] }
      }
      operations[`${p}.ws.publish`] = {
        action: 'send',
        channel: ref('channels', channelIds.ws),
        title: `Publish a ${p} record on the WebSocket`,
        description: `${scopeNote('write')} Answered by \`published\` or \`error\` with the same \`ref\`.`,
        messages: [msg('ws', 'publish')],
        reply: { channel: ref('channels', channelIds.ws), messages: [msg('ws', 'published'), msg('ws', 'error')] }
      }
    }
  }
  if (!anyWrite) {
    delete schemas['produce.response']
    delete messages['produce.response']
    delete schemas['ws.published']
    delete messages['ws.published']
  }
  if (grants.every(g => !g.read)) {
    for (const kind of [...streamKinds, 'heartbeat', 'ws.subscribed', 'ws.unsubscribe']) delete schemas[kind]
    for (const kind of streamKinds) { delete schemas[`ws.${kind}`]; delete messages[`sse.${kind}`]; delete messages[`ndjson.${kind}`]; delete messages[`ws.${kind}`] }
    delete messages['ndjson.heartbeat']
    delete messages['ws.subscribed']
    delete messages['ws.unsubscribe']
  }
  if (grants.length === 0) {
    delete schemas['ws.error']
    delete messages['ws.error']
  }

  const description = [
    `The data products of share \`${share.id}\` for partner \`${share.partner}\`, as this partner receives them: the record fields below are exactly those its policies deliver (plus, for writable products, the write schema).`,
    grants.length === 0 ? 'This share currently grants no product.' : productLines.join('\n'),
    `History window: \`${share.history}\`. ${share.expires_at === null ? 'No expiry.' : `Expires at ${share.expires_at}.`}`,
    'Every stream message has the same JSON on every transport (SSE `data:`, an NDJSON line, a WebSocket frame with the subscription `id`, an element of a batch). ' +
      'Resume from the `cursor` of the last message processed, on any gateway instance: nothing is lost, order is kept per partition.',
    'Errors are `application/problem+json` (RFC 9457) with a `code`; see the OpenAPI document for the HTTP details.'
  ].join('\n\n')

  const document: Record<string, unknown> = {
    asyncapi: ASYNCAPI_VERSION,
    id: `urn:streamshare:share:${encodeURIComponent(share.id)}`,
    info: {
      title: `streamshare — share ${share.id}`,
      version: '',
      description,
      'x-streamshare-catalog-version': input.catalog.version
    },
    servers: servers(input.publicUrl),
    defaultContentType: 'application/json',
    channels,
    operations,
    components: { schemas, messages, securitySchemes: structuredClone(SECURITY_SCHEMES) }
  }
  // The version names this exact content: it changes with the share, the policies or the URL.
  const version = createHash('sha256').update(canonicalJson(document)).digest('hex').slice(0, 12)
  ;(document.info as Record<string, unknown>).version = version
  return document
}
