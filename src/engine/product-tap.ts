/**
 * ProductTap: this instance's one reader of a product topic (DESIGN §1). It starts
 * at the end of the topic, never commits, decodes and schema-checks every record
 * once, quarantines the invalid ones, appends everything to the ring and wakes the
 * subscriptions. It never waits for a client: slow subscriptions fall behind in the
 * ring, not the tap.
 */
import type { KafkaCluster } from '../kafka/cluster.js'
import type { TopicReader } from '../kafka/reader.js'
import type { KafkaRecord, PartitionOffsets } from '../kafka/types.js'
import type { Product } from '../catalog/types.js'
import type { Logger } from '../observability/logger.js'
import { cursorPayload } from './cursor.js'
import { decodeRecord } from './record-decoder.js'
import { STATUS_GAP, STATUS_OK, TapRing, type EntryStatus, type RingBounds, type RingEntry } from './tap-ring.js'
import type { QuarantineWriter } from './quarantine.js'
import type { LowWatermarks } from './low-watermarks.js'

/** What the tap wakes when it appended records. */
export interface TapListener {
  wake: () => void
}

export interface ProductTapOptions {
  kafka: KafkaCluster
  /** The product as currently loaded (the schema may change on a reload). */
  product: () => Product | undefined
  bounds: RingBounds
  quarantine: QuarantineWriter
  /** Log start offsets, to tell a retention gap from compaction. */
  lowWatermarks: LowWatermarks
  logger: Logger
  /** The tap stopped by itself because its product went away: never reuse it. */
  onRetired?: () => void
}

/** Approximate memory of a decoded record: raw bytes plus JS object overhead. */
function recordBytes (record: KafkaRecord): number {
  return (record.value?.length ?? 0) * 2 + (record.key?.length ?? 0) * 2 + 200
}

export class ProductTap {
  readonly name: string
  readonly topic: string
  readonly ring: TapRing
  /** The tap's position: next offset per partition (what the ring has read up to). */
  readonly positions: PartitionOffsets = new Map()
  private reader: TopicReader | undefined
  private readonly listeners = new Set<TapListener>()
  private readonly logger: Logger
  private stopped = false
  private partitionWatch: NodeJS.Timeout | undefined
  private reopening: Promise<void> | undefined
  /** Records the schema check withheld (per instance, since start). */

  constructor (private readonly options: ProductTapOptions, product: Product) {
    this.name = product.name
    this.topic = product.topic
    this.ring = new TapRing(options.bounds)
    this.logger = options.logger.child({ component: 'tap', product: product.name })
  }

  /** Starts reading at the current end of the topic. */
  async start (): Promise<void> {
    const marks = await this.options.kafka.watermarks(this.topic)
    for (const m of marks) {
      this.positions.set(m.partition, m.high)
      this.ring.cover(m.partition, m.high)
    }
    await this.openReader()
    this.partitionWatch = setInterval(() => { void this.watchPartitions() }, this.options.kafka.metadataMaxAgeMs)
    this.partitionWatch.unref()
    this.logger.info({ partitions: marks.length }, 'tap started')
  }

  private async openReader (): Promise<void> {
    this.reader = await this.options.kafka.openReader({
      topic: this.topic,
      start: new Map(this.positions),
      label: `tap.${this.name}`,
      // The tap is what every live stream waits on: short fetch waits keep latency low.
      maxWaitMs: 250,
      onRecords: (records, expected) => this.receive(records, expected),
      onFailure: (err) => {
        this.logger.error({ err }, 'tap reader failed; reopening it')
        void this.reopen()
      }
    })
  }

  /** Partitions added to the topic are read from their first record (all of it is new). */
  private async watchPartitions (): Promise<void> {
    if (this.stopped || this.reopening !== undefined) return
    let marks
    try {
      marks = await this.options.kafka.watermarks(this.topic)
    } catch {
      return
    }
    const added = marks.filter(m => !this.positions.has(m.partition))
    if (added.length === 0 || this.stopped) return
    for (const m of added) {
      this.positions.set(m.partition, m.low)
      this.ring.cover(m.partition, m.low)
    }
    this.logger.info({ partitions: added.map(m => m.partition) }, 'partitions added to the topic; reading them too')
    await this.reopen()
  }

  /** Closes the reader and opens a new one exactly where the tap is. */
  private async reopen (): Promise<void> {
    this.reopening ??= (async () => {
      try {
        const old = this.reader
        this.reader = undefined
        await old?.close()
        for (let attempt = 1; !this.stopped; attempt++) {
          try {
            await this.openReader()
            return
          } catch (err) {
            this.logger.warn({ err, attempt }, 'cannot reopen the tap reader yet')
            await new Promise(resolve => setTimeout(resolve, Math.min(10_000, 500 * attempt)))
          }
        }
      } finally {
        this.reopening = undefined
      }
    })()
    await this.reopening
  }

