/**
 * Fixed-window counters (per IP, per minute…): in memory, or in Redis when
 * configured so that every instance counts together. A Redis error falls back to
 * the local count for that call.
 */
import type { RedisClient } from './redis.js'

export interface WindowCounter {
  /** Adds one to `key` in the current window; returns the new count. */
  hit: (key: string, windowMs: number) => Promise<number>
  /** The count of `key` in the current window. */
  count: (key: string) => Promise<number>
}

export class LocalWindowCounter implements WindowCounter {
  private readonly windows = new Map<string, { count: number, resetAt: number }>()

  async hit (key: string, windowMs: number): Promise<number> {
    const now = Date.now()
    let w = this.windows.get(key)
    if (w === undefined || w.resetAt <= now) {
      if (this.windows.size > 100_000) this.sweep(now)
      w = { count: 0, resetAt: now + windowMs }
      this.windows.set(key, w)
    }
    return ++w.count
  }

  async count (key: string): Promise<number> {
    const w = this.windows.get(key)
    return w === undefined || w.resetAt <= Date.now() ? 0 : w.count
  }

  private sweep (now: number): void {
    for (const [k, w] of this.windows) if (w.resetAt <= now) this.windows.delete(k)
  }
}

export class RedisWindowCounter implements WindowCounter {
  private readonly local = new LocalWindowCounter()

  constructor (private readonly redis: RedisClient, private readonly prefix = 'streamshare:win:') {}

  async hit (key: string, windowMs: number): Promise<number> {
    try {
      const k = this.prefix + key
      const [[, count]] = await this.redis.multi().incr(k).pexpire(k, windowMs, 'NX').exec() as [[Error | null, number], unknown]
      return count
    } catch {
      return await this.local.hit(key, windowMs)
    }
  }

  async count (key: string): Promise<number> {
    try {
      return Number(await this.redis.get(this.prefix + key) ?? 0)
    } catch {
      return await this.local.count(key)
    }
  }
}
