/** The admin listener (CONTRACT §7): health here; the admin API and metrics join it. */
import type { FastifyInstance } from 'fastify'
import type { GatewayContext } from '../gateway-context.js'
import { registerHealthRoutes } from './health-routes.js'
import { createServer } from './server.js'

export function buildAdminApp (ctx: GatewayContext): FastifyInstance {
  const app = createServer({ logger: ctx.logger.child({ listener: 'admin' }) })
  registerHealthRoutes(app, ctx.readiness)
  return app
}
