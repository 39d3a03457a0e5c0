/**
 * ReaderStream: one subscription fed by its own TopicReader, from explicit
 * per-partition start offsets. Every delivered message carries the cursor that
 * resumes right after it. Access changes (revocation, expiry) end it through
 * stop(); a `revoked` message is the last thing the client then receives.
 */
import { randomUUID } from 'node:crypto'
import type { KafkaCluster } from '../kafka/cluster.js'
import type { KafkaRecord, PartitionOffsets } from '../kafka/types.js'
import type { TopicReader } from '../kafka/reader.js'
import type { Product } from '../catalog/types.js'
import type { Logger } from '../observability/logger.js'
import type { AuditLog } from '../observability/audit.js'
import type { CursorCodec } from './cursor.js'
import { ACCESS_END_REASONS, type RecordEnvelope, type SkippedMessage, type StreamEndReason, type StreamMessage } from './messages.js'
import { decodeRecord, headerText } from './record-decoder.js'
import type { ShareViewResolver } from './share-view.js'
import type { OpenStream, StreamRegistry } from './stream-registry.js'
import type { UsageTracker } from './usage.js'

/** Where a stream's messages go: an HTTP response, later a WebSocket subscription. */
export interface MessageSink {
  readonly closed: boolean
  readonly writable: boolean
  send: (message: StreamMessage, json: string, id?: string) => boolean
  waitWritable: () => Promise<void>
  end: (last?: { message: StreamMessage, json: string }) => void
  /** Drops the connection without a clean end (slow consumer). */
  destroy: () => void
}

export interface StreamIdentity {
  shareId: string
  partnerId: string
  jti: string
  tokenExpiresAt: number
}

export interface ReaderStreamOptions {
  kafka: KafkaCluster
  product: Product
  identity: StreamIdentity
  /** The share's current policy view on the product (rebinds on policy or share changes). */
  views: ShareViewResolver
  transport: string
  /** How the client asked to start (for the audit): latest, earliest, a time, or "cursor". */
  from: string
  start: PartitionOffsets
  cursors: CursorCodec
  sink: MessageSink
  registry: StreamRegistry
  usage: UsageTracker
  audit: AuditLog
  logger: Logger
}

export class ReaderStream implements OpenStream {
  readonly id = randomUUID()
  readonly shareId: string
  readonly partnerId: string
  readonly jti: string
  readonly tokenExpiresAt: number
  readonly product: string
  readonly transport: string
  /** Next offset per partition, as the client will have it after the last message sent. */
  private readonly positions: PartitionOffsets
  private readonly offsets = new Map<number, { first: number, last: number }>()
  private reader: TopicReader | undefined
  private stopped = false
  private delivered = 0
  private deliveredBytes = 0
  private skipped = 0
  private filtered = 0
  private filterErrors = 0
  private policyName = ''
  private policyVersion = ''
  private readonly logger: Logger
  private readonly openedAt = Date.now()

  constructor (private readonly options: ReaderStreamOptions) {
    const { identity } = options
    this.shareId = identity.shareId
    this.partnerId = identity.partnerId
    this.jti = identity.jti
    this.tokenExpiresAt = identity.tokenExpiresAt
    this.product = options.product.name
    this.transport = options.transport
    this.positions = new Map(options.start)
    this.logger = options.logger.child({ stream: this.id, share: identity.shareId, product: this.product, transport: options.transport })
  }

  /** Registers the stream (access is re-checked from here on) and opens its reader. */
  async start (): Promise<void> {
    const active = this.options.views.current()
    this.policyName = active?.policy.name ?? ''
    this.policyVersion = active?.policy.version ?? ''
    this.options.registry.add(this)
    if (this.stopped) return
    this.logger.info({ partitions: this.positions.size, from: this.options.from }, 'stream opened')
    this.options.audit.record({ ...this.auditBase(), action: 'open', from: this.options.from })
    try {
      const reader = await this.options.kafka.openReader({
        topic: this.options.product.topic,
        start: this.positions,
        label: `stream.${this.product}`,
        onRecords: async (records) => { await this.deliver(records) },
        onFailure: (err) => {
          this.logger.error({ err }, 'stream reader failed')
          void this.stop('kafka_failure')
        }
      })
      if (this.stopped) await reader.close()
      else this.reader = reader
    } catch (err) {
      this.logger.error({ err }, 'cannot open stream reader')
      await this.stop('kafka_failure')
    }
  }

  private auditBase (): { kind: 'stream', share: string, partner: string, product: string, transport: string, jti: string, policy: string, policy_version: string, stream: string } {
    return { kind: 'stream', share: this.shareId, partner: this.partnerId, product: this.product, transport: this.transport, jti: this.jti, policy: this.policyName, policy_version: this.policyVersion, stream: this.id }
  }

