/**
 * TopicReader: reads one topic from explicit per-partition offsets and never commits.
 *
 * kafkajs has no manual partition assignment (kafkajs#373), so each reader is the only
 * member of a private consumer group. The group has no committed offsets, so every
 * (re)join would start from the reset position; instead, on every GROUP_JOIN we seek
 * each partition to the next offset we have not yet handed out. That makes the
 * reader exact across rebalances, consumer crashes and broker restarts: no gap, no
 * duplicate, no silent jump.
 */
import { randomUUID } from 'node:crypto'
import type { Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs'
import type { KafkaClient } from './client.js'
import type { KafkaRecord, PartitionOffsets } from './types.js'
import type { Logger } from '../observability/logger.js'

export interface TopicReaderOptions {
  topic: string
  /** Next offset to read per partition. Partitions not listed start at the earliest offset. */
  start: PartitionOffsets
  /**
   * Called with each fetched batch, awaited before the next: records of one partition
   * from one fetch, in offset order. `expected` is where the reader stood before them
   * (past transaction markers too): a first offset above it means records are missing
   * (compaction, an aborted transaction, or retention that kafkajs skipped over by
   * resetting an out-of-range position).
   */
  onRecords: (records: KafkaRecord[], expected: number | undefined) => void | Promise<void>
  /** The reader stopped for good (not called on close()). */
  onFailure?: (err: Error) => void
  /** Every completed fetch, records or not: proof that the feed is alive. */
  onFetch?: () => void
  /** After each batch: the partition's next offset (past compacted or control records too). */
  onPosition?: (partition: number, next: number) => void
  /** Identifies the reader's purpose in its group id (diagnostics only). */
  label: string
  groupPrefix: string
  /** Broker-side wait for new data. Bounds how long close() may take. */
  maxWaitMs?: number
}

export function toKafkaRecord (topic: string, partition: number, m: KafkaMessage): KafkaRecord {
  return {
    topic,
    partition,
    offset: Number(m.offset),
    timestamp: Number(m.timestamp),
    key: m.key ?? null,
    value: m.value ?? null,
    headers: (m.headers ?? {}) as KafkaRecord['headers']
  }
}

/** Most bytes one fetch returns per partition (see the consumer options). */
export const FETCH_BYTES_PER_PARTITION = 256 * 1024

export class TopicReader {
  readonly topic: string
  readonly groupId: string
  /** Next offset to deliver per partition: advanced only after onRecords returned. */
  readonly positions: PartitionOffsets
  /** Latest high watermark seen per partition (from fetch responses). */
  readonly highWatermarks: PartitionOffsets = new Map()
  private readonly consumer: Consumer
  private readonly logger: Logger
  private closed = false

  private constructor (kafka: KafkaClient, logger: Logger, private readonly options: TopicReaderOptions) {
    this.topic = options.topic
    this.groupId = `${options.groupPrefix}.${options.label}.${randomUUID()}`
    this.positions = new Map(options.start)
    this.logger = logger.child({ component: 'reader', topic: options.topic })
    this.consumer = kafka.consumer({
      groupId: this.groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: 30000,
      heartbeatInterval: 3000,
      maxWaitTimeInMs: options.maxWaitMs ?? 1000,
      // kafkajs' default is 1 MB per partition: a 3-partition replay then holds ~3 MB of
      // fetched bytes and ~3,000 decoded messages at once, which outlive young GCs while
      // the batches are delivered. 256 KB keeps that small; the broker still returns a
      // larger single record whole (KIP-74).
      maxBytesPerPartition: FETCH_BYTES_PER_PARTITION,
      // kafkajs notices partitions added to a topic by a periodic metadata refresh, then
      // rejoins and never fetches them (nor, without commits, resumes the others): so it
      // refreshes only on errors here, and the owner of a reader watches the partition
      // count and reopens the reader instead (see ProductTap).
      metadataMaxAge: 7 * 24 * 3600 * 1000,
      retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 5000 }
    })
  }

  static async open (kafka: KafkaClient, logger: Logger, options: TopicReaderOptions): Promise<TopicReader> {
    const reader = new TopicReader(kafka, logger, options)
    await reader.start()
    return reader
  }

  private async start (): Promise<void> {
    const { consumer, topic } = this
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      const assigned = event.payload.memberAssignment[topic] ?? []
      for (const partition of assigned) {
        const next = this.positions.get(partition)
        // An unknown partition appeared after we started, so all of it is new: it is left
        // to the group's reset position, which is the earliest offset (fromBeginning).
        // (Seeking to the special offset -2 does not work without auto-commit in kafkajs.)
        if (next !== undefined) consumer.seek({ topic, partition, offset: String(next) })
      }
    })
    if (this.options.onFetch !== undefined) {
      const onFetch = this.options.onFetch
      consumer.on(consumer.events.FETCH, () => { onFetch() })
    }
    // kafkajs does not call eachBatch for a batch of only control records (transaction
    // markers) or aborted records, so a reader positioned on a marker would never move
    // past it. The batch's instrumentation event still says where it ended.
    consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
      const { topic: batchTopic, partition, batchSize, firstOffset, lastOffset } = event.payload
      if (this.closed || batchTopic !== topic || batchSize !== 0 || firstOffset === null) return
      const current = this.positions.get(partition)
      // Only a batch that starts at (or before) our position proves nothing lies between.
      if (current === undefined || Number(firstOffset) > current) return
      this.advance(partition, Number(lastOffset) + 1)
    })
    consumer.on(consumer.events.CRASH, (event) => {
      const { error, restart } = event.payload
      this.logger.warn({ err: error, restart }, 'topic reader crashed')
      if (!restart && !this.closed) this.options.onFailure?.(error)
    })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      partitionsConsumedConcurrently: 1,
      eachBatch: async (payload) => { await this.handleBatch(payload) }
    })
  }

  private async handleBatch ({ batch, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (!isRunning() || isStale() || this.closed) return
    const { partition } = batch
    this.highWatermarks.set(partition, Number(batch.highWatermark))
    const records: KafkaRecord[] = []
    const expected = this.positions.get(partition)
    for (const m of batch.messages) {
      const record = toKafkaRecord(batch.topic, partition, m)
      // A refetch after a rebalance can overlap what we already delivered.
      if (expected !== undefined && record.offset < expected) continue
      records.push(record)
    }
    if (records.length > 0) await this.options.onRecords(records, expected)
    if (this.closed || isStale()) return
    // lastOffset covers trailing control records (transaction markers) too.
    this.advance(partition, Number(batch.lastOffset()) + 1)
  }

  private advance (partition: number, next: number): void {
    if (next > (this.positions.get(partition) ?? 0)) {
      this.positions.set(partition, next)
      this.options.onPosition?.(partition, next)
    }
  }

  pause (): void {
    if (!this.closed) this.consumer.pause([{ topic: this.topic }])
  }

  resume (): void {
    if (!this.closed) this.consumer.resume([{ topic: this.topic }])
  }

  /** Leaves the group (it has no committed offsets, so the broker forgets it). */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    try {
      await this.consumer.disconnect()
    } catch (err) {
      this.logger.debug({ err }, 'reader disconnect failed')
    }
  }
}
