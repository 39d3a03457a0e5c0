/**
 * ReaderStream: one subscription fed by its own TopicReader, from explicit
 * per-partition start offsets. Every delivered message carries the cursor that
 * resumes right after it.
 */
import { randomUUID } from 'node:crypto'
import type { KafkaCluster } from '../kafka/cluster.js'
import type { KafkaRecord, PartitionOffsets } from '../kafka/types.js'
import type { TopicReader } from '../kafka/reader.js'
import type { Product } from '../catalog/types.js'
import type { Logger } from '../observability/logger.js'
import type { CursorCodec } from './cursor.js'
import type { RecordEnvelope, SkippedMessage, StreamEndReason, StreamMessage } from './messages.js'
import { decodeRecord } from './record-decoder.js'
import type { OpenStream, StreamRegistry } from './stream-registry.js'

/** Where a stream's messages go: an HTTP response, later a WebSocket subscription. */
export interface MessageSink {
  readonly closed: boolean
  readonly writable: boolean
  send: (message: StreamMessage, json: string, id?: string) => boolean
  waitWritable: () => Promise<void>
  end: (last?: { message: StreamMessage, json: string }) => void
}

export interface ReaderStreamOptions {
  kafka: KafkaCluster
  product: Product
  shareId: string
  jti: string
  transport: string
  policyVersion: string
  start: PartitionOffsets
  cursors: CursorCodec
  sink: MessageSink
  registry: StreamRegistry
  logger: Logger
}

export class ReaderStream implements OpenStream {
  readonly id = randomUUID()
  readonly shareId: string
  readonly jti: string
  readonly product: string
  readonly transport: string
  /** Next offset per partition, as the client will have it after the last message sent. */
  private readonly positions: PartitionOffsets
  private reader: TopicReader | undefined
  private stopped = false
  private delivered = 0
  private skipped = 0
  private readonly logger: Logger
  private readonly openedAt = Date.now()

  constructor (private readonly options: ReaderStreamOptions) {
    this.shareId = options.shareId
    this.jti = options.jti
    this.product = options.product.name
    this.transport = options.transport
    this.positions = new Map(options.start)
    this.logger = options.logger.child({ stream: this.id, share: options.shareId, product: this.product, transport: options.transport })
  }

  /** Opens the reader; the stream then runs until stop() or the client leaves. */
  async start (): Promise<void> {
    this.options.registry.add(this)
    this.logger.info({ partitions: this.positions.size }, 'stream opened')
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

  private cursor (): string {
    return this.options.cursors.encode(this.shareId, this.product, this.positions)
  }

  private async deliver (records: KafkaRecord[]): Promise<void> {
    const { sink, product } = this.options
    for (const record of records) {
      if (this.stopped || sink.closed) return
      // A reader refetch after a rebalance may repeat offsets the client already has.
      const next = this.positions.get(record.partition)
      if (next !== undefined && record.offset < next) continue
      this.positions.set(record.partition, record.offset + 1)
      const cursor = this.cursor()
      const decoded = decodeRecord(product, record)
      let message: StreamMessage
      if (decoded.ok) {
        const envelope: RecordEnvelope = {
          type: 'record',
          product: this.product,
          partition: record.partition,
          offset: record.offset,
          timestamp: new Date(record.timestamp).toISOString(),
          key: decoded.key,
          value: decoded.value,
          headers: {},
          policy_version: this.options.policyVersion,
          cursor
        }
        message = envelope
        this.delivered++
      } else {
        const skipped: SkippedMessage = { type: 'skipped', partition: record.partition, offset: record.offset, reason: 'schema', cursor }
        message = skipped
        this.skipped++
        this.logger.warn({ partition: record.partition, offset: record.offset, reason: decoded.reason, detail: decoded.detail }, 'record withheld')
      }
      if (!sink.send(message, JSON.stringify(message), cursor)) await sink.waitWritable()
    }
  }

  /** Ends the stream (optionally with a last message) and releases its reader. */
  async stop (reason: StreamEndReason, last?: StreamMessage): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.options.registry.delete(this.id)
    const { sink } = this.options
    if (reason === 'slow_consumer') (sink as { destroy?: () => void }).destroy?.()
    else sink.end(last === undefined ? undefined : { message: last, json: JSON.stringify(last) })
    this.logger.info({ reason, delivered: this.delivered, skipped: this.skipped, duration_ms: Date.now() - this.openedAt }, 'stream closed')
    await this.reader?.close()
  }
}
