/** The admin listener (CONTRACT §7): admin API and health (metrics join it later). */
import type { FastifyInstance } from 'fastify'
import type { GatewayContext } from '../gateway-context.js'
import { registerAdminRoutes } from '../admin/admin-routes.js'
import { registerHealthRoutes } from './health-routes.js'
import { registerOpenApi } from './openapi.js'
import { createServer, httpLimits } from './server.js'

export async function buildAdminApp (ctx: GatewayContext): Promise<FastifyInstance> {
  const app = createServer({ logger: ctx.logger.child({ listener: 'admin' }), limits: httpLimits(ctx.config), trustProxy: ctx.config.trustProxy })
  await registerOpenApi(app, {
    title: 'streamshare admin API',
    description: 'Partners, shares, tokens, policies preview, audit (CONTRACT §7). Authorization: Bearer $STREAMSHARE_ADMIN_TOKEN.',
    path: '/admin/v1/openapi.json',
    serverUrl: `http://${ctx.config.adminHost}:${ctx.config.adminPort}`,
    security: 'admin'
  })
  registerHealthRoutes(app, ctx.readiness)
  // Prometheus scrapes the admin listener (cluster-internal); no secret in the metrics.
  app.get('/metrics', {
    logLevel: 'warn',
    schema: {
      summary: 'Prometheus metrics (streamshare_*)',
      security: [],
      response: { 200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } }
    }
  }, async (_request, reply) => {
    return await reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics())
  })
  registerAdminRoutes(app, ctx)
  return app
}
