/**
 * One WebSocket connection speaking `streamshare.v1` (CONTRACT §6): multiplexed
 * subscriptions (each a Subscription of the stream engine, with its own `from`),
 * publish, pings, and the close codes. The connection itself is an open stream of
 * its share, so revocation and expiry reach it even with no subscription.
 */
import { randomUUID } from 'node:crypto'
import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import { GatewayError, type FieldError } from '../errors.js'
import type { Principal } from '../auth/tokens.js'
import type { GatewayContext } from '../gateway-context.js'
import { ACCESS_END_REASONS, type StreamEndReason, type StreamMessage } from '../engine/messages.js'
import type { OpenStream } from '../engine/stream-registry.js'
import type { Frame, StreamFormat, StreamSink, Subscription } from '../engine/subscription.js'
import { MAX_CURSOR_LENGTH } from '../engine/cursor.js'
import { authorizeProduct } from '../registry/access.js'
import type { Logger } from '../observability/logger.js'
import { openSubscription } from './open-subscription.js'
import { TickCork } from './tick-cork.js'
import type { Lease } from '../quota/connection-limiter.js'
import { SUBSCRIPTION_ID_PATTERN } from './protocol.js'

/** Close codes (CONTRACT §6). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  tooBig: 1009,
  internal: 1011,
  tryAgainLater: 1013,
  malformed: 4400,
  tokenInvalid: 4401,
  revoked: 4403,
  duplicateId: 4409,
  quota: 4429
} as const

function closeCodeFor (reason: StreamEndReason): number {
  if (reason === 'token_expired') return CLOSE.tokenInvalid
  if (ACCESS_END_REASONS.has(reason)) return CLOSE.revoked
  if (reason === 'slow_consumer' || reason === 'registry_stale') return CLOSE.tryAgainLater
  if (reason === 'shutdown') return CLOSE.goingAway
  if (reason === 'kafka_failure' || reason === 'error') return CLOSE.internal
  return CLOSE.normal
}

const SUBSCRIPTION_ID = new RegExp(SUBSCRIPTION_ID_PATTERN)
/** Above this many unsent bytes a subscription waits; the stream's hard limit cuts (1013). */
const HIGH_WATER_MARK = 256 * 1024

type ClientMessage =
  | { type: 'subscribe', id: string, product: string, from?: string }
  | { type: 'unsubscribe', id: string }
  | { type: 'publish', ref: string, product: string, key?: unknown, value: unknown, headers?: Record<string, string> }

class MalformedMessage extends Error {}

/** Holds a subscription id while its subscribe is opening; one per attempt. */
class OpeningMarker {}

function parseClientMessage (text: string): ClientMessage {
  let data: unknown
  try { data = JSON.parse(text) } catch { throw new MalformedMessage('not JSON') }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new MalformedMessage('not a JSON object')
  const m = data as Record<string, unknown>
  const str = (name: string, max: number): string => {
    const v = m[name]
    if (typeof v !== 'string' || v.length === 0 || v.length > max) throw new MalformedMessage(`"${name}" must be a non-empty string`)
    return v
  }
  const allowed = (names: string[]): void => {
    for (const k of Object.keys(m)) if (!names.includes(k)) throw new MalformedMessage(`unknown field "${k.slice(0, 32)}"`)
  }
  switch (m.type) {
    case 'subscribe': {
      allowed(['type', 'id', 'product', 'from'])
      const id = str('id', 64)
      if (!SUBSCRIPTION_ID.test(id)) throw new MalformedMessage('"id" may use letters, digits and . _ : - (1-64)')
      return { type: 'subscribe', id, product: str('product', 64), ...(m.from === undefined ? {} : { from: str('from', MAX_CURSOR_LENGTH) }) }
    }
    case 'unsubscribe':
      allowed(['type', 'id'])
      return { type: 'unsubscribe', id: str('id', 64) }
    case 'publish': {
      allowed(['type', 'ref', 'product', 'key', 'value', 'headers'])
      if (!('value' in m)) throw new MalformedMessage('"value" is required')
      const headers = m.headers
      if (headers !== undefined && (headers === null || typeof headers !== 'object' || Array.isArray(headers))) throw new MalformedMessage('"headers" must be an object')
      return { type: 'publish', ref: str('ref', 64), product: str('product', 64), key: m.key, value: m.value, ...(headers === undefined ? {} : { headers: headers as Record<string, string> }) }
    }
    default:
      throw new MalformedMessage('unknown message type')
  }
}

