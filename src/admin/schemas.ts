/**
 * JSON Schemas of the admin API bodies and parameters (CONTRACT §7). Every object
 * has `additionalProperties: false`: an unknown field is a 400, never ignored.
 */
export const ID_PATTERN = '^[a-z0-9][a-z0-9_-]{0,62}$'
export const SHARE_ID_PATTERN = '^sh_[a-f0-9]{20}$'
export const ORIGIN_PATTERN = '^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$'

const attributes = {
  type: 'object',
  maxProperties: 32,
  propertyNames: { pattern: '^[A-Za-z0-9_.-]{1,64}$' },
  additionalProperties: { type: 'string', maxLength: 256 }
} as const

const allowedOrigins = {
  type: 'array',
  maxItems: 32,
  uniqueItems: true,
  items: { type: 'string', pattern: ORIGIN_PATTERN, maxLength: 260 }
} as const

export const partnerCreateBody = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'contact'],
  properties: {
    id: { type: 'string', pattern: ID_PATTERN },
    name: { type: 'string', minLength: 1, maxLength: 200 },
    contact: { type: 'string', minLength: 1, maxLength: 320 },
    attributes,
    allowed_origins: allowedOrigins
  }
} as const

export const partnerPatchBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    name: partnerCreateBody.properties.name,
    contact: partnerCreateBody.properties.contact,
    attributes,
    allowed_origins: allowedOrigins
  }
} as const

const quota = {
  type: 'object',
  additionalProperties: false,
  properties: {
    max_connections: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    messages_per_second: { type: 'integer', minimum: 1, maximum: 10_000_000 },
    bytes_per_second: { type: 'integer', minimum: 1024, maximum: 10_000_000_000 },
    requests_per_minute: { type: 'integer', minimum: 1, maximum: 1_000_000 }
  }
} as const

const grants = {
  type: 'array',
  minItems: 1,
  maxItems: 100,
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['product', 'policy', 'access'],
    properties: {
      product: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' },
      policy: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' },
      access: { type: 'array', minItems: 1, maxItems: 2, uniqueItems: true, items: { enum: ['read', 'write'] } }
    }
  }
} as const

const expiresAt = { anyOf: [{ type: 'string', format: 'date-time' }, { type: 'null' }] } as const
const history = { type: 'string', minLength: 1, maxLength: 40 } as const
const description = { type: 'string', maxLength: 1000 } as const
const ttlSeconds = { type: 'integer', minimum: 60, maximum: 31_536_000 } as const

export const shareCreateBody = {
  type: 'object',
  additionalProperties: false,
  required: ['partner', 'products'],
  properties: {
    partner: { type: 'string', pattern: ID_PATTERN },
    products: grants,
    quota,
    history,
    expires_at: expiresAt,
    description,
    token_ttl_seconds: ttlSeconds
  }
} as const

export const sharePatchBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: { products: grants, quota, history, expires_at: expiresAt, description }
} as const

export const revokeBody = {
  type: 'object',
  additionalProperties: false,
  properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } }
} as const

export const tokenCreateBody = {
  type: 'object',
  additionalProperties: false,
  properties: { ttl_seconds: ttlSeconds }
} as const

export const partnerParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: ID_PATTERN } }
} as const

export const shareParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: SHARE_ID_PATTERN } }
} as const

export const tokenParams = {
  type: 'object',
  required: ['id', 'jti'],
  properties: {
    id: { type: 'string', pattern: SHARE_ID_PATTERN },
    jti: { type: 'string', pattern: '^[0-9a-f-]{36}$' }
  }
} as const

export const shareListQuery = {
  type: 'object',
  properties: {
    partner: { type: 'string', pattern: ID_PATTERN },
    status: { enum: ['active', 'revoked', 'expired'] }
  }
} as const

