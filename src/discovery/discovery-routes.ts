/**
 * Partner discovery (CONTRACT §5): the share's catalog (with the *output* schema of
 * each product: what this partner receives), the share itself with live usage, and
 * the share's AsyncAPI document. Access shown is the token's scope ∩ the share's
 * grants. Nothing here names a field the share's policy withholds: the only field
 * names come from derived output schemas (and write schemas, the partner's input).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Access, Principal } from '../auth/tokens.js'
import { requirePrincipal } from '../auth/authenticate.js'
import type { GatewayContext } from '../gateway-context.js'
import { authorizeShare, productUnknown } from '../registry/access.js'
import { shareStatus, type Share, type ShareGrant } from '../registry/types.js'
import { buildAsyncApi } from './asyncapi.js'
import { problemResponses } from '../http/openapi.js'
import { partnerText } from '../policy/output-schema.js'

interface CatalogEntry {
  name: string
  description: string
  owner: string
  key: string
  access: Access[]
  policy: string
  policy_version: string
  schema: Record<string, unknown>
  write_schema?: Record<string, unknown>
  quota: Share['quota']
  history: string
}

/** The share's grants, each limited to what the token's scope allows. */
function grantsOf (share: Share, principal: Principal): ShareGrant[] {
  return share.products
    .map(g => ({ ...g, access: g.access.filter(a => principal.scopes.has(`${a}:${g.product}`)) }))
    .filter(g => g.access.length > 0)
}

const jsonSchemaObject = { type: 'object', additionalProperties: true, description: 'a JSON Schema (2020-12)' } as const

const catalogEntrySchema = {
  type: 'object',
  required: ['name', 'description', 'owner', 'key', 'access', 'policy', 'policy_version', 'schema', 'quota', 'history'],
  properties: {
    name: { type: 'string' },
    description: { type: 'string' },
    owner: { type: 'string' },
    key: { type: 'string', enum: ['string', 'json', 'none'] },
    access: { type: 'array', items: { type: 'string', enum: ['read', 'write'] } },
    policy: { type: 'string' },
    policy_version: { type: 'string' },
    schema: { ...jsonSchemaObject, description: 'JSON Schema of the record value this partner receives (the policy applied)' },
    write_schema: { ...jsonSchemaObject, description: 'JSON Schema of records this partner may write' },
    quota: { type: 'object', additionalProperties: { type: 'integer' } },
    history: { type: 'string' }
  }
} as const

const shareSchema = {
  type: 'object',
  required: ['id', 'partner', 'status', 'expires_at', 'quota', 'history', 'products', 'usage'],
  properties: {
    id: { type: 'string' },
    partner: { type: 'string' },
    status: { type: 'string', enum: ['active', 'revoked', 'expired'] },
    expires_at: { type: ['string', 'null'], format: 'date-time' },
    quota: { type: 'object', additionalProperties: { type: 'integer' } },
    history: { type: 'string' },
    products: { type: 'array', items: { type: 'object', properties: { product: { type: 'string' }, policy: { type: 'string' }, access: { type: 'array', items: { type: 'string' } } } } },
    usage: {
      type: 'object',
      description: 'Live usage on the instance that answered (Prometheus sums all instances)',
      properties: {
        connections: { type: 'integer' },
        delivered_messages: { type: 'integer' },
        delivered_bytes: { type: 'integer' },
        lag: { type: 'object', additionalProperties: { type: 'integer' } }
      }
    }
  }
} as const

export function registerDiscoveryRoutes (app: FastifyInstance, ctx: GatewayContext, authenticate: (req: FastifyRequest) => Promise<void>): void {
  const routeOptions = {
    onRequest: [ctx.quotas.preAuth('request'), authenticate],
    config: ctx.quotas.shareRateLimit()
  }

  const entry = (share: Share, grant: ShareGrant): CatalogEntry | undefined => {
    const product = ctx.catalog().products.get(grant.product)
    const policy = product?.policies.get(grant.policy)
    if (product === undefined || policy === undefined) return undefined
    const out: CatalogEntry = {
      name: product.name,
      description: partnerText(product.description, policy.compiled.withheldMentions) ?? '',
      owner: product.owner,
      key: policy.keyAction === 'drop' ? 'none' : policy.keyAction === 'hash' ? 'string' : product.keyFormat,
      access: grant.access,
      policy: policy.name,
      policy_version: policy.version,
      schema: policy.compiled.outputSchema as Record<string, unknown>,
      quota: share.quota,
      history: share.history
    }
    if (grant.access.includes('write') && product.writeSchema !== undefined) out.write_schema = product.writeSchema
    return out
  }


  app.get('/v1/catalog', {
    ...routeOptions,
    schema: {
      summary: 'The products of this share',
      response: { 200: { type: 'object', required: ['share', 'products'], properties: { share: { type: 'string' }, products: { type: 'array', items: catalogEntrySchema } } }, ...problemResponses(401, 403, 429, 503) }
    }
  }, async (request) => {
    const principal = requirePrincipal(request)
    const { share } = await authorizeShare(ctx.registry, principal)
    const products = grantsOf(share, principal).map(g => entry(share, g)).filter((e): e is CatalogEntry => e !== undefined)
    return { share: share.id, products }
  })

  app.get<{ Params: { product: string } }>('/v1/catalog/:product', {
    ...routeOptions,
    schema: {
      summary: 'One product of this share',
      params: { type: 'object', required: ['product'], properties: { product: { type: 'string', maxLength: 64 } } },
      response: { 200: catalogEntrySchema, ...problemResponses(401, 403, 404, 429, 503) }
    }
  }, async (request) => {
    const principal = requirePrincipal(request)
    const { share } = await authorizeShare(ctx.registry, principal)
    const grant = grantsOf(share, principal).find(g => g.product === request.params.product)
    const found = grant === undefined ? undefined : entry(share, grant)
    if (found === undefined) throw productUnknown()
    return found
  })

  app.get('/v1/share', {
    ...routeOptions,
    schema: { summary: 'This share: status, expiry, quota and live usage', response: { 200: shareSchema, ...problemResponses(401, 403, 429, 503) } }
  }, async (request) => {
    const principal = requirePrincipal(request)
    const { share } = await authorizeShare(ctx.registry, principal)
    return {
      id: share.id,
      partner: share.partner,
      status: shareStatus(share),
      expires_at: share.expires_at,
      quota: share.quota,
      history: share.history,
      products: grantsOf(share, principal),
      usage: { connections: ctx.streams.connectionsOfShare(share.id), ...ctx.usage.of(share.id), lag: ctx.streams.lagByProduct(share.id) }
    }
  })

  app.get('/v1/asyncapi.json', {
    ...routeOptions,
    schema: { summary: 'The AsyncAPI 3 document of this share', response: { 200: { type: 'object', additionalProperties: true, description: 'AsyncAPI 3.0.0' }, ...problemResponses(401, 403, 429, 503) } }
  }, async (request) => {
    const principal = requirePrincipal(request)
    const { share } = await authorizeShare(ctx.registry, principal)
    return buildAsyncApi({ share: { ...share, products: grantsOf(share, principal) }, catalog: ctx.catalog(), publicUrl: ctx.config.publicUrl })
  })
}
