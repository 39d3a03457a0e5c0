/**
 * The steps every transport takes to open a subscription: authorize the token for
 * the product against the registry, resolve the start (bounded by the share's
 * history window), join the tap (or reserve a replay reader). Errors here are
 * still plain HTTP errors: nothing has been sent yet.
 */
import type { Principal } from '../auth/tokens.js'
import { GatewayError } from '../errors.js'
import type { GatewayContext } from '../gateway-context.js'
import { parseHistory } from '../registry/history.js'
import { authorizeProduct } from '../registry/access.js'
import { ShareViewResolver } from '../engine/share-view.js'
import { parseStartSpec, resolveStart } from '../engine/start-position.js'
import { Subscription } from '../engine/subscription.js'

export interface OpenRequest {
  principal: Principal
  product: string
  from: string | undefined
  transport: string
  audited: boolean
  countsAsConnection: boolean
  /** The enclosing connection handles token expiry (WebSocket): no per-subscription timers. */
  connectionHandlesExpiry?: boolean
  reqId: string
}

export async function openSubscription (ctx: GatewayContext, request: OpenRequest): Promise<Subscription> {
  const { principal } = request
  const { product, share } = await authorizeProduct(ctx.registry, ctx.catalog(), principal, request.product, 'read')
  if (!ctx.readiness.acceptingStreams) throw new GatewayError('unavailable', 'the gateway is not ready for streams', { retryAfter: 5 })
  const views = new ShareViewResolver({ catalog: ctx.catalog, registry: ctx.registry, secret: ctx.secret }, principal.shareId, product.name)
  const spec = parseStartSpec(request.from)
  const history = parseHistory(share.history) ?? { kind: 'none' }
  const start = await resolveStart(ctx.kafka, product.topic, spec, { shareId: principal.shareId, product: product.name, cursors: ctx.cursors, history })
  // max_connections: a slot is taken before anything starts, given back when it ends.
  const lease = request.countsAsConnection ? await ctx.quotas.acquireConnection(principal.shareId) : undefined
  const subscription = new Subscription({
    kafka: ctx.kafka,
    taps: ctx.taps,
    cursors: ctx.cursors,
    streams: ctx.streams,
    usage: ctx.usage,
    audit: ctx.audit,
    quarantine: ctx.quarantine,
    lowWatermarks: ctx.lowWatermarks,
    logger: ctx.logger.child({ reqId: request.reqId }),
    stallTimeoutMs: ctx.config.streamStallTimeoutMs,
    shaper: ctx.quotas.shaper,
    metrics: ctx.metrics,
    viewWorkers: ctx.viewWorkers
  }, {
    product,
    identity: {
      shareId: principal.shareId,
      partnerId: principal.partnerId,
      jti: principal.jti,
      tokenExpiresAt: request.connectionHandlesExpiry === true ? Number.POSITIVE_INFINITY : principal.expiresAt
    },
    views,
    transport: request.transport,
    from: spec.kind === 'cursor' ? 'cursor' : (request.from ?? 'latest'),
    start: start.positions,
    startGaps: start.gaps,
    audited: request.audited,
    countsAsConnection: request.countsAsConnection,
    ...(lease === undefined ? {} : { lease })
  })
  try {
    await subscription.attach()
  } catch (err) {
    lease?.release()
    throw err
  }
  return subscription
}