  private cursor (): string {
    return this.options.cursors.encode(this.shareId, this.product, this.positions)
  }

  private write (message: StreamMessage, id?: string): boolean {
    const json = JSON.stringify(message)
    this.deliveredBytes += json.length
    return this.options.sink.send(message, json, id)
  }

  private async deliver (records: KafkaRecord[]): Promise<void> {
    const { sink, product } = this.options
    // Once per batch: a reloaded policy or a changed share applies from here on.
    const active = this.options.views.current()
    if (active === undefined) {
      await this.stop('product_removed')
      return
    }
    if (active.policy.version !== this.policyVersion) {
      this.logger.info({ policy: active.policy.name, version: active.policy.version, previous: this.policyVersion }, 'policy version changed')
      this.policyName = active.policy.name
      this.policyVersion = active.policy.version
    }
    let delivered = 0
    const bytesBefore = this.deliveredBytes
    for (const record of records) {
      if (this.stopped || sink.closed) break
      // A reader refetch after a rebalance may repeat offsets the client already has.
      const next = this.positions.get(record.partition)
      if (next !== undefined && record.offset < next) continue
      this.positions.set(record.partition, record.offset + 1)
      const decoded = decodeRecord(product, record)
      let message: StreamMessage
      if (decoded.ok) {
        const outcome = active.view({ value: decoded.value, key: decoded.key, headers: recordHeaders(record) })
        if (!outcome.delivered) {
          // Not delivered: nothing is sent; the next message's cursor moves past it.
          if (outcome.reason === 'filter_error') {
            this.filterErrors++
            this.logger.debug({ partition: record.partition, offset: record.offset, error: outcome.error }, 'filter error: record not delivered')
          } else this.filtered++
          continue
        }
        const envelope: RecordEnvelope = {
          type: 'record',
          product: this.product,
          partition: record.partition,
          offset: record.offset,
          timestamp: new Date(record.timestamp).toISOString(),
          key: outcome.key,
          value: outcome.value,
          headers: outcome.headers,
          policy_version: active.policy.version,
          cursor: this.cursor()
        }
        message = envelope
        delivered++
        const seen = this.offsets.get(record.partition)
        if (seen === undefined) this.offsets.set(record.partition, { first: record.offset, last: record.offset })
        else seen.last = record.offset
      } else {
        const skipped: SkippedMessage = { type: 'skipped', partition: record.partition, offset: record.offset, reason: 'schema', cursor: this.cursor() }
        message = skipped
        this.skipped++
        this.logger.warn({ partition: record.partition, offset: record.offset, reason: decoded.reason, detail: decoded.detail }, 'record withheld')
      }
      if (!this.write(message, message.cursor)) await sink.waitWritable()
    }
    this.delivered += delivered
    this.options.usage.delivered(this.shareId, delivered, this.deliveredBytes - bytesBefore)
  }

  lag (): number | undefined {
    const marks = this.reader?.highWatermarks
    if (marks === undefined || marks.size === 0) return undefined
    let lag = 0
    for (const [partition, high] of marks) lag += Math.max(0, high - (this.positions.get(partition) ?? high))
    return lag
  }

  notify (message: StreamMessage): void {
    if (!this.stopped) this.write(message)
  }

  /** Ends the stream and releases its reader. Access reasons send `revoked` first. */
  async stop (reason: StreamEndReason): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.options.registry.delete(this.id)
    const { sink } = this.options
    if (reason === 'slow_consumer') sink.destroy()
    else if (ACCESS_END_REASONS.has(reason)) {
      const revoked: StreamMessage = { type: 'revoked', reason }
      sink.end({ message: revoked, json: JSON.stringify(revoked) })
    } else sink.end()
    const duration = Date.now() - this.openedAt
    this.logger.info({ reason, delivered: this.delivered, skipped: this.skipped, filtered: this.filtered, filter_errors: this.filterErrors, duration_ms: duration }, 'stream closed')
    this.options.audit.record({
      ...this.auditBase(),
      action: 'close',
      reason,
      delivered: this.delivered,
      delivered_bytes: this.deliveredBytes,
      skipped: this.skipped,
      filtered: this.filtered + this.filterErrors,
      offsets: Object.fromEntries([...this.offsets].map(([p, o]) => [String(p), o])),
      duration_ms: duration
    })
    await this.reader?.close()
  }
}

/** Kafka headers as strings; a null-prototype object, so a header named __proto__ is just data. */
function recordHeaders (record: KafkaRecord): Record<string, string> {
  const headers: Record<string, string> = Object.create(null) as Record<string, string>
  for (const name in record.headers) {
    const text = headerText(record.headers[name])
    if (text !== undefined) headers[name] = text
  }
  return headers
}
