/** The partner (data-plane) listener: CONTRACT §5. */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { installCors, makeOriginCheck } from './cors.js'
import { makeAuthenticate, makeTicketAuthenticate } from '../auth/authenticate.js'
import type { GatewayContext } from '../gateway-context.js'
import { registerHttpStreamRoute } from '../transports/http-stream-route.js'
import { registerBatchRoute } from '../transports/batch-route.js'
import { registerProduceRoute } from '../transports/produce-route.js'
import { registerWebSocketRoutes } from '../transports/ws-route.js'
import { registerHealthRoutes } from './health-routes.js'
import { createServer, httpLimits } from './server.js'

export async function buildPartnerApp (ctx: GatewayContext): Promise<FastifyInstance> {
  const app = createServer({ logger: ctx.logger.child({ listener: 'partner' }), tls: ctx.config.tls, limits: httpLimits(ctx.config) })
  // Every authenticated partner request is also checked against the partner's allowed
  // browser origins; every 401 counts against the client's address (token guessing).
  const checkOrigin = makeOriginCheck(ctx)
  const withOrigin = (auth: (req: FastifyRequest) => Promise<void>) => async (req: FastifyRequest): Promise<void> => { await auth(req); await checkOrigin(req) }
  const authenticate = withOrigin(makeAuthenticate(ctx.tokens))
  const authenticateOrTicket = withOrigin(makeTicketAuthenticate(ctx.tokens, ctx.tickets))
  app.addHook('onError', async (request, _reply, error) => {
    if ((error as { status?: number }).status === 401) await ctx.quotas.ipGuard.authFailed(request.ip)
  })
  await ctx.quotas.registerRateLimit(app)
  installCors(app, ctx)

  registerHealthRoutes(app, ctx.readiness)
  app.get('/.well-known/jwks.json', { logLevel: 'warn' }, async (_request, reply) => {
    // Public keys change only on a restart with a new key file; caches may keep them briefly.
    return reply.header('cache-control', 'public, max-age=300').type('application/jwk-set+json').send(ctx.tokens.signingKeys.jwksJson)
  })
  registerHttpStreamRoute(app, ctx, authenticateOrTicket)
  registerBatchRoute(app, ctx, authenticate)
  registerProduceRoute(app, ctx, authenticate)
  await registerWebSocketRoutes(app, ctx, authenticate, authenticateOrTicket)
  return app
}
