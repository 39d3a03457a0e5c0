/**
 * `GET /v1/streams/{product}` as SSE or NDJSON (CONTRACT §5).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { authorizeProduct } from '../registry/access.js'
import { GatewayError } from '../errors.js'
import { MAX_CURSOR_LENGTH } from '../engine/cursor.js'
import { ReaderStream } from '../engine/reader-stream.js'
import { ShareViewResolver } from '../engine/share-view.js'
import { parseStartSpec, resolveStartOffsets } from '../engine/start-position.js'
import { HttpStreamSink } from './http-stream-sink.js'
import { negotiateHttpStreamFormat } from './wire-format.js'
import type { GatewayContext } from '../gateway-context.js'

interface StreamParams { product: string }
interface StreamQuery { format?: 'sse' | 'ndjson', from?: string }

export const streamRouteSchema = {
  params: {
    type: 'object',
    required: ['product'],
    properties: { product: { type: 'string', minLength: 1, maxLength: 64 } }
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
    onRequest: authenticate
  }, async (request, reply: FastifyReply) => {
    const principal = request.principal
    if (principal === null) throw new GatewayError('token_missing', 'send Authorization: Bearer <token>')
    const access = await authorizeProduct(ctx.registry, ctx.catalog(), principal, request.params.product, 'read')
    const { product } = access
    const views = new ShareViewResolver({ catalog: ctx.catalog, registry: ctx.registry, secret: ctx.secret }, principal.shareId, product.name)
    if (views.current() === undefined) throw new GatewayError('unavailable', 'the policy of this share is not loaded', { retryAfter: 30 })
    if (!ctx.readiness.acceptingStreams) throw new GatewayError('unavailable', 'the gateway is not ready for streams', { retryAfter: 5 })

    const format = negotiateHttpStreamFormat(request.query.format, request.headers.accept)
    if (format === undefined) throw new GatewayError('not_acceptable', 'accept text/event-stream or application/x-ndjson (or pass ?format=sse|ndjson)')

    // SSE's Last-Event-ID (set by EventSource on reconnect) wins over `from`.
    const lastEventId = format.name === 'sse' ? request.headers['last-event-id'] : undefined
    const from = typeof lastEventId === 'string' && lastEventId !== '' ? lastEventId : request.query.from
    const spec = parseStartSpec(from)
    const start = await resolveStartOffsets(ctx.kafka, product.topic, spec, {
      shareId: principal.shareId, product: product.name, cursors: ctx.cursors
    })

    // From here on the response is ours: fastify's reply pipeline is done.
    reply.hijack()
    let stream: ReaderStream | undefined
    const sink = new HttpStreamSink(reply.raw, format, {
      heartbeatMs: ctx.config.heartbeatMs,
      maxBufferedBytes: ctx.config.streamMaxBufferedBytes,
      onClose: () => { void stream?.stop('client_closed') }
    })
    stream = new ReaderStream({
      kafka: ctx.kafka,
      product,
      identity: {
        shareId: principal.shareId,
        partnerId: principal.partnerId,
        jti: principal.jti,
        tokenExpiresAt: principal.expiresAt
      },
      views,
      transport: format.name,
      from: spec.kind === 'cursor' ? 'cursor' : (from ?? 'latest'),
      start,
      cursors: ctx.cursors,
      sink,
      registry: ctx.streams,
      usage: ctx.usage,
      audit: ctx.audit,
      logger: ctx.logger.child({ reqId: request.id })
    })
    sink.open({ 'x-request-id': String(request.id) })
    await stream.start()
  })
}
