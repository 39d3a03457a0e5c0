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
