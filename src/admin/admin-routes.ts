/**
 * The admin API (CONTRACT §7) on the admin listener. Thin: validation by route
 * schema, authentication by the admin secret, the work in ShareService.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { bearerToken } from '../auth/tokens.js'
import { GatewayError } from '../errors.js'
import type { GatewayContext } from '../gateway-context.js'
import { shareStatus, type Share } from '../registry/types.js'
import type { Actor, PartnerInput, PartnerPatch, ShareInput, SharePatch } from '../registry/share-service.js'
import { previewPolicy } from '../policy/index.js'
import * as s from './schemas.js'
import { problemResponses } from '../http/openapi.js'

/** Constant-time comparison of the admin secret (hashing first equalises lengths). */
export function makeAdminAuthenticate (adminToken: string | undefined) {
  const expected = adminToken === undefined ? undefined : createHash('sha256').update(adminToken).digest()
  return async function authenticateAdmin (request: FastifyRequest): Promise<void> {
    if (expected === undefined) throw new GatewayError('token_invalid', 'the admin API is disabled: STREAMSHARE_ADMIN_TOKEN is not set')
    const header = request.headers.authorization
    if (header === undefined || header === '') throw new GatewayError('token_missing', 'send Authorization: Bearer <admin token>')
    const token = bearerToken(header)
    const given = createHash('sha256').update(token ?? '').digest()
    if (token === undefined || !timingSafeEqual(given, expected)) throw new GatewayError('token_invalid', 'admin token is invalid')
  }
}

const ACTOR = /^[A-Za-z0-9 ._@+-]{1,64}$/

function actorOf (request: FastifyRequest): Actor {
  const header = request.headers['x-streamshare-actor']
  const name = typeof header === 'string' && ACTOR.test(header) ? `admin:${header}` : 'admin'
  return { name, requestId: String(request.id), remote: request.ip }
}

