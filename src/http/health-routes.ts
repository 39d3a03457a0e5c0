/** /livez and /readyz, served on both listeners. */
import type { FastifyInstance } from 'fastify'
import { PROBLEM_CONTENT_TYPE, problemType } from '../errors.js'
import type { Readiness } from '../observability/readiness.js'

export function registerHealthRoutes (app: FastifyInstance, readiness: Readiness): void {
  // Liveness is about the process only: a Kafka outage must not get pods restarted.
  const checks = { type: 'object', additionalProperties: { type: 'object', properties: { ok: { type: 'boolean' }, detail: { type: 'string' } } } }
  app.get('/livez', {
    logLevel: 'warn',
    schema: { summary: 'Liveness (the process)', security: [], response: { 200: { type: 'object', properties: { status: { type: 'string', enum: ['live'] } } } } }
  }, async () => ({ status: 'live' }))
  app.get('/readyz', {
    logLevel: 'warn',
    schema: {
      summary: 'Readiness: Kafka reachable, registry current, policies loaded, not shutting down',
      security: [],
      response: { 200: { type: 'object', properties: { status: { type: 'string', enum: ['ready'] }, checks } }, 503: { $ref: 'Problem#' } }
    }
  }, async (_request, reply) => {
    const report = readiness.report()
    if (report.ready) return { status: 'ready', checks: report.checks }
    return reply.code(503).type(PROBLEM_CONTENT_TYPE).header('retry-after', '5').send({
      type: problemType('unavailable'),
      title: 'Service unavailable',
      status: 503,
      detail: 'not ready: ' + Object.entries(report.checks).filter(([, c]) => !c.ok).map(([name, c]) => `${name} ${c.detail ?? ''}`.trim()).join(', '),
      code: 'unavailable',
      checks: report.checks
    })
  })
}
