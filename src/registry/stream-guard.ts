/**
 * Ends streams whose access ends (CONTRACT §4, §5 "Revocation"): on every registry
 * change the affected streams are re-checked at once — a revoked share or token, an
 * expired share, a product taken out of the share, a deleted partner — and timers
 * announce a token's expiry 30 s ahead (`expiring`) and end the stream at `exp`.
 *
 * An instance that stops hearing the registry feed cannot know about a revocation,
 * so it cannot keep the 1-second promise: when the registry is no longer current
 * (no fetch for STREAMSHARE_REGISTRY_MAX_SILENCE_MS) every open stream ends with
 * `registry_stale` (retry later, resume by cursor) and new ones get 503.
 */
import type { OpenStream, StreamRegistry } from '../engine/stream-registry.js'
import type { StreamEndReason } from '../engine/messages.js'
import type { Logger } from '../observability/logger.js'
import type { ShareRegistry } from './share-registry.js'
import { shareStatus, type RegistryChange } from './types.js'

export const EXPIRING_NOTICE_MS = 30_000
/** How often the guard checks that the registry is still current. */
const STALENESS_CHECK_MS = 250
/** setTimeout cannot wait longer than ~24.8 days; longer waits re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1

export class StreamGuard {
  private readonly timers = new Map<string, NodeJS.Timeout[]>()
  private readonly logger: Logger
  private readonly stalenessCheck: NodeJS.Timeout

  constructor (private readonly registry: ShareRegistry, private readonly streams: StreamRegistry, logger: Logger) {
    this.logger = logger.child({ component: 'stream-guard' })
    registry.on('change', change => { this.onChange(change) })
    streams.on('added', stream => { this.watch(stream) })
    streams.on('removed', stream => { this.unwatch(stream.id) })
    this.stalenessCheck = setInterval(() => { this.endStreamsIfStale() }, STALENESS_CHECK_MS)
    this.stalenessCheck.unref()
  }

  stop (): void {
    clearInterval(this.stalenessCheck)
    for (const id of [...this.timers.keys()]) this.unwatch(id)
  }

  private endStreamsIfStale (): void {
    if (this.streams.size === 0 || this.registry.current) return
    this.logger.warn({ streams: this.streams.size, feed_silence_ms: this.registry.feedSilenceMs }, 'share registry not current: ending open streams')
    void this.streams.stopAll('registry_stale')
  }

  /** Why a stream may not go on now, or undefined if it may. */
  private verdict (stream: OpenStream, now = Date.now()): StreamEndReason | undefined {
    const share = this.registry.share(stream.shareId)
    if (share === undefined) return 'share_revoked'
    const status = shareStatus(share, now)
    if (status === 'revoked') return 'share_revoked'
    if (status === 'expired') return 'share_expired'
    if (this.registry.partner(share.partner) === undefined) return 'partner_deleted'
    const token = this.registry.token(stream.jti)
    if (token === undefined || token.revoked_at !== null) return 'token_revoked'
    // A token minted for a share with an expiry expires with it: that is the share's end.
    if (now >= stream.tokenExpiresAt) return share.expires_at !== null && stream.tokenExpiresAt >= Date.parse(share.expires_at) - 1000 ? 'share_expired' : 'token_expired'
    if (stream.product !== undefined) {
      const grant = share.products.find(g => g.product === stream.product)
      if (grant === undefined || !grant.access.includes('read')) return 'product_removed'
    }
    return undefined
  }

  private check (stream: OpenStream): void {
    const reason = this.registry.current ? this.verdict(stream) : 'registry_stale'
    if (reason === undefined) return
    this.logger.info({ stream: stream.id, share: stream.shareId, reason }, 'ending stream: access ended')
    void stream.stop(reason)
  }

  private onChange (change: RegistryChange): void {
    switch (change.kind) {
      case 'share':
        for (const stream of this.streams.ofShare(change.id)) { this.check(stream); this.rearm(stream) }
        break
      case 'token':
        for (const stream of this.streams.all()) if (stream.jti === change.id) this.check(stream)
        break
      case 'partner':
        for (const stream of this.streams.all()) if (stream.partnerId === change.id) this.check(stream)
        break
    }
  }

  /**
   * Runs `fn` once the wall clock has reached `at`. Timers run on a monotonic clock and
   * may fire a little before Date.now() says `at` has come: then it waits again.
   */
  private schedule (stream: OpenStream, at: number, fn: () => void): void {
    const delay = at - Date.now()
    const timer = delay > MAX_TIMER_MS
      ? setTimeout(() => { this.schedule(stream, at, fn) }, MAX_TIMER_MS)
      : setTimeout(() => { if (Date.now() < at) this.schedule(stream, at, fn); else fn() }, Math.max(0, delay) + 1)
    timer.unref()
    const list = this.timers.get(stream.id)
    if (list === undefined) this.timers.set(stream.id, [timer])
    else list.push(timer)
  }

  private watch (stream: OpenStream): void {
    this.check(stream)
    this.rearm(stream)
  }

  /** (Re)sets the expiry timers of a stream: token expiry, and share expiry (which PATCH may move). */
  private rearm (stream: OpenStream): void {
    this.unwatch(stream.id)
    const notifyAt = stream.tokenExpiresAt - EXPIRING_NOTICE_MS
    this.schedule(stream, notifyAt, () => {
      stream.notify({ type: 'expiring', seconds: Math.max(0, Math.round((stream.tokenExpiresAt - Date.now()) / 1000)) })
    })
    this.schedule(stream, stream.tokenExpiresAt, () => { this.check(stream) })
    const expiresAt = this.registry.share(stream.shareId)?.expires_at
    if (expiresAt !== null && expiresAt !== undefined) this.schedule(stream, Date.parse(expiresAt), () => { this.check(stream) })
  }

  private unwatch (id: string): void {
    for (const timer of this.timers.get(id) ?? []) clearTimeout(timer)
    this.timers.delete(id)
  }
}