/** Close reasons are printable ASCII cut to 123 bytes, the most a close frame carries. */
export function closeReason (reason: string): string {
  return reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 123)
}

/** A client that keeps sending after this many refused messages is closed (4429). */
const MAX_REFUSED_MESSAGES = 20
/** Client messages waiting for their rate check; a flood beyond it is closed (4429). */
const MAX_PENDING_MESSAGES = 256

/**
 * WebSocket frames as the engine caches them: the message's JSON bytes, the same for
 * every subscription of a share binding whatever id its client chose. Each sink puts
 * its subscription id in front when it sends (WsSubscriptionSink.withId). Caching one
 * frame per id instead cost the ring one copy of every record per distinct id: a
 * thousand clients with their own ids filled its byte bound a thousand times faster.
 */
const WS_FORMAT: StreamFormat = {
  name: 'ws',
  frame: (_message, json) => Buffer.from(json)
}

export class WsConnection implements OpenStream {
  readonly id = randomUUID()
  readonly shareId: string
  readonly partnerId: string
  readonly jti: string
  readonly tokenExpiresAt: number
  readonly product = undefined
  readonly transport = 'ws'
  readonly countsAsConnection = true
  /** Open subscriptions, and subscribes still opening (marked by their attempt). */
  private readonly subscriptions = new Map<string, Subscription | OpeningMarker>()
  /** Subscribes in flight, including ones unsubscribed before they opened. */
  private openings = 0
  private publishing = 0
  private refusedMessages = 0
  private pendingMessages = 0
  private inbox: Promise<void> = Promise.resolve()
  private closed = false
  private missedPongs = 0
  private readonly ping: NodeJS.Timeout
  private drainWaiters: Array<() => void> = []
  /** Corks the TCP socket under the WebSocket (ws keeps it as `_socket`). */
  private readonly cork: TickCork | undefined
  private readonly logger: Logger

  private idle: NodeJS.Timeout | undefined

  constructor (private readonly socket: WebSocket, private readonly ctx: GatewayContext, private readonly principal: Principal, private readonly reqId: string, private readonly lease: Lease) {
    this.shareId = principal.shareId
    this.partnerId = principal.partnerId
    this.jti = principal.jti
    this.tokenExpiresAt = principal.expiresAt
    this.logger = ctx.logger.child({ connection: this.id, share: principal.shareId, transport: 'ws', reqId })
    socket.on('message', (data, isBinary) => { this.onMessage(data as Buffer, isBinary) })
    socket.on('pong', () => { this.missedPongs = 0 })
    socket.on('close', (code) => { void this.onClosed(code) })
    socket.on('error', (err) => { this.logger.debug({ err }, 'websocket error') })
    // The raw socket's drain tells a waiting subscription it may write again.
    const raw = (socket as unknown as { _socket?: Socket })._socket
    raw?.on('drain', () => { this.releaseDrainWaiters() })
    this.cork = raw === undefined ? undefined : new TickCork(raw)
    this.ping = setInterval(() => {
      // Two pings without a pong: the peer is gone.
      if (this.missedPongs >= 2) { socket.terminate(); return }
      this.missedPongs++
      socket.ping()
    }, ctx.config.wsPingMs)
    this.ping.unref()
    ctx.streams.add(this)
    this.armIdle()
    this.logger.info('websocket opened')
  }

