/**
 * `GET /v1/streams/{product}/records?from=&limit=&wait_ms=` (CONTRACT §5): a batch
 * of messages and the cursor that continues right after them — a long poll for
 * clients that cannot hold a stream open. The same subscription machinery as the
 * streams, with a sink that collects instead of writing to a socket.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { requirePrincipal } from '../auth/authenticate.js'
import { MAX_CURSOR_LENGTH } from '../engine/cursor.js'
import type { Frame, StreamFormat, StreamSink } from '../engine/subscription.js'
import type { GatewayContext } from '../gateway-context.js'
import { openSubscription } from './open-subscription.js'
import { productParams } from './http-stream-route.js'
import { problemResponses } from '../http/openapi.js'
import { BATCH_DEFAULT_LIMIT, BATCH_MAX_LIMIT, BATCH_MAX_WAIT_MS } from './protocol.js'

const BATCH_FORMAT: StreamFormat = { name: 'json', frame: (_message, json) => json }

/** Once a batch has something, it returns after this long without more. */
const LINGER_MS = 25
/**
 * A batch that starts in history waits for the replay reader's first batch (joining
 * its group takes a moment) even when wait_ms is shorter, up to this long: otherwise
 * a client polling with wait_ms=0 would get its own cursor back forever.
 */
const REPLAY_FIRST_BATCH_MAX_MS = 5000

/** Collects up to `limit` messages; `done` resolves when full, idle or lingering. */
class BatchSink implements StreamSink {
  readonly format = BATCH_FORMAT
  readonly items: string[] = []
  closed = false
  private finish: () => void = () => {}
  readonly done = new Promise<void>(resolve => { this.finish = resolve })
  private linger: NodeJS.Timeout | undefined
  private waiters: Array<() => void> = []

  constructor (private readonly limit: number) {}

  get writable (): boolean { return !this.closed && this.items.length < this.limit }

  /** Always accepts: the subscription has already moved its position past this message. */
  write (frame: Frame): boolean {
    this.items.push(frame.toString())
    if (this.items.length >= this.limit) this.finish()
    else {
      if (this.linger !== undefined) clearTimeout(this.linger)
      this.linger = setTimeout(() => { this.finish() }, LINGER_MS)
    }
    return this.writable
  }

  idle (): void { if (this.items.length > 0) this.finish() }

  async waitWritable (): Promise<void> {
    if (this.writable) return
    await new Promise<void>(resolve => { this.waiters.push(resolve) })
  }

  end (lastFrame?: Frame): void {
    if (lastFrame !== undefined) this.items.push(lastFrame.toString())
    this.close()
  }

  destroy (): void { this.close() }

  private close (): void {
    this.closed = true
    if (this.linger !== undefined) clearTimeout(this.linger)
    for (const w of this.waiters.splice(0)) w()
    this.finish()
  }
}

interface BatchQuery { from?: string, limit: number, wait_ms: number }

const batchSchema = {
  summary: 'A batch of messages after `from`, and the cursor that continues after them (long poll)',
  params: productParams,
  response: {
    200: {
      type: 'object',
      required: ['records', 'cursor'],
      properties: {
        records: { type: 'array', items: { type: 'object', additionalProperties: true, description: 'stream messages (CONTRACT §5 envelope)' } },
        cursor: { type: 'string' }
      }
    },
    ...problemResponses(400, 401, 403, 404, 429, 503)
  },
  querystring: {
    type: 'object',
    properties: {
      from: { type: 'string', minLength: 1, maxLength: MAX_CURSOR_LENGTH },
      limit: { type: 'integer', minimum: 1, maximum: BATCH_MAX_LIMIT, default: BATCH_DEFAULT_LIMIT },
      wait_ms: { type: 'integer', minimum: 0, maximum: BATCH_MAX_WAIT_MS, default: 0 }
    }
  }
} as const

export function registerBatchRoute (app: FastifyInstance, ctx: GatewayContext, authenticate: (req: FastifyRequest) => Promise<void>): void {
  app.get<{ Params: { product: string }, Querystring: BatchQuery }>('/v1/streams/:product/records', {
    schema: batchSchema,
    onRequest: [ctx.quotas.preAuth('request'), authenticate],
    config: ctx.quotas.shareRateLimit()
  }, async (request, reply) => {
    const principal = requirePrincipal(request)
    const { from, limit, wait_ms: waitMs } = request.query
    const subscription = await openSubscription(ctx, { principal, product: request.params.product, from, transport: 'batch', audited: false, countsAsConnection: false, reqId: String(request.id) })
    const sink = new BatchSink(limit)
    const timers: NodeJS.Timeout[] = []
    const sleep = async (ms: number): Promise<void> => { await new Promise<void>(resolve => { timers.push(setTimeout(resolve, ms)) }) }
    // The poll ends early when the client goes away.
    const gone = new Promise<void>(resolve => { request.raw.once('close', () => { resolve() }) })
    try {
      await subscription.start(sink)
      const firstReplayBatch = subscription.replaying ? Promise.race([subscription.replayProgress(), sleep(REPLAY_FIRST_BATCH_MAX_MS)]) : undefined
      await Promise.race([sink.done, gone, Promise.all([sleep(waitMs), firstReplayBatch])])
    } finally {
      for (const timer of timers) clearTimeout(timer)
      await subscription.stop('complete')
    }
    const cursor = subscription.cursor()
    // Messages are JSON already: joined, not parsed and serialised again.
    return await reply.type('application/json; charset=utf-8').send(`{"records":[${sink.items.join(',')}],"cursor":"${cursor}"}`)
  })
}
