/**
 * Everything quota-related an instance holds: connection leases, delivery shaping,
 * pre-authentication limits per IP and the share-keyed request rate limit
 * (@fastify/rate-limit) — in Redis when STREAMSHARE_REDIS_URL is set.
 */
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Config } from '../config/config.js'
import { GatewayError } from '../errors.js'
import type { Logger } from '../observability/logger.js'
import type { ShareRegistry } from '../registry/share-registry.js'
import { ConnectionLimiter } from './connection-limiter.js'
import { LocalWindowCounter, RedisWindowCounter, type WindowCounter } from './counters.js'
import { IpGuard, type PreAuthKind } from './ip-guard.js'
import { createRedis, type RedisClient } from './redis.js'
import { DeliveryShaper } from './shaper.js'

/**
 * Single use of tickets across instances: SET NX with the ticket's remaining life.
 * If Redis fails the ticket is still accepted (the local check has run).
 */
export function redisTicketUse (redis: RedisClient) {
  return async (tid: string, expiresAt: number): Promise<boolean> => {
    try {
      return await redis.set(`streamshare:ticket:${tid}`, '1', 'PX', Math.max(1, expiresAt - Date.now()), 'NX') === 'OK'
    } catch {
      return true
    }
  }
}

export class Quotas {
  readonly redis: RedisClient | undefined
  readonly connections: ConnectionLimiter
  readonly shaper: DeliveryShaper
  readonly ipGuard: IpGuard
  private readonly requestCounter: WindowCounter

  constructor (private readonly config: Readonly<Config>, private readonly registry: ShareRegistry, logger: Logger) {
    const log = logger.child({ component: 'quota' })
    this.redis = config.redisUrl === undefined ? undefined : createRedis(config.redisUrl, log)
    this.connections = new ConnectionLimiter(this.redis, log)
    this.shaper = new DeliveryShaper(registry)
    this.requestCounter = this.redis === undefined ? new LocalWindowCounter() : new RedisWindowCounter(this.redis)
    this.ipGuard = new IpGuard(this.requestCounter, {
      authFailuresPerMinute: config.ipAuthFailuresPerMinute,
      connectionsPerMinute: config.ipConnectionsPerMinute,
      ticketsPerMinute: config.ipTicketsPerMinute
    })
  }

  /** A connection slot of the share (max_connections), or 429 quota_exceeded. */
  async acquireConnection (shareId: string) {
    return await this.connections.acquire(shareId, this.registry.share(shareId)?.quota.max_connections)
  }

  /** An onRequest hook refusing over-limit IPs before authentication. */
  preAuth (kind: PreAuthKind) {
    return async (request: FastifyRequest): Promise<void> => { await this.ipGuard.check(request.ip, kind) }
  }

  /**
   * Registers @fastify/rate-limit for routes that opt in with `shareRateLimit()`:
   * requests per minute keyed by share (after authentication), RateLimit-* headers,
   * 429 rate_limited with Retry-After. Redis makes the count global; if Redis fails,
   * requests pass (a quota store outage must not stop partner traffic).
   */
  async registerRateLimit (app: FastifyInstance): Promise<void> {
    await app.register(rateLimit, {
      global: false,
      ...(this.redis === undefined ? {} : { redis: this.redis, nameSpace: 'streamshare:rpm:' }),
      skipOnError: true,
      enableDraftSpec: true,
      errorResponseBuilder: (_request, context) => new GatewayError('rate_limited', `this share may make ${context.max} requests per minute`, { retryAfter: Math.ceil(context.ttl / 1000) })
    })
  }

  /**
   * Charges one WebSocket message to the share's requests_per_minute (a window of
   * its own, aligned to the minute, shared by instances through Redis). Returns the
   * seconds until the window resets when the share is over its limit.
   */
  async chargeMessage (shareId: string): Promise<{ allowed: true } | { allowed: false, retryAfter: number }> {
    const now = Date.now()
    const minute = Math.floor(now / 60_000)
    const max = this.requestsPerMinute(shareId)
    const count = await this.requestCounter.hit(`ws-rpm:${shareId}:${minute}`, 60_000)
    if (count <= max) return { allowed: true }
    return { allowed: false, retryAfter: Math.max(1, Math.ceil(((minute + 1) * 60_000 - now) / 1000)) }
  }

  /** Route config: requests per minute of the share (its quota, or the default). */
  shareRateLimit (): { rateLimit: Record<string, unknown> } {
    return {
      rateLimit: {
        hook: 'preHandler',
        timeWindow: 60_000,
        keyGenerator: (request: FastifyRequest) => `share:${request.principal?.shareId ?? request.ip}`,
        max: (request: FastifyRequest) => this.requestsPerMinute(request.principal?.shareId)
      }
    }
  }

  /** The share's requests_per_minute quota (HTTP requests and WebSocket messages alike). */
  private requestsPerMinute (shareId: string | undefined): number {
    return (shareId === undefined ? undefined : this.registry.share(shareId)?.quota.requests_per_minute) ?? this.config.defaultRequestsPerMinute
  }

  async close (): Promise<void> {
    this.connections.close()
    await this.redis?.quit().catch(() => {})
  }
}
