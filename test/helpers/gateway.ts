/** Starts a real gateway (both listeners on port 0) against the real broker. */
import { randomBytes } from 'node:crypto'
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { request } from 'undici'
import { loadConfig } from '../../src/config/config.js'
import { startGateway, type Gateway } from '../../src/gateway.js'
import { createLogger } from '../../src/observability/logger.js'
import { TEST_BROKERS } from './kafka.js'
import { gatewayLogFile } from './log-files.js'

export const TEST_ADMIN_TOKEN = 'test-admin-token-4c1d9e0f7a2b5c8d3e6f'

export interface AdminResponse { status: number, body: any, headers: Record<string, string | string[] | undefined> }

export interface Grant { product: string, policy?: string, access?: Array<'read' | 'write'> }

export interface TestGateway extends Gateway {
  /** Calls the admin API over HTTP with the admin token. */
  adminApi: (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown, headers?: Record<string, string>) => Promise<AdminResponse>
  /** Creates a fresh partner and a share of these products; returns the share id and its token. */
  share: (grants: Array<string | Grant>, extra?: Record<string, unknown>) => Promise<{ shareId: string, partnerId: string, token: string, jti: string }>
}

/** The admin API over real HTTP, with the test admin token. */
export function adminClient (adminUrl: string, adminToken = TEST_ADMIN_TOKEN): TestGateway['adminApi'] {
  return async (method, path, body, headers = {}) => {
    const res = await request(adminUrl + path, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const text = await res.body.text()
    let parsed: unknown = text
    try { parsed = text === '' ? undefined : JSON.parse(text) } catch {}
    return { status: res.statusCode, headers: res.headers, body: parsed }
  }
}

/** A shared dev-state folder per test process, like several local instances share one. */
let devState: Promise<string> | undefined

export function uniqueId (prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`
}

export async function startTestGateway (
  t: { teardown: (fn: () => Promise<void> | void) => void },
  options: { policiesDir: string, env?: Record<string, string>, /** Collects every log line (level debug). */ logs?: string[] }
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
    STREAMSHARE_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    STREAMSHARE_LOG_LEVEL: process.env.STREAMSHARE_TEST_LOG_LEVEL ?? 'info',
    ...options.env
  })
  // Every line goes to a log file the after-run scan checks for secrets; a test that
  // asks for `logs` also gets them (at debug) in memory.
  const file = gatewayLogFile()
  const logs = options.logs
  const logger = createLogger(logs === undefined ? config.logLevel : 'debug', new Writable({
    write (chunk: Buffer, _enc, done) {
      logs?.push(chunk.toString())
      // Late lines (after the test ended the file) are dropped, not an error.
      if (file.stream.writableEnded) done()
      else file.stream.write(chunk, () => { done() })
    }
  }))
  t.teardown(() => { file.stream.end() })
  const gateway = await startGateway(config, { logger })
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([gateway.registryLoaded, new Promise((_resolve, reject) => { timer = setTimeout(() => { reject(new Error('the test gateway did not load the registry within 60 s')) }, 60000) })])
  } catch (err) {
    await gateway.close()
    throw err
  } finally {
    clearTimeout(timer)
  }
  t.teardown(async () => { await gateway.close() })
  const adminApi = adminClient(gateway.adminUrl)
  const catalog = gateway.ctx.catalog()
  return {
    ...gateway,
    adminApi,
    async share (grants, extra = {}) {
      const partnerId = uniqueId('partner')
      const p = await adminApi('POST', '/admin/v1/partners', { id: partnerId, name: 'Test partner', contact: 'ops@partner.example', attributes: { region: 'eu-west' } })
      if (p.status !== 201) throw new Error(`partner create failed: ${p.status} ${JSON.stringify(p.body)}`)
      const products = grants.map(g => {
        const grant = typeof g === 'string' ? { product: g } : g
        const policy = grant.policy ?? [...(catalog.products.get(grant.product)?.policies.keys() ?? ['none'])][0]
        return { product: grant.product, policy, access: grant.access ?? ['read'] }
      })
      const res = await adminApi('POST', '/admin/v1/shares', { partner: partnerId, products, history: 'all', ...extra })
      if (res.status !== 201) throw new Error(`share create failed: ${res.status} ${JSON.stringify(res.body)}`)
      return { shareId: res.body.share.id, partnerId, token: res.body.token.access_token, jti: res.body.token.jti }
    }
  }
}
