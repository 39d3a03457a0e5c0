/**
 * One gateway instance: config → keys, catalog, Kafka, share registry → two
 * listeners; and the orderly shutdown (readiness fails first, streams end cleanly,
 * readers leave their groups, listeners and Kafka clients close). Tests start it
 * on port 0.
 */
import { randomBytes } from 'node:crypto'
import { watch } from 'node:fs'
import type { FastifyInstance } from 'fastify'
import type { Config } from './config/config.js'
import { loadCatalog } from './catalog/load.js'
import type { Catalog } from './catalog/types.js'
import { GatewaySecret, loadOrCreateDevSecret } from './auth/gateway-secret.js'
import { loadOrCreateDevSigningKeys, SigningKeys } from './auth/signing-keys.js'
import { TokenService } from './auth/tokens.js'
import { CursorCodec } from './engine/cursor.js'
import { StreamRegistry } from './engine/stream-registry.js'
import { UsageTracker } from './engine/usage.js'
import { TapManager } from './engine/tap-manager.js'
import { QuarantineWriter } from './engine/quarantine.js'
import { ViewWorkerPool } from './engine/view-workers.js'
import { LowWatermarks } from './engine/low-watermarks.js'
import { TicketService } from './auth/tickets.js'
import { PartnerProducer } from './engine/partner-producer.js'
import { Quotas, redisTicketUse } from './quota/quotas.js'
import { Metrics } from './observability/metrics.js'
import { KafkaCluster } from './kafka/cluster.js'
import { AuditLog } from './observability/audit.js'
import { createLogger, type Logger } from './observability/logger.js'
import { Readiness } from './observability/readiness.js'
import { ShareRegistry } from './registry/share-registry.js'
import { StreamGuard } from './registry/stream-guard.js'
import { ShareService } from './registry/share-service.js'
import { buildAdminApp } from './http/admin-app.js'
import { buildPartnerApp } from './http/partner-app.js'
import type { GatewayContext } from './gateway-context.js'

export interface Gateway {
  readonly ctx: GatewayContext
  readonly partner: FastifyInstance
  readonly admin: FastifyInstance
  /** Base URL of the partner listener as bound (port 0 resolved). */
  readonly partnerUrl: string
  readonly adminUrl: string
  /** Resolves once the registry is loaded (the instance can serve streams). */
  readonly registryLoaded: Promise<void>
  /**
   * Re-reads the signing keys and the policies folder (SIGHUP). An invalid new version
   * is rejected and logged; the last good one stays in force.
   */
  reload: () => Promise<ReloadResult>
  close: () => Promise<void>
}

export interface ReloadResult {
  keys: 'reloaded' | 'failed'
  policies: 'reloaded' | 'unchanged' | 'failed'
  errors: string[]
}

export interface StartOptions {
  logger?: Logger
  /** Resolve only once the registry is loaded (tests, dev). Default: serve at once, readiness says when. */
  waitForRegistry?: boolean
}

async function loadKeys (config: Readonly<Config>, logger: Logger): Promise<SigningKeys> {
  if (config.signingKeysFile !== undefined) return await SigningKeys.fromFile(config.signingKeysFile)
  const dev = await loadOrCreateDevSigningKeys(config.devStateDir)
  logger.warn({ file: dev.file, created: dev.created }, 'using development signing keys (set STREAMSHARE_SIGNING_KEYS in production)')
  return dev.keys
}

async function loadSecret (config: Readonly<Config>, logger: Logger): Promise<GatewaySecret> {
  if (config.gatewaySecret !== undefined) return new GatewaySecret(config.gatewaySecret)
  logger.warn('using a development gateway secret (set STREAMSHARE_GATEWAY_SECRET in production)')
  return new GatewaySecret(await loadOrCreateDevSecret(config.devStateDir))
}

function urlOf (app: FastifyInstance, tls: boolean): string {
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('listener has no TCP address')
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `${tls ? 'https' : 'http'}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`
}

