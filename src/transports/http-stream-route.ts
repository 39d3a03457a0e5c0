/**
 * `GET /v1/streams/{product}` as SSE or NDJSON (CONTRACT §5).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GatewayError } from '../errors.js'
import { requirePrincipal } from '../auth/authenticate.js'
import { MAX_CURSOR_LENGTH } from '../engine/cursor.js'
import type { GatewayContext } from '../gateway-context.js'
import { HttpStreamSink } from './http-stream-sink.js'
import { openSubscription } from './open-subscription.js'
import { corsHeaders } from '../http/cors.js'
import { problemResponses } from '../http/openapi.js'
import { negotiateHttpStreamFormat } from './wire-format.js'

interface StreamParams { product: string }
interface StreamQuery { format?: 'sse' | 'ndjson', from?: string }

/** The `{product}` path parameter of the stream routes. */
export const productParams = {
  type: 'object',
  required: ['product'],
  properties: { product: { type: 'string', minLength: 1, maxLength: 64 } }
} as const

export const streamRouteSchema = {
  summary: 'A live stream of a product: SSE or NDJSON (CONTRACT §5)',
  description: 'Accept: text/event-stream (SSE) or application/x-ndjson, or ?format=. Starts at `from` (latest, earliest, an RFC 3339 time or a cursor; SSE Last-Event-ID wins). Browsers may pass a single-use ?ticket= instead of the Authorization header.',
  params: productParams,
  response: {
    200: {
      description: 'The stream: record, gap, skipped, expiring and revoked messages, each a JSON envelope',
      content: {
        'text/event-stream': { schema: { type: 'string', description: 'id: <cursor>, event: <type>, data: <envelope>' } },
        'application/x-ndjson': { schema: { type: 'string', description: 'one envelope per line; {"type":"heartbeat"} every 15 s' } }
      }
    },
    ...problemResponses(400, 401, 403, 404, 406, 429, 503)
  },
  querystring: {
    type: 'object',
    properties: {
      format: { type: 'string', enum: ['sse', 'ndjson'] },
      from: { type: 'string', minLength: 1, maxLength: MAX_CURSOR_LENGTH }
    }
  }
} as const

export function registerHttpStreamRoute (app: FastifyInstance, ctx: GatewayContext, authenticate: (req: FastifyRequest) => Promise<void>): void {
  app.get<{ Params: StreamParams, Querystring: StreamQuery }>('/v1/streams/:product', {
    schema: streamRouteSchema,
    onRequest: [ctx.quotas.preAuth('connection'), authenticate]
  }, async (request, reply: FastifyReply) => {
    const principal = requirePrincipal(request)
    const format = negotiateHttpStreamFormat(request.query.format, request.headers.accept)
    if (format === undefined) throw new GatewayError('not_acceptable', 'accept text/event-stream or application/x-ndjson (or pass ?format=sse|ndjson)')
    // SSE's Last-Event-ID (set by EventSource on reconnect) wins over `from`.
    const lastEventId = format.name === 'sse' ? request.headers['last-event-id'] : undefined
    const from = typeof lastEventId === 'string' && lastEventId !== '' ? lastEventId : request.query.from

    const subscription = await openSubscription(ctx, { principal, product: request.params.product, from, transport: format.name, audited: true, countsAsConnection: true, reqId: String(request.id) })

    // From here on the response is ours: fastify's reply pipeline is done.
    reply.hijack()
    const sink = new HttpStreamSink(reply.raw, format, {
      heartbeatMs: ctx.config.heartbeatMs,
      maxBufferedBytes: ctx.config.streamMaxBufferedBytes,
      onClose: () => { void subscription.stop('client_closed') }
    })
    sink.open({ 'x-request-id': String(request.id), ...corsHeaders(ctx, request) })
    await subscription.start(sink)
  })
}