  /** A connection that carries no subscription for the idle timeout is closed (1000). */
  private armIdle (): void {
    if (this.idle !== undefined) clearTimeout(this.idle)
    this.idle = undefined
    if (this.subscriptions.size > 0 || this.closed) return
    this.idle = setTimeout(() => { if (this.subscriptions.size === 0) this.close(CLOSE.normal, 'idle: no subscription') }, this.ctx.config.wsIdleTimeoutMs)
    this.idle.unref()
  }

  // ---- sending --------------------------------------------------------------

  get bufferedAmount (): number { return this.socket.bufferedAmount }
  get isClosed (): boolean { return this.closed || this.socket.readyState !== this.socket.OPEN }

  send (frame: Frame): boolean {
    if (this.isClosed) return false
    this.cork?.hold()
    this.socket.send(frame, { binary: false })
    if (this.socket.bufferedAmount > this.ctx.config.streamMaxBufferedBytes) {
      // Past the hard limit: this client cannot keep up; it resumes by cursor.
      this.close(CLOSE.tryAgainLater, 'slow consumer')
      return false
    }
    return this.socket.bufferedAmount < HIGH_WATER_MARK
  }

  private sendJson (message: Record<string, unknown>): void {
    this.send(JSON.stringify(message))
  }

  async waitDrain (): Promise<void> {
    if (this.isClosed || this.socket.bufferedAmount < HIGH_WATER_MARK) return
    await new Promise<void>(resolve => { this.drainWaiters.push(resolve) })
  }

  private releaseDrainWaiters (): void {
    const waiters = this.drainWaiters
    this.drainWaiters = []
    for (const w of waiters) w()
  }

  /** An `error` message for a subscription or publish, from the error registry. */
  sendError (to: { id?: string, ref?: string }, err: unknown): void {
    const e = err instanceof GatewayError ? err : new GatewayError('internal', 'internal error')
    if (!(err instanceof GatewayError)) this.logger.error({ err }, 'websocket request failed')
    const message: Record<string, unknown> = { type: 'error', ...to, status: e.status, code: e.code, detail: e.detail }
    if (e.errors !== undefined) message.errors = e.errors satisfies FieldError[]
    if (e.retryAfter !== undefined) message.retry_after = e.retryAfter
    this.sendJson(message)
  }

  close (code: number, reason: string): void {
    if (this.closed) return
    this.closed = true
    this.ctx.streams.delete(this.id)
    try {
      this.socket.close(code, closeReason(reason))
    } catch (err) {
      this.logger.warn({ err }, 'websocket close failed; terminating')
      this.socket.terminate()
    }
    // A peer that does not answer the close handshake is cut a little later. A slow
    // consumer gets longer: its close frame sits behind the data it has not read yet.
    const grace = code === CLOSE.tryAgainLater ? 10_000 : 2000
    setTimeout(() => { if (this.socket.readyState !== this.socket.CLOSED) this.socket.terminate() }, grace).unref()
    this.releaseDrainWaiters()
  }

  // ---- receiving ------------------------------------------------------------

  private onMessage (data: Buffer, isBinary: boolean): void {
    if (this.closed) return
    try {
      let message: ClientMessage
      try {
        if (isBinary) throw new MalformedMessage('binary frames are not supported')
        message = parseClientMessage(data.toString('utf8'))
      } catch (err) {
        this.close(CLOSE.malformed, err instanceof MalformedMessage ? `malformed message: ${err.message}` : 'malformed message')
        return
      }
      if (++this.pendingMessages > MAX_PENDING_MESSAGES) {
        this.close(CLOSE.quota, 'quota exceeded: too many messages')
        return
      }
      // Messages are handled in order: each waits for its rate check (which may go
      // to Redis) behind the one before.
      this.inbox = this.inbox.then(async () => { await this.handle(message) }).catch((err: unknown) => {
        this.logger.error({ err }, 'websocket message failed')
        this.close(CLOSE.internal, 'internal error')
      })
    } catch (err) {
      // Nothing a client sends may take the process down.
      this.logger.error({ err }, 'websocket message failed')
      this.close(CLOSE.internal, 'internal error')
    }
  }

