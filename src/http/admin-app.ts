/** The admin listener (CONTRACT §7): admin API and health (metrics join it later). */
import type { FastifyInstance } from 'fastify'
import type { GatewayContext } from '../gateway-context.js'
import { registerAdminRoutes } from '../admin/admin-routes.js'
import { registerHealthRoutes } from './health-routes.js'
import { createServer, httpLimits } from './server.js'

export function buildAdminApp (ctx: GatewayContext): FastifyInstance {
  const app = createServer({ logger: ctx.logger.child({ listener: 'admin' }), limits: httpLimits(ctx.config) })
  registerHealthRoutes(app, ctx.readiness)
  registerAdminRoutes(app, ctx)
  return app
}
