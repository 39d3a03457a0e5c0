/** The partner (data-plane) listener: CONTRACT §5. */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { installCors, makeOriginCheck } from './cors.js'
import { registerOpenApi } from './openapi.js'
import { registerDiscoveryRoutes } from '../discovery/discovery-routes.js'
import { makeAuthenticate, makeTicketAuthenticate } from '../auth/authenticate.js'
import type { GatewayContext } from '../gateway-context.js'
import { registerHttpStreamRoute } from '../transports/http-stream-route.js'
import { registerBatchRoute } from '../transports/batch-route.js'
import { registerProduceRoute } from '../transports/produce-route.js'
import { registerWebSocketRoutes } from '../transports/ws-route.js'
import { registerHealthRoutes } from './health-routes.js'
import { createServer, httpLimits } from './server.js'

export async function buildPartnerApp (ctx: GatewayContext): Promise<FastifyInstance> {
  const app = createServer({ logger: ctx.logger.child({ listener: 'partner' }), tls: ctx.config.tls, limits: httpLimits(ctx.config), trustProxy: ctx.config.trustProxy })
  // Every authenticated partner request is also checked against the partner's allowed
  // browser origins; every 401 counts against the client's address (token guessing).
  const checkOrigin = makeOriginCheck(ctx)
  const withOrigin = (auth: (req: FastifyRequest) => Promise<void>) => async (req: FastifyRequest): Promise<void> => { await auth(req); await checkOrigin(req) }
  const authenticate = withOrigin(makeAuthenticate(ctx.tokens))
  const authenticateOrTicket = withOrigin(makeTicketAuthenticate(ctx.tokens, ctx.tickets))
  app.addHook('onError', async (request, _reply, error) => {
    const { status, code } = error as { status?: number, code?: string }
    if (status === 401 || status === 403 || status === 429) ctx.metrics.refusedRequests.inc({ share: request.principal?.shareId ?? '', code: code ?? 'unknown' })
    if (status === 401) await ctx.quotas.ipGuard.authFailed(request.ip)
  })
  await registerOpenApi(app, {
    title: 'streamshare partner API',
    description: 'Live Kafka data products, shared through revocable, policy-shaped shares (CONTRACT §5). Streams: SSE, NDJSON, WebSocket (see /v1/asyncapi.json), batches; partner produce.',
    path: '/v1/openapi.json',
    serverUrl: ctx.config.publicUrl,
    security: 'partner'
  })
  await ctx.quotas.registerRateLimit(app)
  installCors(app, ctx)

  registerHealthRoutes(app, ctx.readiness)
  app.get('/.well-known/jwks.json', {
    logLevel: 'warn',
    schema: {
      summary: 'The public keys that sign share tokens (JWK Set)',
      security: [],
      response: { 200: { type: 'object', properties: { keys: { type: 'array', items: { type: 'object', additionalProperties: true } } } } }
    }
  }, async (_request, reply) => {
    // Keys change on a reload (rotation); clients may cache them for five minutes.
    return reply.header('cache-control', 'public, max-age=300').type('application/jwk-set+json').send(ctx.tokens.signingKeys.jwksJson)
  })
  registerHttpStreamRoute(app, ctx, authenticateOrTicket)
  registerBatchRoute(app, ctx, authenticate)
  registerProduceRoute(app, ctx, authenticate)
  await registerWebSocketRoutes(app, ctx, authenticate, authenticateOrTicket)
  registerDiscoveryRoutes(app, ctx, authenticate)
  return app
}