/** Calls `onChange` (debounced) when anything below `dir` changes. */
function watchFolder (dir: string, onChange: () => void, log: Logger): () => void {
  let timer: NodeJS.Timeout | undefined
  try {
    const watcher = watch(dir, { recursive: true, persistent: false }, () => {
      if (timer !== undefined) clearTimeout(timer)
      // Editors write in several steps; act once they are done.
      timer = setTimeout(onChange, 300)
    })
    watcher.on('error', (err) => { log.warn({ err }, 'cannot watch the policies folder; reload with SIGHUP') })
    return () => { if (timer !== undefined) clearTimeout(timer); watcher.close() }
  } catch (err) {
    log.warn({ err }, 'cannot watch the policies folder; reload with SIGHUP')
    return () => {}
  }
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

export async function startGateway (config: Readonly<Config>, options: StartOptions = {}): Promise<Gateway> {
  const logger = options.logger ?? createLogger(config.logLevel)
  const instanceId = randomBytes(6).toString('hex')
  const log = logger.child({ instance: instanceId })

  let catalog: Catalog = await loadCatalog(config.policiesDir)
  log.info({ products: [...catalog.products.keys()], version: catalog.version }, 'policies loaded')
  const keys = await loadKeys(config, log)
  const secret = await loadSecret(config, log)
  const tokens = new TokenService(keys, config.publicUrl)
  const kafka = new KafkaCluster(config.kafka, log, instanceId)
  const readiness = new Readiness(kafka, log)
  const registry = new ShareRegistry({ kafka, logger: log, maxFeedSilenceMs: config.registryMaxSilenceMs })
  const streams = new StreamRegistry()
  // Ends streams whose access ends, or when this instance's registry goes stale.
  const guard = new StreamGuard(registry, streams, log)
  const audit = new AuditLog(kafka, log, instanceId)
  const metrics = new Metrics()
  const quarantine = new QuarantineWriter(kafka, log, instanceId, metrics)
  const quotas = new Quotas(config, registry, log)
  const lowWatermarks = new LowWatermarks(kafka)
  const taps = new TapManager({
    kafka,
    catalog: () => catalog,
    quarantine,
    lowWatermarks,
    logger: log,
    bounds: { maxRecords: config.ringMaxRecords, maxBytes: config.ringMaxBytes },
    idleMs: config.tapIdleMs,
    replayPerShare: config.replayPerShare,
    replayPerInstance: config.replayPerInstance
  })
  readiness.addCheck('policies', () => ({ ok: true, detail: `loaded, version ${catalog.version}` }))
  readiness.addCheck('registry', () => registry.current
    ? { ok: true, detail: 'current' }
    : { ok: false, detail: registry.loaded ? `feed silent for ${Math.round(registry.feedSilenceMs / 1000)} s` : 'loading' })
  if (config.adminToken === undefined) log.warn('STREAMSHARE_ADMIN_TOKEN is not set: every admin API call is refused with 401')

  const ctx: GatewayContext = {
    config,
    instanceId,
    logger: log,
    kafka,
    catalog: () => catalog,
    tokens,
    secret,
    cursors: new CursorCodec(secret.key('cursor')),
    streams,
    readiness,
    registry,
    audit,
    usage: new UsageTracker(),
    shares: new ShareService(registry, () => catalog, tokens, audit, config.tokenTtlSeconds),
    taps,
    quarantine,
    lowWatermarks,
    viewWorkers: config.viewWorkers > 0 ? new ViewWorkerPool({ size: config.viewWorkers, cursorKey: secret.key('cursor'), logger: log.child({ component: 'view-workers' }) }) : undefined,
    tickets: new TicketService(secret.key('ticket'), config.ticketTtlMs, quotas.redis === undefined ? undefined : redisTicketUse(quotas.redis)),
    producer: new PartnerProducer(kafka, audit, { maxRecordBytes: config.produceMaxRecordBytes, maxRecords: 500 }, metrics),
    quotas,
    metrics
  }
  metrics.watch(streams, taps)

  // Serve even if Kafka is down: /readyz says so, and the registry keeps trying.
  if (!await readiness.probeKafka()) log.warn('Kafka is not reachable yet; not ready until it is')
  readiness.start()

  let closed = false
  const registryLoaded = (async () => {
    for (let attempt = 1; !closed; attempt++) {
      try {
        await audit.start()
        await quarantine.start()
        await registry.start()
        return
      } catch (err) {
        if (closed) return
        log.warn({ err, attempt }, 'cannot load the share registry yet; retrying')
        await registry.stop()
        await sleep(Math.min(10_000, 500 * attempt))
      }
    }
  })()

  const partner = await buildPartnerApp(ctx)
  const admin = await buildAdminApp(ctx)
  try {
    await partner.listen({ host: config.host, port: config.port })
    await admin.listen({ host: config.adminHost, port: config.adminPort })
  } catch (err) {
    closed = true
    guard.stop()
    await Promise.allSettled([partner.close(), admin.close(), registry.stop(), kafka.close(), ctx.quotas.close(), ctx.viewWorkers?.close()])
    readiness.stop()
    throw err
  }
  const partnerUrl = urlOf(partner, config.tls !== undefined)
  const adminUrl = urlOf(admin, false)
  log.info({ partner: partnerUrl, admin: adminUrl }, 'gateway listening')

  let closing: Promise<void> | undefined
  const close = async (): Promise<void> => {
    closing ??= (async () => {
      closed = true
      stopWatching()
      log.info({ streams: streams.size }, 'shutting down')
      readiness.markShuttingDown()
      if (config.shutdownDelayMs > 0) await sleep(config.shutdownDelayMs)
      await streams.stopAll('shutdown')
      guard.stop()
      await Promise.allSettled([partner.close(), admin.close()])
      await taps.close()
      await ctx.viewWorkers?.close()
      await Promise.allSettled([audit.drain(), quarantine.drain()])
      await registry.stop()
      await ctx.quotas.close()
      await kafka.close()
      readiness.stop()
      log.info('shut down')
    })()
    await closing
  }
  const reloadPolicies = async (result: ReloadResult): Promise<void> => {
    try {
      const next = await loadCatalog(config.policiesDir)
      if (next.version !== catalog.version) {
        catalog = next
        result.policies = 'reloaded'
        log.info({ version: next.version }, 'policies reloaded')
      }
    } catch (err) {
      result.policies = 'failed'
      result.errors.push((err as Error).message)
      log.error({ err }, 'policies not reloaded; the last good version stays in force')
    }
  }
  const reload = async (): Promise<ReloadResult> => {
    const result: ReloadResult = { keys: 'reloaded', policies: 'unchanged', errors: [] }
    try {
      tokens.replaceKeys(await loadKeys(config, log))
      log.info({ kids: tokens.signingKeys.kids, signing: tokens.signingKeys.signingKid }, 'signing keys reloaded')
    } catch (err) {
      result.keys = 'failed'
      result.errors.push((err as Error).message)
      log.error({ err }, 'signing keys not reloaded; the previous keys stay in force')
    }
    await reloadPolicies(result)
    return result
  }
  // Policy files edited in place (or a ConfigMap update) apply without a signal.
  const stopWatching = config.watchPolicies ? watchFolder(config.policiesDir, () => { void reloadPolicies({ keys: 'reloaded', policies: 'unchanged', errors: [] }) }, log) : () => {}
  if (options.waitForRegistry === true) await registryLoaded
  return { ctx, partner, admin, partnerUrl, adminUrl, registryLoaded, reload, close }
}
