/**
 * The optional Redis that makes quotas global across gateway instances
 * (STREAMSHARE_REDIS_URL). Commands fail fast when Redis is away (no offline queue):
 * the quota code then falls back to per-instance enforcement instead of blocking
 * partner traffic on a quota store.
 */
import { Redis } from 'ioredis'
import type { Logger } from '../observability/logger.js'

export type RedisClient = Redis

export function createRedis (url: string, logger: Logger): Redis {
  const redis = new Redis(url, {
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 1000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 5000)
  })
  let logged = 0
  redis.on('error', (err: Error) => {
    // Once a minute at most: an unreachable Redis must not flood the log.
    if (Date.now() - logged > 60_000) {
      logged = Date.now()
      logger.warn({ err: { message: err.message } }, 'Redis unavailable; quotas are enforced per instance until it is back')
    }
  })
  redis.on('ready', () => { logger.info('Redis connected: quotas are global across instances') })
  return redis
}
