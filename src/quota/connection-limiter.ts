/**
 * `max_connections` per share (Quotas issue §1): open streams across all transports
 * (an SSE/NDJSON stream, a WebSocket connection). A lease is taken before anything
 * starts (429 before any upgrade or stream) and given back when it ends.
 *
 * With Redis the leases of every instance are counted together: a sorted set per
 * share, scored by lease expiry and refreshed by the owning instance, so the leases
 * of an instance that died expire by themselves. Without Redis (or while it is
 * away) each instance enforces the full quota on its own.
 */
import { randomUUID } from 'node:crypto'
import { GatewayError } from '../errors.js'
import type { Logger } from '../observability/logger.js'
import type { RedisClient } from './redis.js'

export interface Lease {
  readonly shareId: string
  /** Idempotent. */
  release: () => void
}

const LEASE_TTL_MS = 30_000
const REFRESH_MS = 10_000

// Drop expired leases, then add ours if there is room. Returns 1 when added.
const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0`

export class ConnectionLimiter {
  private readonly local = new Map<string, Set<string>>()
  private readonly timer: NodeJS.Timeout | undefined

  constructor (private readonly redis: RedisClient | undefined, private readonly logger: Logger) {
    if (redis !== undefined) {
      this.timer = setInterval(() => { void this.refresh() }, REFRESH_MS)
      this.timer.unref()
    }
  }

  private key (shareId: string): string { return `streamshare:conn:${shareId}` }

  /** Takes a connection slot of the share, or throws quota_exceeded (429). No limit: always granted. */
  async acquire (shareId: string, limit: number | undefined): Promise<Lease> {
    const member = randomUUID()
    // With Redis every lease is registered (a limit set later by PATCH counts them all).
    let granted = true
    let registered = false
    if (this.redis !== undefined) {
      try {
        const now = Date.now()
        granted = await this.redis.eval(ACQUIRE, 1, this.key(shareId), String(now), String(limit ?? Number.MAX_SAFE_INTEGER), String(now + LEASE_TTL_MS), member, String(LEASE_TTL_MS * 2)) === 1
        registered = granted
      } catch {
        granted = limit === undefined || (this.local.get(shareId)?.size ?? 0) < limit
      }
    } else if (limit !== undefined) {
      granted = (this.local.get(shareId)?.size ?? 0) < limit
    }
    if (!granted) throw new GatewayError('quota_exceeded', `this share may have at most ${String(limit)} open streams at once`, { retryAfter: 5 })
    let set = this.local.get(shareId)
    if (set === undefined) this.local.set(shareId, set = new Set())
    set.add(member)
    let released = false
    return {
      shareId,
      release: () => {
        if (released) return
        released = true
        const s = this.local.get(shareId)
        s?.delete(member)
        if (s?.size === 0) this.local.delete(shareId)
        if (registered && this.redis !== undefined) this.redis.zrem(this.key(shareId), member).catch(() => {})
      }
    }
  }

  /** Keeps this instance's leases alive in Redis (they expire if it dies). */
  private async refresh (): Promise<void> {
    if (this.redis === undefined || this.local.size === 0) return
    const expiry = Date.now() + LEASE_TTL_MS
    const pipeline = this.redis.pipeline()
    for (const [shareId, members] of this.local) {
      for (const member of members) pipeline.zadd(this.key(shareId), 'XX', expiry, member)
    }
    try {
      await pipeline.exec()
    } catch (err) {
      this.logger.debug({ err }, 'cannot refresh connection leases')
    }
  }

  /** Open connections of a share on this instance. */

  close (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
  }
}
