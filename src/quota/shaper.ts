/**
 * `messages_per_second` and `bytes_per_second` per share (Quotas issue §1): token
 * buckets that *shape* delivery. All subscriptions of a share draw from its buckets;
 * when they are empty the subscriptions wait (the tap does not), so they advance more
 * slowly, nothing is dropped, and the lag shows in the share's usage. Quotas changed
 * by PATCH apply from the next take. Per instance (documented in the README).
 */
import type { ShareRegistry } from '../registry/share-registry.js'

/** Bursts of at most a tenth of a second: the measured rate stays close to the quota. */
const BURST_SECONDS = 0.1

class TokenBucket {
  private tokens: number
  private last = Date.now()

  constructor (private rate: number) {
    this.tokens = this.capacity
  }

  private get capacity (): number { return Math.max(1, this.rate * BURST_SECONDS) }

  setRate (rate: number): void {
    if (rate === this.rate) return
    this.refill()
    this.rate = rate
    this.tokens = Math.min(this.tokens, this.capacity)
  }

  private refill (): void {
    const now = Date.now()
    this.tokens = Math.min(this.capacity, this.tokens + (now - this.last) * this.rate / 1000)
    this.last = now
  }

  /** Takes `n` (may go into debt for a large item); returns ms to wait before going on. */
  take (n: number): number {
    this.refill()
    this.tokens -= n
    return this.tokens >= 0 ? 0 : Math.ceil(-this.tokens * 1000 / this.rate)
  }
}

class ShareShaper {
  private messages: TokenBucket | undefined
  private bytes: TokenBucket | undefined
  private version = ''

  constructor (private readonly registry: ShareRegistry, private readonly shareId: string) {}

  /** HOT PATH: a lookup and a string compare when the share is unchanged. */
  private update (): boolean {
    const share = this.registry.share(this.shareId)
    const version = share?.updated_at ?? ''
    if (version !== this.version) {
      this.version = version
      const mps = share?.quota.messages_per_second
      const bps = share?.quota.bytes_per_second
      if (mps === undefined) this.messages = undefined
      else if (this.messages === undefined) this.messages = new TokenBucket(mps)
      else this.messages.setRate(mps)
      if (bps === undefined) this.bytes = undefined
      else if (this.bytes === undefined) this.bytes = new TokenBucket(bps)
      else this.bytes.setRate(bps)
    }
    return this.messages !== undefined || this.bytes !== undefined
  }

  /** Milliseconds to wait before delivering one message of `size` bytes (0: go). */
  delay (size: number): number {
    if (!this.update()) return 0
    return Math.max(this.messages?.take(1) ?? 0, this.bytes?.take(size) ?? 0)
  }
}

export class DeliveryShaper {
  private readonly shapers = new Map<string, ShareShaper>()

  constructor (private readonly registry: ShareRegistry) {}

  /** The shaper of a share (shared by all its subscriptions on this instance). */
  of (shareId: string): ShareShaper {
    let shaper = this.shapers.get(shareId)
    if (shaper === undefined) {
      shaper = new ShareShaper(this.registry, shareId)
      this.shapers.set(shareId, shaper)
    }
    return shaper
  }
}

export type { ShareShaper }