  private async handle (message: ClientMessage): Promise<void> {
    this.pendingMessages--
    if (this.closed) return
    const to = message.type === 'publish' ? { ref: message.ref } : { id: message.id }
    // Every message counts against the share's requests_per_minute.
    const charge = await this.ctx.quotas.chargeMessage(this.shareId)
    if (this.closed) return
    if (!charge.allowed) {
      if (++this.refusedMessages > MAX_REFUSED_MESSAGES) { this.close(CLOSE.quota, 'quota exceeded: requests_per_minute'); return }
      this.sendError(to, new GatewayError('rate_limited', 'this share is over its requests_per_minute', { retryAfter: charge.retryAfter }))
      return
    }
    this.refusedMessages = 0
    switch (message.type) {
      case 'subscribe': void this.subscribe(message.id, message.product, message.from); break
      case 'unsubscribe': void this.unsubscribe(message.id); break
      case 'publish':
        if (this.publishing >= this.ctx.config.wsMaxInflightPublishes) {
          this.sendError(to, new GatewayError('quota_exceeded', `at most ${this.ctx.config.wsMaxInflightPublishes} publishes in flight per connection; wait for "published"`))
          return
        }
        this.publishing++
        void this.publish(message).finally(() => { this.publishing-- })
        break
    }
  }

  private async subscribe (id: string, product: string, from: string | undefined): Promise<void> {
    if (this.subscriptions.has(id)) { this.close(CLOSE.duplicateId, `duplicate subscription id "${id}"`); return }
    const open = [...this.subscriptions.values()].filter(s => !(s instanceof OpeningMarker)).length
    if (open + this.openings >= this.ctx.config.wsMaxSubscriptions) {
      this.sendError({ id }, new GatewayError('quota_exceeded', `at most ${this.ctx.config.wsMaxSubscriptions} subscriptions per connection`))
      return
    }
    const marker = new OpeningMarker()
    this.subscriptions.set(id, marker)
    this.openings++
    this.armIdle()
    let subscription: Subscription
    try {
      subscription = await openSubscription(this.ctx, { principal: this.principal, product, from, transport: 'ws', audited: true, countsAsConnection: false, connectionHandlesExpiry: true, reqId: this.reqId })
    } catch (err) {
      if (this.subscriptions.get(id) === marker) this.subscriptions.delete(id)
      this.armIdle()
      this.sendError({ id }, err)
      return
    } finally {
      this.openings--
    }
    // Unsubscribed (or replaced by a new subscribe with the same id) while opening.
    if (this.isClosed || this.subscriptions.get(id) !== marker) {
      await subscription.stop('client_closed')
      return
    }
    this.subscriptions.set(id, subscription)
    // `subscribed` first, with the cursor of the start: resuming from it loses nothing.
    this.sendJson({ type: 'subscribed', id, cursor: subscription.cursor() })
    await subscription.start(new WsSubscriptionSink(this, id, () => { this.subscriptions.delete(id); this.armIdle() }))
  }

  private async unsubscribe (id: string): Promise<void> {
    const subscription = this.subscriptions.get(id)
    if (subscription === undefined) {
      this.sendError({ id }, new GatewayError('bad_request', `no subscription "${id}"`))
      return
    }
    this.subscriptions.delete(id)
    this.armIdle()
    if (!(subscription instanceof OpeningMarker)) await subscription.stop('complete')
  }

  private async publish (message: Extract<ClientMessage, { type: 'publish' }>): Promise<void> {
    try {
      const { product } = await authorizeProduct(this.ctx.registry, this.ctx.catalog(), this.principal, message.product, 'write')
      const [written] = await this.ctx.producer.produce(product, this.principal, [{
        key: message.key,
        value: message.value,
        ...(message.headers === undefined ? {} : { headers: message.headers })
      }], { transport: 'ws', requestId: this.reqId, pathPrefix: () => '' })
      this.sendJson({ type: 'published', ref: message.ref, partition: written?.partition, offset: written?.offset })
    } catch (err) {
      this.sendError({ ref: message.ref }, err)
    }
  }