  /**
   * Records of one partition. kafkajs moves a position that fell below the log start
   * (retention deleted what the tap had not read yet) to the earliest offset without a
   * word; a batch that starts above where the reader stood is checked against the log
   * start first, so that a gap is in the ring before the records after it.
   */
  private receive (records: KafkaRecord[], expected: number | undefined): void | Promise<void> {
    const first = records[0]
    if (first === undefined || expected === undefined || first.offset <= expected) {
      this.append(records)
      return
    }
    return this.checkGap(first.partition, expected, first.offset).then(() => { this.append(records) })
  }

  /**
   * Throws when the log start cannot be read: the reader then fails the batch and reads
   * it again (kafkajs restarts the consumer, which seeks back to the tap's position),
   * so the jump is checked later instead of passing for compaction.
   */
  private async checkGap (partition: number, expected: number, got: number): Promise<void> {
    const to = await this.options.lowWatermarks.deletedUpTo(this.topic, partition, expected, got)
    if (this.stopped || to === undefined) return // compaction or an aborted transaction
    this.positions.set(partition, to + 1)
    this.ring.append({
      partition,
      offset: to,
      gapFrom: expected,
      timestamp: Date.now(),
      key: undefined,
      value: undefined,
      valueBytes: undefined,
      headers: {},
      status: STATUS_GAP,
      cursorPayload: cursorPayload(this.positions),
      appendedAt: Date.now(),
      bytes: 200
    })
    this.logger.warn({ partition, from: expected, to }, 'the tap fell behind retention: records were deleted before it read them; gap announced')
    for (const listener of this.listeners) listener.wake()
  }

  /** HOT PATH: once per fetched batch. Synchronous: the tap never waits for anyone. */
  private append (records: KafkaRecord[]): void {
    if (this.stopped) return
    const product = this.options.product()
    if (product === undefined) { this.retire(); return }
    const now = Date.now()
    const appended: RingEntry[] = []
    for (const record of records) {
      const next = this.positions.get(record.partition)
      if (next !== undefined && record.offset < next) continue
      // A partition the tap did not know (added while running): it has it all from here.
      if (next === undefined) this.ring.cover(record.partition, record.offset)
      const decoded = decodeRecord(product, record)
      let status: EntryStatus
      if (decoded.ok) status = STATUS_OK
      else {
        status = { ok: false, reason: decoded.reason, detail: decoded.detail }
        this.options.quarantine.add(product.name, record, { reason: decoded.reason, detail: decoded.detail })
        this.logger.warn({ partition: record.partition, offset: record.offset, reason: decoded.reason, detail: decoded.detail }, 'record withheld and quarantined')
      }
      this.positions.set(record.partition, record.offset + 1)
      appended.push(this.ring.append({
        partition: record.partition,
        offset: record.offset,
        timestamp: record.timestamp,
        key: decoded.ok ? decoded.key : undefined,
        value: decoded.ok ? decoded.value : undefined,
        valueBytes: decoded.ok && record.value !== null ? record.value : undefined,
        headers: record.headers,
        status,
        cursorPayload: cursorPayload(this.positions),
        appendedAt: now,
        bytes: recordBytes(record)
      }))
    }
    for (const listener of this.listeners) listener.wake()
    // Caught-up subscriptions have computed their views by now (wake runs them up to
    // their first wait); the parsed trees are let go so they die young. A subscription
    // that was not ready (waiting for its socket or its quota, or still replaying)
    // parses the bytes again, once per record and view.
    for (const entry of appended) if (entry.valueBytes !== undefined) entry.value = undefined
  }

  /**
   * The product was removed (or moved to another topic) by a policy reload. Its
   * streams end with product_removed; the records fetched from now on are not
   * appended, so this ring would have a hole where it claims to cover everything.
   * The tap stops for good, and a product that comes back gets a fresh tap.
   */
  private retire (): void {
    if (this.stopped) return
    this.logger.info('product removed or moved: tap retired')
    this.options.onRetired?.()
    void this.stop()
  }

  subscribe (listener: TapListener): void { this.listeners.add(listener) }
  unsubscribe (listener: TapListener): void { this.listeners.delete(listener) }
  get subscriberCount (): number { return this.listeners.size }

  async stop (): Promise<void> {
    this.stopped = true
    if (this.partitionWatch !== undefined) clearInterval(this.partitionWatch)
    await this.reopening
    await this.reader?.close()
    this.logger.info('tap stopped')
  }
}