export function registerAdminRoutes (app: FastifyInstance, ctx: GatewayContext): void {
  const service = ctx.shares
  const authenticate = makeAdminAuthenticate(ctx.config.adminToken)

  /** A share as the admin sees it: stored fields, derived status, live usage on this instance. */
  const view = (share: Share): Record<string, unknown> => {
    return {
      ...share,
      status: shareStatus(share),
      usage: { instance: ctx.instanceId, connections: ctx.streams.connectionsOfShare(share.id), ...ctx.usage.of(share.id), lag: ctx.streams.lagByProduct(share.id) }
    }
  }

  void app.register(async (admin) => {
    // onRequest: authentication comes before body parsing and validation, so an
    // unauthenticated caller learns nothing about the API's schemas.
    admin.addHook('onRequest', authenticate)

    // ---- partners ----
    admin.post<{ Body: PartnerInput }>('/admin/v1/partners', { schema: { summary: 'Create a partner', body: s.partnerCreateBody, response: { 201: s.partnerResponse, ...problemResponses(400, 401, 409, 503) } } }, async (request, reply) => {
      return await reply.code(201).send(await service.createPartner(request.body, actorOf(request)))
    })
    admin.get('/admin/v1/partners', { schema: { summary: 'List partners', response: { 200: { type: 'object', properties: { partners: { type: 'array', items: s.partnerResponse } } }, ...problemResponses(401) } } }, async () => ({ partners: ctx.registry.allPartners().sort((a, b) => a.id.localeCompare(b.id)) }))
    admin.get<{ Params: { id: string } }>('/admin/v1/partners/:id', { schema: { summary: 'A partner and its shares', params: s.partnerParams, response: { 200: s.partnerResponse, ...problemResponses(400, 401, 404) } } }, async (request) => {
      const partner = service.getPartner(request.params.id)
      const shares = ctx.registry.allShares().filter(x => x.partner === partner.id).map(x => ({ id: x.id, status: shareStatus(x) }))
      return { ...partner, shares }
    })
    admin.patch<{ Params: { id: string }, Body: PartnerPatch }>('/admin/v1/partners/:id', { schema: { summary: 'Change a partner', params: s.partnerParams, body: s.partnerPatchBody, response: { 200: s.partnerResponse, ...problemResponses(400, 401, 404, 503) } } }, async (request) => {
      return await service.updatePartner(request.params.id, request.body, actorOf(request))
    })
    admin.delete<{ Params: { id: string } }>('/admin/v1/partners/:id', { schema: { summary: 'Delete a partner (refused while it has active shares)', params: s.partnerParams, response: { 204: { type: 'null', description: 'deleted' }, ...problemResponses(400, 401, 404, 409, 503) } } }, async (request, reply) => {
      await service.deletePartner(request.params.id, actorOf(request))
      return await reply.code(204).send()
    })

    // ---- shares ----
    admin.post<{ Body: ShareInput & { token_ttl_seconds?: number } }>('/admin/v1/shares', { schema: { summary: 'Create a share; its first token is shown only here', body: s.shareCreateBody, response: { 201: { type: 'object', properties: { share: s.shareResponse, token: s.issuedTokenResponse } }, ...problemResponses(400, 401, 409, 503) } } }, async (request, reply) => {
      const { token_ttl_seconds: ttl, ...input } = request.body
      const { share, token } = await service.createShare(input, actorOf(request), ttl)
      // The token is shown here (and on POST …/tokens) only: we keep no copy of it.
      return await reply.code(201).header('cache-control', 'no-store').send({ share: view(share), token })
    })
    admin.get<{ Querystring: { partner?: string, status?: string } }>('/admin/v1/shares', { schema: { summary: 'List shares with live usage', querystring: s.shareListQuery, response: { 200: { type: 'object', properties: { shares: { type: 'array', items: s.shareResponse } } }, ...problemResponses(400, 401) } } }, async (request) => {
      const { partner, status } = request.query
      const shares = ctx.registry.allShares()
        .filter(x => (partner === undefined || x.partner === partner) && (status === undefined || shareStatus(x) === status))
        .sort((a, b) => a.created_at.localeCompare(b.created_at))
      return { shares: shares.map(view) }
    })
    admin.get<{ Params: { id: string } }>('/admin/v1/shares/:id', { schema: { summary: 'A share with live usage and its tokens (never the tokens themselves)', params: s.shareParams, response: { 200: s.shareResponse, ...problemResponses(400, 401, 404) } } }, async (request) => {
      const share = service.getShare(request.params.id)
      return { ...view(share), tokens: service.tokensOf(share.id) }
    })
    admin.patch<{ Params: { id: string }, Body: SharePatch }>('/admin/v1/shares/:id', { schema: { summary: 'Change quota, policy, expiry: applies to open streams', params: s.shareParams, body: s.sharePatchBody, response: { 200: s.shareResponse, ...problemResponses(400, 401, 404, 409, 503) } } }, async (request) => {
      return view(await service.updateShare(request.params.id, request.body, actorOf(request)))
    })
    admin.post<{ Params: { id: string }, Body: { reason?: string } | undefined }>('/admin/v1/shares/:id/revoke', { schema: { summary: 'Revoke a share: durable in Kafka when this returns; every open stream ends', params: s.shareParams, body: s.revokeBody, response: { 200: s.shareResponse, ...problemResponses(400, 401, 404, 503) } } }, async (request) => {
      return view(await service.revokeShare(request.params.id, request.body?.reason ?? 'revoked by admin', actorOf(request)))
    })

    // ---- tokens ----
    admin.post<{ Params: { id: string }, Body: { ttl_seconds?: number } | undefined }>('/admin/v1/shares/:id/tokens', { schema: { summary: 'Mint another token (rotation)', params: s.shareParams, body: s.tokenCreateBody, response: { 201: s.issuedTokenResponse, ...problemResponses(400, 401, 404, 409, 503) } } }, async (request, reply) => {
      const token = await service.mintToken(request.params.id, actorOf(request), request.body?.ttl_seconds)
      return await reply.code(201).header('cache-control', 'no-store').send(token)
    })
    admin.get<{ Params: { id: string } }>('/admin/v1/shares/:id/tokens', { schema: { summary: 'The tokens of a share (metadata only)', params: s.shareParams, response: { 200: { type: 'object', properties: { tokens: { type: 'array', items: s.tokenRecordResponse } } }, ...problemResponses(400, 401, 404) } } }, async (request) => {
      return { tokens: service.tokensOf(request.params.id) }
    })
    admin.delete<{ Params: { id: string, jti: string } }>('/admin/v1/shares/:id/tokens/:jti', { schema: { summary: 'Revoke one token by jti', params: s.tokenParams, response: { 200: s.tokenRecordResponse, ...problemResponses(400, 401, 404, 503) } } }, async (request) => {
      return await service.revokeToken(request.params.id, request.params.jti, 'revoked by admin', actorOf(request))
    })

    // ---- catalog ----
    admin.get('/admin/v1/products', { schema: { summary: 'The catalog with full schemas and policies', response: { 200: s.productsResponse, ...problemResponses(401) } } }, async () => {
      const catalog = ctx.catalog()
      return {
        version: catalog.version,
        products: [...catalog.products.values()].map(p => ({
          name: p.name,
          topic: p.topic,
          owner: p.owner,
          description: p.description,
          key: p.keyFormat,
          schema: p.schema,
          write_schema: p.writeSchema ?? null,
          policies: [...p.policies.values()].map(policy => ({
            name: policy.name,
            version: policy.version,
            mode: policy.mode,
            description: policy.description,
            fields: Object.fromEntries(policy.fields),
            where: policy.where ?? null,
            headers: policy.headers
          }))
        }))
      }
    })

    admin.post<{ Body: { product: string, policy: string, record: unknown, key?: unknown, headers?: Record<string, string>, partner?: string, share?: string } }>('/admin/v1/policies/preview', { schema: { summary: 'What a partner would receive for a record', body: s.previewBody, response: { 200: s.previewResponse, ...problemResponses(400, 401, 404) } } }, async (request) => {
      const { product: productName, policy: policyName, record, key, headers, partner: partnerId, share } = request.body
      const product = ctx.catalog().products.get(productName)
      if (product === undefined) throw new GatewayError('bad_request', 'unknown product', { errors: [{ path: '/product', message: 'no such product' }] })
      const policy = product.policies.get(policyName)
      if (policy === undefined) throw new GatewayError('bad_request', 'unknown policy', { errors: [{ path: '/policy', message: `no such policy for ${productName}` }] })
      const partner = partnerId === undefined ? undefined : service.getPartner(partnerId)
      return previewPolicy(product, policy, { value: record, key: key ?? null, headers: headers ?? {} }, {
        secret: ctx.secret,
        ...(partner === undefined ? {} : { partnerAttributes: partner.attributes, partnerId: partner.id }),
        ...(share === undefined ? {} : { shareId: share })
      })
    })

    // ---- audit ----
    admin.get<{ Querystring: { since?: string, share?: string, limit?: number } }>('/admin/v1/audit', { schema: { summary: 'Admin actions and stream sessions', querystring: s.auditQuery, response: { 200: s.auditResponse, ...problemResponses(400, 401, 503) } } }, async (request) => {
      const { since, share, limit } = request.query
      return await ctx.audit.query({
        ...(since === undefined ? {} : { since: Date.parse(since) }),
        ...(share === undefined ? {} : { share }),
        ...(limit === undefined ? {} : { limit })
      })
    })
  })
}
