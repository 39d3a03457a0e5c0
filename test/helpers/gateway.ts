/** Starts a real gateway (both listeners on port 0) against the real broker. */
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { loadConfig } from '../../src/config/config.js'
import { startGateway, type Gateway } from '../../src/gateway.js'
import { createLogger } from '../../src/observability/logger.js'
import { TEST_BROKERS } from './kafka.js'

export interface TestGateway extends Gateway {
  /** Mints a token with the gateway's own keys. */
  token: (scopes: string[], options?: { partnerId?: string, shareId?: string, ttlSeconds?: number }) => Promise<string>
}

/** A shared dev-state folder per test process, like several local instances share one. */
let devState: Promise<string> | undefined

export async function startTestGateway (
  t: { teardown: (fn: () => Promise<void> | void) => void },
  options: { policiesDir: string, env?: Record<string, string> }
): Promise<TestGateway> {
  devState ??= mkdtemp(path.join(os.tmpdir(), 'streamshare-state-'))
  const config = loadConfig({
    STREAMSHARE_KAFKA_BROKERS: TEST_BROKERS,
    STREAMSHARE_HOST: '127.0.0.1',
    STREAMSHARE_PORT: '0',
    STREAMSHARE_ADMIN_HOST: '127.0.0.1',
    STREAMSHARE_ADMIN_PORT: '0',
    STREAMSHARE_POLICIES_DIR: options.policiesDir,
    STREAMSHARE_DEV_STATE_DIR: await devState,
    STREAMSHARE_LOG_LEVEL: process.env.STREAMSHARE_TEST_LOG_LEVEL ?? 'silent',
    ...options.env
  })
  const gateway = await startGateway(config, { logger: createLogger(config.logLevel) })
  t.teardown(async () => { await gateway.close() })
  return {
    ...gateway,
    async token (scopes, opts = {}) {
      const minted = await gateway.ctx.tokens.mint({
        partnerId: opts.partnerId ?? 'test-partner',
        shareId: opts.shareId ?? 'test-share',
        scopes,
        ttlSeconds: opts.ttlSeconds ?? 600
      })
      return minted.accessToken
    }
  }
}
