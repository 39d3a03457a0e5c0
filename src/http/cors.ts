/**
 * Browsers and the partner API: CORS only for the partner's `allowed_origins`
 * (Quotas issue §4), and a browser Origin outside them is refused outright.
 *
 * A preflight (OPTIONS) carries no credentials, so it cannot know the partner: it is
 * answered for an Origin that some partner allows, and the real request then gets
 * CORS headers only when the Origin belongs to that request's partner.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GatewayError } from '../errors.js'
import type { GatewayContext } from '../gateway-context.js'

const ALLOWED_HEADERS = 'authorization, content-type, last-event-id'
const EXPOSED_HEADERS = 'retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset, x-request-id'

/** The partner of the request's (authenticated) share, if any. */
function partnerOf (ctx: GatewayContext, request: FastifyRequest): { allowed_origins: readonly string[] } | undefined {
  const shareId = request.principal?.shareId
  const share = shareId === undefined ? undefined : ctx.registry.share(shareId)
  return share === undefined ? undefined : ctx.registry.partner(share.partner)
}

function originAllowedForPartner (ctx: GatewayContext, request: FastifyRequest, origin: string): boolean {
  return partnerOf(ctx, request)?.allowed_origins.includes(origin) === true
}

/** CORS response headers for this request (empty unless its partner allows the Origin). */
export function corsHeaders (ctx: GatewayContext, request: FastifyRequest): Record<string, string> {
  const origin = request.headers.origin
  if (origin === undefined || !originAllowedForPartner(ctx, request, origin)) return {}
  return { 'access-control-allow-origin': origin, 'access-control-expose-headers': EXPOSED_HEADERS, vary: 'Origin' }
}

/**
 * After authentication: a browser Origin that the partner does not allow is refused
 * (403 origin_forbidden) when the partner has an allow-list.
 */
export function makeOriginCheck (ctx: GatewayContext) {
  return async function checkPartnerOrigin (request: FastifyRequest): Promise<void> {
    const origin = request.headers.origin
    if (origin === undefined) return
    const partner = partnerOf(ctx, request)
    if (partner === undefined || partner.allowed_origins.length === 0) return
    if (!partner.allowed_origins.includes(origin)) throw new GatewayError('origin_forbidden', 'this origin is not allowed for this partner')
  }
}

export function installCors (app: FastifyInstance, ctx: GatewayContext): void {
  app.options('/v1/*', { logLevel: 'warn', schema: { hide: true } }, async (request: FastifyRequest, reply: FastifyReply) => {
    const origin = request.headers.origin
    const known = origin !== undefined && ctx.registry.allPartners().some(p => p.allowed_origins.includes(origin))
    if (!known) return await reply.code(204).send()
    return await reply.code(204).headers({
      'access-control-allow-origin': origin,
      'access-control-allow-methods': 'GET, POST',
      'access-control-allow-headers': ALLOWED_HEADERS,
      'access-control-max-age': '600',
      vary: 'Origin'
    }).send()
  })
  app.addHook('onSend', async (request, reply) => {
    const headers = corsHeaders(ctx, request)
    if (headers['access-control-allow-origin'] !== undefined) reply.headers(headers)
  })
}
