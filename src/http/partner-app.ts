/** The partner (data-plane) listener: CONTRACT §5. */
import type { FastifyInstance } from 'fastify'
import { makeAuthenticate, makeTicketAuthenticate } from '../auth/authenticate.js'
import type { GatewayContext } from '../gateway-context.js'
import { registerHttpStreamRoute } from '../transports/http-stream-route.js'
import { registerBatchRoute } from '../transports/batch-route.js'
import { registerProduceRoute } from '../transports/produce-route.js'
import { registerWebSocketRoutes } from '../transports/ws-route.js'
import { registerHealthRoutes } from './health-routes.js'
import { createServer } from './server.js'

export async function buildPartnerApp (ctx: GatewayContext): Promise<FastifyInstance> {
  const app = createServer({ logger: ctx.logger.child({ listener: 'partner' }), tls: ctx.config.tls })
  const authenticate = makeAuthenticate(ctx.tokens)
  const authenticateOrTicket = makeTicketAuthenticate(ctx.tokens, ctx.tickets)

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
