/**
 * What the routes of one gateway instance share. Built once by gateway.ts; routes
 * take what they need from it instead of importing singletons.
 */
import type { Config } from './config/config.js'
import type { Catalog } from './catalog/types.js'
import type { KafkaCluster } from './kafka/cluster.js'
import type { TokenService } from './auth/tokens.js'
import type { CursorCodec } from './engine/cursor.js'
import type { StreamRegistry } from './engine/stream-registry.js'
import type { Readiness } from './observability/readiness.js'
import type { Logger } from './observability/logger.js'
import type { AuditLog } from './observability/audit.js'
import type { ShareRegistry } from './registry/share-registry.js'
import type { UsageTracker } from './engine/usage.js'
import type { ShareService } from './registry/share-service.js'
import type { GatewaySecret } from './auth/gateway-secret.js'
import type { TapManager } from './engine/tap-manager.js'
import type { QuarantineWriter } from './engine/quarantine.js'
import type { ViewWorkerPool } from './engine/view-workers.js'
import type { LowWatermarks } from './engine/low-watermarks.js'
import type { TicketService } from './auth/tickets.js'
import type { PartnerProducer } from './engine/partner-producer.js'
import type { Quotas } from './quota/quotas.js'
import type { Metrics } from './observability/metrics.js'

export interface GatewayContext {
  readonly config: Readonly<Config>
  readonly instanceId: string
  readonly logger: Logger
  readonly kafka: KafkaCluster
  /** The current catalog (a function: policies reload without a restart). */
  readonly catalog: () => Catalog
  readonly tokens: TokenService
  /** Derives purpose keys (cursor MACs, per-share field hashes, tickets). */
  readonly secret: GatewaySecret
  readonly cursors: CursorCodec
  readonly streams: StreamRegistry
  readonly readiness: Readiness
  readonly registry: ShareRegistry
  readonly audit: AuditLog
  readonly usage: UsageTracker
  /** Admin operations on partners, shares and tokens. */
  readonly shares: ShareService
  /** One tap (reader + ring) per product topic, and the replay reader budget. */
  readonly taps: TapManager
  readonly quarantine: QuarantineWriter
  readonly lowWatermarks: LowWatermarks
  /** Threads that compute replay views; undefined when configured to 0. */
  readonly viewWorkers: ViewWorkerPool | undefined
  /** Single-use tickets for browsers (EventSource, WebSocket). */
  readonly tickets: TicketService
  /** Partner produce (write access). */
  readonly producer: PartnerProducer
  /** Connection leases, delivery shaping, IP limits, request rate limits. */
  readonly quotas: Quotas
  readonly metrics: Metrics
}
