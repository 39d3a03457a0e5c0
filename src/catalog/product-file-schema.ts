/**
 * The structure of `policies/products/<name>.yaml` (CONTRACT §3). Field actions are
 * checked separately (policy-spec.ts) so that each gets a precise message.
 */
export const PRODUCT_NAME_PATTERN = '^[a-z0-9][a-z0-9-]{0,62}$'
export const POLICY_NAME_PATTERN = '^[a-z0-9][a-z0-9_-]{0,62}$'

export const productFileSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'topic', 'owner', 'description', 'key', 'schema', 'policies'],
  properties: {
    name: { type: 'string', pattern: PRODUCT_NAME_PATTERN },
    // Kafka's own topic rules; internal topics (leading underscore) can never be shared.
    topic: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,248}$' },
    owner: { type: 'string', minLength: 1, maxLength: 200 },
    description: { type: 'string', minLength: 1, maxLength: 2000 },
    key: { enum: ['string', 'json', 'none'] },
    schema: { type: 'string', minLength: 1 },
    write_schema: { type: ['string', 'null'], minLength: 1 },
    policies: {
      type: 'object',
      minProperties: 1,
      propertyNames: { pattern: POLICY_NAME_PATTERN },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['fields'],
        properties: {
          mode: { enum: ['allow', 'deny'] },
          description: { type: 'string', maxLength: 2000 },
          fields: { type: 'object' },
          where: { type: 'string', minLength: 1, maxLength: 4000 },
          key: { enum: ['keep', 'hash', 'drop'] },
          headers: {
            type: 'array',
            maxItems: 64,
            uniqueItems: true,
            items: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,128}$' }
          }
        }
      }
    }
  }
} as const