export const auditQuery = {
  type: 'object',
  properties: {
    since: { type: 'string', format: 'date-time' },
    share: { type: 'string', pattern: SHARE_ID_PATTERN },
    limit: { type: 'integer', minimum: 1, maximum: 1000 }
  }
} as const

export const previewBody = {
  type: 'object',
  additionalProperties: false,
  required: ['product', 'policy', 'record'],
  properties: {
    product: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' },
    policy: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' },
    /** The record value, as it would be on the topic. */
    record: {},
    key: {},
    headers: { type: 'object', maxProperties: 64, additionalProperties: { type: 'string', maxLength: 4096 } },
    /** Evaluate `where` with this partner's attributes. */
    partner: { type: 'string', pattern: ID_PATTERN },
    /** Hash as this share would (default: a preview scope that no share has). */
    share: { type: 'string', pattern: SHARE_ID_PATTERN }
  }
} as const

// ---- responses (documented in the admin OpenAPI; also used to serialize) ----------

const open = (properties: Record<string, unknown>, required: string[] = []): Record<string, unknown> =>
  ({ type: 'object', additionalProperties: true, ...(required.length === 0 ? {} : { required }), properties })

export const partnerResponse = open({
  id: { type: 'string' },
  name: { type: 'string' },
  contact: { type: 'string' },
  attributes: { type: 'object', additionalProperties: { type: 'string' } },
  allowed_origins: { type: 'array', items: { type: 'string' } },
  created_at: { type: 'string', format: 'date-time' },
  updated_at: { type: 'string', format: 'date-time' }
}, ['id', 'name', 'contact', 'attributes', 'allowed_origins'])

export const tokenRecordResponse = open({
  jti: { type: 'string' },
  share: { type: 'string' },
  partner: { type: 'string' },
  scopes: { type: 'array', items: { type: 'string' } },
  issued_at: { type: 'string', format: 'date-time' },
  expires_at: { type: 'string', format: 'date-time' },
  revoked_at: { type: ['string', 'null'] },
  revoke_reason: { type: ['string', 'null'] }
}, ['jti', 'share', 'expires_at'])

export const issuedTokenResponse = open({
  access_token: { type: 'string', description: 'Shown only in this response' },
  token_type: { type: 'string', enum: ['Bearer'] },
  expires_at: { type: 'string', format: 'date-time' },
  jti: { type: 'string' }
}, ['access_token', 'token_type', 'expires_at', 'jti'])

export const shareResponse = open({
  id: { type: 'string' },
  partner: { type: 'string' },
  products: { type: 'array', items: open({ product: { type: 'string' }, policy: { type: 'string' }, access: { type: 'array', items: { type: 'string' } } }) },
  quota: { type: 'object', additionalProperties: { type: 'integer' } },
  history: { type: 'string' },
  expires_at: { type: ['string', 'null'] },
  description: { type: 'string' },
  status: { type: 'string', enum: ['active', 'revoked', 'expired'] },
  revoked_at: { type: ['string', 'null'] },
  revoke_reason: { type: ['string', 'null'] },
  created_at: { type: 'string' },
  updated_at: { type: 'string' },
  usage: open({ instance: { type: 'string' }, connections: { type: 'integer' }, delivered_messages: { type: 'integer' }, delivered_bytes: { type: 'integer' }, lag: { type: 'object', additionalProperties: { type: 'integer' } } }),
  tokens: { type: 'array', items: tokenRecordResponse }
}, ['id', 'partner', 'products', 'status'])

export const productsResponse = open({ version: { type: 'string' }, products: { type: 'array', items: { type: 'object', additionalProperties: true } } })
export const previewResponse = open({ delivered: { type: 'boolean' }, reason: { type: 'string' }, output: { type: 'object', additionalProperties: true }, errors: { type: 'array', items: { type: 'object', additionalProperties: true } } }, ['delivered'])
export const auditResponse = open({ records: { type: 'array', items: { type: 'object', additionalProperties: true } }, truncated: { type: 'boolean' } }, ['records', 'truncated'])