  // ---- OpenStream -------------------------------------------------------------

  notify (message: StreamMessage): void {
    if (!this.isClosed) this.sendJson(message as unknown as Record<string, unknown>)
  }

  lag (): number | undefined { return undefined }

  /** Ends the connection (and its subscriptions) with the close code for `reason`. */
  async stop (reason: StreamEndReason): Promise<void> {
    if (this.closed) return
    if (ACCESS_END_REASONS.has(reason)) this.sendJson({ type: 'revoked', reason })
    this.close(closeCodeFor(reason), reason)
    await this.stopSubscriptions(reason)
  }

  private async stopSubscriptions (reason: StreamEndReason): Promise<void> {
    const subscriptions = [...this.subscriptions.values()]
    this.subscriptions.clear()
    await Promise.allSettled(subscriptions.map(async s => { if (!(s instanceof OpeningMarker)) await s.stop(reason) }))
  }

  private async onClosed (code: number): Promise<void> {
    clearInterval(this.ping)
    if (this.idle !== undefined) clearTimeout(this.idle)
    this.lease.release()
    this.closed = true
    this.releaseDrainWaiters()
    this.ctx.streams.delete(this.id)
    await this.stopSubscriptions('client_closed')
    this.logger.info({ code }, 'websocket closed')
  }
}

/** The engine's view of one subscription on a connection. */
class WsSubscriptionSink implements StreamSink {
  readonly format = WS_FORMAT
  private ended = false
  /** `{"id":<id>,` as bytes: the message's JSON follows without its opening brace. */
  private readonly idPrefix: Buffer

  constructor (private readonly connection: WsConnection, private readonly id: string, private readonly onEnd: () => void) {
    this.idPrefix = Buffer.from(`{"id":${JSON.stringify(id)},`)
  }

  /** One text frame: the subscription id first, then the message's fields (one copy of its bytes). */
  private withId (frame: Frame): Buffer {
    const body = typeof frame === 'string' ? Buffer.from(frame) : frame
    // Every message has a type, so its JSON is never just `{}`.
    const out = Buffer.allocUnsafe(this.idPrefix.length + body.length - 1)
    this.idPrefix.copy(out, 0)
    body.copy(out, this.idPrefix.length, 1)
    return out
  }

  get closed (): boolean { return this.ended || this.connection.isClosed }
  get writable (): boolean { return !this.closed && this.connection.bufferedAmount < HIGH_WATER_MARK }

  write (frame: Frame): boolean {
    if (this.closed) return false
    return this.connection.send(this.withId(frame))
  }

  async waitWritable (): Promise<void> { await this.connection.waitDrain() }

  end (lastFrame?: Frame, reason?: StreamEndReason): void {
    if (this.ended) return
    this.ended = true
    this.onEnd()
    if (lastFrame !== undefined) this.connection.send(this.withId(lastFrame))
    if (reason === undefined) return
    // Access ended for the whole share or token: the connection goes (4403 / 4401).
    // A product taken out of the share ends only this subscription.
    if (ACCESS_END_REASONS.has(reason) && reason !== 'product_removed') void this.connection.stop(reason)
    else if (reason === 'shutdown') void this.connection.stop(reason)
    else if (reason === 'kafka_failure' || reason === 'error') {
      this.connection.sendError({ id: this.id }, new GatewayError('unavailable', 'the subscription failed; subscribe again from your last cursor', { retryAfter: 5 }))
    }
  }

  destroy (): void {
    this.ended = true
    this.onEnd()
    this.connection.close(CLOSE.tryAgainLater, 'slow consumer')
  }
}
