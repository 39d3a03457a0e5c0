/**
 * Subscription: one client's position in one product, for one share (DESIGN §1:
 * "subscribers are cursors, not queues").
 *
 * - Tap mode: the subscription walks the tap's ring in arrival order. The view of a
 *   record is computed once per (record, share binding) and cached on the ring
 *   entry; once the subscription is "aligned" (its position vector equals the tap's
 *   after each record) its cursor is the tap's too, so the framed bytes are cached
 *   per wire format and every aligned subscription of that share writes the same
 *   bytes. HOT PATH per subscriber: a lookup and a write.
 * - Replay mode: a subscription that starts (or falls) before what the ring holds
 *   reads with a private replay reader from its own offsets, and hands over to the
 *   ring as soon as the ring covers its position on every partition: from then on it
 *   skips what it already has, so there is no gap and no duplicate at the seam.
 *
 * The tap never waits for a subscription. A subscription whose client's buffer is
 * full stops writing until it drains; one that does not drain within the stall
 * timeout, or falls behind the ring when no replay reader is free, is cut (slow
 * consumer) and the client resumes by cursor. Memory stays bounded by the ring.
 */
import { randomUUID } from 'node:crypto'
import { GatewayError } from '../errors.js'
import type { KafkaCluster } from '../kafka/cluster.js'
import type { TopicReader } from '../kafka/reader.js'
import type { HeaderValue, KafkaRecord, PartitionOffsets } from '../kafka/types.js'
import type { Product } from '../catalog/types.js'
import type { Logger } from '../observability/logger.js'
import type { AuditLog } from '../observability/audit.js'
import { advancePosition, cursorPayload, type CursorCodec } from './cursor.js'
import { ACCESS_END_REASONS, flat, jsonPrefix, type GapMessage, type StreamEndReason, type StreamMessage } from './messages.js'
import { NO_HEADERS, decodeRecord, recordHeaders } from './record-decoder.js'
import { viewRecord } from './record-view.js'
import { VIEW_CHUNK_RECORDS, type BatchViews, type ViewWorkerPool } from './view-workers.js'
import { VIEW_FILTERED, VIEW_FILTER_ERROR, VIEW_RECORD, VIEW_SKIPPED_KEY_NOT_JSON, VIEW_SKIPPED_NOT_JSON, envelopeCursor, resultText, type ViewJobResult } from './view-worker-protocol.js'
import type { ActiveView, ShareViewResolver } from './share-view.js'
import type { OpenStream, StreamRegistry } from './stream-registry.js'
import type { RingEntry } from './tap-ring.js'
import type { ProductTap } from './product-tap.js'
import type { TapManager } from './tap-manager.js'
import type { QuarantineWriter } from './quarantine.js'
import type { UsageTracker } from './usage.js'
import type { LowWatermarks } from './low-watermarks.js'
import type { DeliveryShaper, ShareShaper } from '../quota/shaper.js'
import type { Lease } from '../quota/connection-limiter.js'
import type { DeliveryTally, HistogramSeries, Metrics } from '../observability/metrics.js'

/** One framed message, ready to write: text for HTTP, bytes for WebSocket. */
export type Frame = string | Buffer

/** How a transport frames one message (SSE event, NDJSON line, batch element, WS text frame…). */
export interface StreamFormat {
  /** Frames with the same name are interchangeable: they are cached and shared under it. */
  readonly name: string
  frame: (message: Pick<StreamMessage, 'type'>, json: string, id: string | undefined) => Frame
}

/** Where a subscription writes: an HTTP response, a batch being collected, a WebSocket. */
export interface StreamSink {
  readonly format: StreamFormat
  readonly closed: boolean
  /** False while the client's buffer is above its high-water mark. */
  readonly writable: boolean
  write: (frame: Frame) => boolean
  waitWritable: () => Promise<void>
  /** Ends this stream; `reason` lets a sink pick how (e.g. a WebSocket close code). */
  end: (lastFrame?: Frame, reason?: StreamEndReason) => void
  destroy: () => void
  /** Nothing more is available right now (long-poll batches return here). */
  idle?: () => void
}

export interface SubscriptionIdentity {
  shareId: string
  partnerId: string
  jti: string
  tokenExpiresAt: number
}

/**
 * A throttled subscription runs into debt until it owes this much time, then waits it
 * off in one sleep: waking every millisecond to send one frame cost ~70 µs of CPU per
 * message. The buckets keep the long-run rate exact; bursts stay within 10 ms.
 */
const MIN_SHAPING_WAIT_MS = 10

export interface SubscriptionDeps {
  kafka: KafkaCluster
  taps: TapManager
  cursors: CursorCodec
  streams: StreamRegistry
  usage: UsageTracker
  audit: AuditLog
  quarantine: QuarantineWriter
  lowWatermarks: LowWatermarks
  logger: Logger
  /** A client whose buffer stays full this long is cut (slow consumer). */
  stallTimeoutMs: number
  /** The share's delivery shaping (messages/bytes per second). */
  shaper: DeliveryShaper
  metrics: Metrics
  /** Threads that compute replay views; undefined: all on the main thread. */
  viewWorkers: ViewWorkerPool | undefined
}

export interface SubscriptionOptions {
  product: Product
  identity: SubscriptionIdentity
  views: ShareViewResolver
  transport: string
  /** How the client asked to start (for the audit): latest, earliest, a time, or "cursor". */
  from: string
  start: PartitionOffsets
  /** Announced before anything else (positions the client asked for that no longer exist). */
  startGaps: GapMessage[]
  /** Stream sessions are audited; one-shot batch polls are not. */
  audited: boolean
  countsAsConnection: boolean
  /** The share's connection slot (max_connections), given back when the stream ends. */
  lease?: Lease
}

/**
 * A record's view for one share binding, cached on the ring entry with the frames
 * built from it for aligned subscriptions: the first format's in `frame` (most views
 * are read in one format), others in `frames`.
 */
type CachedView =
  | { deliver: false, reason: 'filtered' | 'filter_error' }
  | {
    deliver: true
    type: 'record' | 'skipped'
    prefix: string
    alignedCursor: string | undefined
    frameFormat: string | undefined
    frame: Frame | undefined
    frames: Map<string, Frame> | undefined
  }

const FILTERED = Object.freeze({ deliver: false, reason: 'filtered' } as const)
const FILTER_ERROR = Object.freeze({ deliver: false, reason: 'filter_error' } as const)

/** The view of a record that failed the schema check: a `skipped` message. */
function skippedView (partition: number, offset: number): CachedView {
  return { deliver: true, type: 'skipped', prefix: jsonPrefix({ type: 'skipped', partition, offset, reason: 'schema' }), alignedCursor: undefined, frameFormat: undefined, frame: undefined, frames: undefined }
}

/** Replay batches at least this large go to a view worker; smaller ones are not worth the hop. */
const MIN_WORKER_BATCH = 16
/**
 * Replay batches (and reader positions) read ahead of delivery: the reader fetches and
 * a worker computes the next while this one is written. Each batch is at most one
 * fetch of one partition (FETCH_BYTES_PER_PARTITION), so this bounds the memory.
 */
const MAX_QUEUED_REPLAY_ITEMS = 4

/** A replay batch to deliver, or a reader position to take once the batches before it are delivered. */
type ReplayItem = { records: KafkaRecord[], computed: BatchViews | undefined } | { partition: number, next: number }

export class Subscription implements OpenStream {
  readonly id = randomUUID()
  /** SSE/NDJSON streams count against max_connections; WS subscriptions and batches do not. */
  readonly countsAsConnection: boolean
  readonly shareId: string
  readonly partnerId: string
  readonly jti: string
  readonly tokenExpiresAt: number
  readonly product: string
  /** The product name as a JSON string, for envelopes. */
  private readonly productJson: string
  readonly transport: string
  private readonly positions: PartitionOffsets
  private readonly firstLast = new Map<number, { first: number, last: number }>()
  private mode: 'idle' | 'tap' | 'replay' = 'idle'
  private tap: ProductTap | undefined
  private seq = 0
  private aligned = false
  private replay: TopicReader | undefined
  private readonly replayQueue: ReplayItem[] = []
  /**
   * The positions once everything queued is delivered, i.e. where the stream will
   * stand when the next batch starts: a view worker signs that batch's cursors from
   * it (checked against `positions` before they are used).
   */
  private readPositions: PartitionOffsets = new Map()
  private replayDraining = false
  private replayQueueWaiters: Array<() => void> = []
  private holdsReplaySlot = false
  private pumping = false
  private readonly shaper: ShareShaper
  /** Time owed to the share's rate quota after the last write (shaping, not dropping). */
  private shapingDelayMs = 0
  // Metric children, looked up once: the hot path only increments.
  private readonly tally: DeliveryTally
  private readonly latency: HistogramSeries
  private stopped = false
  private readonly logger: Logger
  private readonly openedAt = Date.now()
  private sink!: StreamSink
  private policyName = ''
  private policyVersion = ''
  delivered = 0
  private deliveredBytes = 0
  private skipped = 0
  private filtered = 0
  private filterErrors = 0
  private progressWaiters: Array<() => void> = []

  constructor (private readonly deps: SubscriptionDeps, private readonly options: SubscriptionOptions) {
    const { identity } = options
    this.shareId = identity.shareId
    this.partnerId = identity.partnerId
    this.jti = identity.jti
    this.tokenExpiresAt = identity.tokenExpiresAt
    this.product = options.product.name
    this.productJson = JSON.stringify(this.product)
    this.transport = options.transport
    this.countsAsConnection = options.countsAsConnection
    this.positions = new Map(options.start)
    this.shaper = deps.shaper.of(identity.shareId)
    const labels = { share: identity.shareId, product: options.product.name, transport: options.transport }
    this.tally = deps.metrics.deliveryTally(labels)
    this.latency = deps.metrics.latency(options.transport)
    this.logger = deps.logger.child({ stream: this.id, share: identity.shareId, product: this.product, transport: options.transport })
  }

  /**
   * Joins the product's tap and reserves a replay reader if the start lies before the
   * ring. Throws quota_exceeded (429) when no replay reader is available — before the
   * response starts, so the client gets a clear status.
   */
  async attach (): Promise<void> {
    const active = this.options.views.current()
    if (active === undefined) throw new GatewayError('unavailable', 'the policy of this share is not loaded', { retryAfter: 30 })
    this.policyName = active.policy.name
    this.policyVersion = active.policy.version
    try {
      this.tap = await this.deps.taps.acquire(this.product, this)
    } catch (err) {
      throw new GatewayError('unavailable', 'the product topic is not readable right now', { retryAfter: 5, cause: err })
    }
    if (!this.ringCovers()) {
      if (!this.deps.taps.tryAcquireReplay(this.shareId)) {
        this.deps.taps.release(this.tap, this)
        throw new GatewayError('quota_exceeded', 'too many streams of this share are replaying history right now; retry shortly', { retryAfter: 5 })
      }
      this.holdsReplaySlot = true
    }
  }

  /** Registers the stream (access is re-checked from here on) and starts delivery into `sink`. */
  async start (sink: StreamSink): Promise<void> {
    this.sink = sink
    if (this.stopped) { sink.end(); return } // the client left before we started
    // The client may have gone while the subscription was opening: its close event
    // has fired already and no one else will stop this subscription.
    if (sink.closed) { await this.stop('client_closed'); return }
    this.deps.streams.add(this)
    if (this.stopped) return
    this.logger.info({ partitions: this.positions.size, from: this.options.from, replay: this.holdsReplaySlot }, 'stream opened')
    if (this.options.audited) this.deps.audit.record({ ...this.auditBase(), action: 'open', from: this.options.from })
    for (const gap of this.options.startGaps) this.emit(gap, this.cursor())
    if (this.holdsReplaySlot) await this.openReplay()
    else this.enterTap()
  }

  private auditBase (): { kind: 'stream', share: string, partner: string, product: string, transport: string, jti: string, policy: string, policy_version: string, stream: string } {
    return { kind: 'stream', share: this.shareId, partner: this.partnerId, product: this.product, transport: this.transport, jti: this.jti, policy: this.policyName, policy_version: this.policyVersion, stream: this.id }
  }

  /** The cursor resuming right after what this subscription has delivered. */
  cursor (): string {
    return this.deps.cursors.encode(this.shareId, this.product, this.positions)
  }

  // ---- tap mode -------------------------------------------------------------

  /** True when the ring holds everything this subscription still needs, on every partition. */
  private ringCovers (): boolean {
    const tap = this.tap
    if (tap === undefined) return false
    for (const [partition, next] of this.positions) {
      const from = tap.ring.coversFrom(partition)
      if (from === undefined || next < from) return false
    }
    for (const partition of tap.positions.keys()) {
      if (!this.positions.has(partition)) {
        // A partition the client's start does not name (added later): it wants all of it.
        const from = tap.ring.coversFrom(partition)
        if (from === undefined || from > 0) return false
      }
    }
    return true
  }

  private enterTap (): void {
    const tap = this.tap as ProductTap
    this.mode = 'tap'
    if (cursorPayload(this.positions).equals(cursorPayload(tap.positions))) {
      // Already where the tap is (from latest, or resuming from the newest cursor):
      // every entry in the ring is behind it, so it starts after the newest one, and it
      // is aligned by definition. Walking the ring to skip them cost ~1 µs per entry and
      // subscriber: a thousand clients connecting at once to a 6,000-entry ring held the
      // event loop for 4.5 s (no I/O, timers or health probes meanwhile).
      this.seq = tap.ring.endSeq
      this.aligned = true
    } else {
      this.seq = tap.ring.firstSeq
      this.aligned = false
    }
    this.wake()
  }

  /** Called by the tap after it appended records (and by the sink when drained). */
  wake (): void {
    if (this.stopped || this.mode !== 'tap') return
    if (!this.pumping) void this.pump()
  }

  private currentView (): ActiveView | undefined {
    const active = this.options.views.current()
    if (active !== undefined && active.policy.version !== this.policyVersion) {
      this.logger.info({ policy: active.policy.name, version: active.policy.version, previous: this.policyVersion }, 'policy version changed')
      this.policyName = active.policy.name
      this.policyVersion = active.policy.version
    }
    return active
  }

  private async pump (): Promise<void> {
    this.pumping = true
    try {
      let active = this.currentView()
      while (!this.stopped && this.mode === 'tap') {
        const sink = this.sink
        if (sink.closed) { void this.stop('client_closed'); return }
        if (active === undefined) { void this.stop('product_removed'); return }
        if (!sink.writable) {
          if (!await this.awaitDrain()) return
          active = this.currentView()
          continue
        }
        const ring = (this.tap as ProductTap).ring
        if (this.seq < ring.firstSeq) {
          await this.fellBehind()
          return
        }
        const entry = ring.at(this.seq)
        if (entry === undefined) {
          sink.idle?.()
          return
        }
        this.seq++
        this.deliverEntry(entry, active)
        if (this.shapingDelayMs >= MIN_SHAPING_WAIT_MS) {
          await this.waitForQuota()
          active = this.currentView()
        }
      }
    } finally {
      this.pumping = false
    }
  }

  /**
   * Waits until the client's buffer drains. A client that reads nothing for the stall
   * timeout is cut (slow consumer): it holds a connection (and maybe a replay reader)
   * and will resume by cursor. A slow client that keeps reading drains now and then
   * and is never cut. Returns false when the subscription ended meanwhile.
   */
  private async awaitDrain (): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined
    const stalled = await Promise.race([
      this.sink.waitWritable().then(() => false),
      new Promise<boolean>(resolve => { timer = setTimeout(() => { resolve(true) }, this.deps.stallTimeoutMs) })
    ])
    if (timer !== undefined) clearTimeout(timer)
    if (stalled && !this.sink.writable && !this.stopped) await this.stop('slow_consumer')
    // Go on in the next turn of the event loop, not in the drain's own chain of ticks
    // and microtasks: a socket that takes every write at once drains at once, and a
    // thousand subscriptions catching up could then hold the loop (no I/O, no timers,
    // no health probe) until all of them reached the ring's end — 8.7 s in one
    // fan-out run.
    if (!stalled) await new Promise(resolve => setImmediate(resolve))
    return !this.stopped && !this.sink.closed
  }

  /** The client kept reading but slower than the topic: replay if possible, else cut it. */
  private async fellBehind (): Promise<void> {
    if (!this.deps.taps.tryAcquireReplay(this.shareId)) {
      await this.stop('slow_consumer')
      return
    }
    this.holdsReplaySlot = true
    await this.openReplay()
  }

  // HOT PATH: once per ring entry per subscription.
  private deliverEntry (entry: RingEntry, active: ActiveView): void {
    const next = this.positions.get(entry.partition)
    if (entry.gapFrom !== undefined) { this.deliverGapEntry(entry, next); return }
    if (next !== undefined && entry.offset < next) {
      this.checkAligned(entry)
      return
    }
    this.positions.set(entry.partition, entry.offset + 1)
    this.checkAligned(entry)
    const view = this.viewOf(entry, active)
    if (!view.deliver) {
      this.countFiltered(view.reason)
      return
    }
    if (view.type === 'skipped') this.countSkipped()
    else {
      this.delivered++
      this.track(entry.partition, entry.offset)
    }
    const format = this.sink.format
    let frame: Frame
    if (this.aligned) {
      // Same share binding, same cursor: the bytes every aligned subscription writes.
      const cached = view.frameFormat === format.name ? view.frame : view.frames?.get(format.name)
      if (cached !== undefined) frame = cached
      else {
        view.alignedCursor ??= this.deps.cursors.seal(this.shareId, this.product, entry.cursorPayload)
        // Kept on the ring entry: flat (see flat()), as a string or a Buffer.
        const built = format.frame(view, view.prefix + view.alignedCursor + '"}', view.alignedCursor)
        frame = typeof built === 'string' ? flat(built) : built
        if (view.frameFormat === undefined) {
          view.frameFormat = format.name
          view.frame = frame
        } else (view.frames ??= new Map()).set(format.name, frame)
        ;(this.tap as ProductTap).ring.charge(entry, frame.length * 2)
      }
    } else {
      const cursor = this.cursor()
      frame = format.frame(view, view.prefix + cursor + '"}', cursor)
    }
    this.write(frame)
    this.latency.observe((Date.now() - entry.appendedAt) / 1000)
  }

  /** Aligned once its positions equal the tap's right after an entry (then it stays so). */
  private checkAligned (entry: RingEntry): void {
    if (!this.aligned) this.aligned = cursorPayload(this.positions).equals(entry.cursorPayload)
  }

  /** Offsets the tap lost to retention: announced to a subscription that had not passed them. */
  private deliverGapEntry (entry: RingEntry, next: number | undefined): void {
    if (next === undefined || next <= entry.offset) this.sendGap(entry.partition, Math.max(next ?? 0, entry.gapFrom ?? 0), entry.offset)
    this.checkAligned(entry)
  }

  private countFiltered (reason: 'filtered' | 'filter_error'): void {
    if (reason === 'filtered') {
      this.filtered++
      this.tally.filtered++
    } else {
      this.filterErrors++
      this.tally.filterErrors++
    }
  }

  private countSkipped (): void {
    this.skipped++
    this.tally.skipped++
  }

  /** A record's view for this subscription's share binding: computed once, cached on the entry. */
  private viewOf (entry: RingEntry, active: ActiveView): Exclude<CachedView, undefined> {
    let view = (entry.viewKey === active.key ? entry.view : entry.views?.get(active.key)) as CachedView | undefined
    if (view !== undefined) return view
    // The tap let the parsed value go once its first readers had their views: parse the
    // bytes again (they passed the schema check when the tap read them).
    const value = entry.value === undefined && entry.valueBytes !== undefined ? JSON.parse(entry.valueBytes.toString('utf8')) as unknown : entry.value
    view = this.computeView(entry.partition, entry.offset, entry.timestamp, entry.status.ok ? { key: entry.key, value, headers: entry.headers } : undefined, active)
    if (view.deliver) {
      // Kept for the ring's lifetime: one flat string, not a rope of its pieces (see flat()).
      view.prefix = flat(view.prefix)
      ;(this.tap as ProductTap).ring.charge(entry, view.prefix.length * 2 + 64)
    }
    if (entry.viewKey === undefined) {
      entry.viewKey = active.key
      entry.view = view
    } else (entry.views ??= new Map()).set(active.key, view)
    return view
  }

  /** `record` undefined: it failed the schema check (a `skipped` message). */
  private computeView (partition: number, offset: number, timestamp: number, record: { key: unknown, value: unknown, headers: Record<string, HeaderValue> } | undefined, active: ActiveView): CachedView {
    if (record === undefined) return skippedView(partition, offset)
    const view = viewRecord(this.productJson, { partition, offset, timestamp, key: record.key, value: record.value, headers: active.policy.compiled.readsHeaders ? recordHeaders(record.headers) : NO_HEADERS }, active.view, active.policy.version)
    if (!view.delivered) return view.reason === 'filtered' ? FILTERED : FILTER_ERROR
    return { deliver: true, type: 'record', prefix: view.prefix, alignedCursor: undefined, frameFormat: undefined, frame: undefined, frames: undefined }
  }

  private track (partition: number, offset: number): void {
    const seen = this.firstLast.get(partition)
    if (seen === undefined) this.firstLast.set(partition, { first: offset, last: offset })
    else seen.last = offset
  }

  private write (frame: Frame): boolean {
    this.deliveredBytes += frame.length
    this.deps.usage.delivered(this.shareId, 1, frame.length)
    this.tally.messages++
    this.tally.bytes += frame.length
    // Pay after sending: the debt is waited off before the next message.
    const delay = this.shaper.delay(frame.length)
    if (delay > this.shapingDelayMs) this.shapingDelayMs = delay
    return this.sink.write(frame)
  }

  /** Waits off the share's rate quota (the subscription slows down; nothing is dropped). */
  private async waitForQuota (): Promise<void> {
    const ms = this.shapingDelayMs
    this.shapingDelayMs = 0
    if (ms > 0 && !this.stopped) {
      this.deps.metrics.throttledSeconds.inc({ share: this.shareId }, ms / 1000)
      await new Promise(resolve => setTimeout(resolve, ms))
    }
  }

  private emit (message: StreamMessage, cursor?: string): void {
    const json = JSON.stringify(cursor === undefined ? message : { ...message, cursor })
    this.write(this.sink.format.frame(message, json, cursor))
  }

  // ---- replay mode ------------------------------------------------------------

  private async openReplay (): Promise<void> {
    this.mode = 'replay'
    this.readPositions = new Map(this.positions)
    try {
      this.replay = await this.deps.kafka.openReader({
        topic: this.options.product.topic,
        start: new Map(this.positions),
        label: `replay.${this.product}`,
        onRecords: async (records) => { await this.queueReplay(records) },
        // Past transaction markers and aborted records: nothing to deliver, but the
        // position (and the cursor) moves on, and the hand-over to the tap may be due.
        onPosition: (partition, next) => {
          advancePosition(this.readPositions, partition, next)
          this.queueReplayItem({ partition, next })
        },
        onFailure: (err) => {
          this.logger.error({ err }, 'replay reader failed')
          void this.stop('kafka_failure')
        }
      })
      if (this.stopped) await this.closeReplay()
      else this.logger.debug('replaying from the log')
    } catch (err) {
      this.logger.error({ err }, 'cannot open a replay reader')
      await this.stop('kafka_failure')
    }
  }

  /**
   * Takes one batch from the replay reader. Its views start being computed at once (on
   * a view worker, when there is one) and it is delivered in order after the batches
   * before it; the reader fetches the next batch meanwhile, at most a few ahead.
   */
  private async queueReplay (records: KafkaRecord[]): Promise<void> {
    if (this.stopped || this.mode !== 'replay') return
    const active = this.currentView()
    const workers = this.deps.viewWorkers
    const computed = workers !== undefined && active !== undefined && records.length >= MIN_WORKER_BATCH ? workers.submit(active.worker, records, this.readPositions) : undefined
    // Only threads sign from it: without them this per-record work is skipped.
    if (workers !== undefined) for (const record of records) advancePosition(this.readPositions, record.partition, record.offset + 1)
    this.queueReplayItem({ records, computed })
    while (this.replayQueue.length > MAX_QUEUED_REPLAY_ITEMS && !this.stopped && this.mode === 'replay') {
      await new Promise<void>(resolve => { this.replayQueueWaiters.push(resolve) })
    }
  }

  private queueReplayItem (item: ReplayItem): void {
    if (this.stopped || this.mode !== 'replay') return
    this.replayQueue.push(item)
    if (!this.replayDraining) void this.drainReplay()
  }

  /** Delivers queued replay batches and positions, one at a time, in reader order. */
  private async drainReplay (): Promise<void> {
    this.replayDraining = true
    try {
      while (this.replayQueue.length > 0 && !this.stopped && this.mode === 'replay') {
        const item = this.replayQueue[0] as ReplayItem
        if ('records' in item) await this.deliverReplay(item.records, item.computed)
        else this.replayPosition(item.partition, item.next)
        this.replayQueue.shift()
        this.releaseReplayQueueWaiters()
      }
    } catch (err) {
      this.logger.error({ err }, 'replay delivery failed')
      await this.stop('error')
    } finally {
      this.replayDraining = false
      if (this.stopped || this.mode !== 'replay') this.clearReplayQueue()
    }
  }

  private clearReplayQueue (): void {
    this.replayQueue.length = 0
    this.releaseReplayQueueWaiters()
  }

  private releaseReplayQueueWaiters (): void {
    for (const w of this.replayQueueWaiters.splice(0)) w()
  }

  private async deliverReplay (records: KafkaRecord[], computed: BatchViews | undefined): Promise<void> {
    const sink = this.sink
    // A thread that signed cursors signed them from where the stream would stand before
    // this batch: they are right only if it stands there now (a record's cursor then
    // differs in the record's own partition only, which is the record's offset + 1).
    // Otherwise its envelopes, cursor included, are of no use: computed here instead.
    const signed = computed?.signedFrom !== undefined
    const usable = computed !== undefined && (!signed || computed.signedFrom?.equals(cursorPayload(this.positions)) === true)
    for (let i = 0; i < records.length; i++) {
      // Views a worker computed: chunk by chunk, the next one computed while this one
      // is written. Records whose binding changed since (a policy reload mid-batch),
      // and chunks a worker failed, are computed here.
      const chunk = usable ? computed.chunks[(i / VIEW_CHUNK_RECORDS) | 0] : undefined
      if (chunk !== undefined && chunk.result === undefined) await chunk.done
      const record = records[i] as KafkaRecord
      if (sink.closed) { void this.stop('client_closed'); return }
      if (this.stopped || this.mode !== 'replay') return
      const active = this.currentView()
      if (active === undefined) { void this.stop('product_removed'); return }
      const next = this.positions.get(record.partition)
      if (next !== undefined && record.offset < next) continue
      if (next !== undefined && record.offset > next && !await this.announceGap(record.partition, next, record.offset)) return
      this.positions.set(record.partition, record.offset + 1)
      const result = chunk?.result
      const computedHere = result == null || computed?.bindingKey !== active.worker.key
      const view = computedHere ? this.replayView(record, active) : this.computedView(record, result, i % VIEW_CHUNK_RECORDS)
      if (!view.deliver) {
        this.countFiltered(view.reason)
        continue
      }
      if (view.type === 'skipped') this.countSkipped()
      else { this.delivered++; this.track(record.partition, record.offset) }
      let frame: Frame
      // A thread's record envelope is whole when it signed the cursor.
      if (!computedHere && signed && view.type === 'record') frame = sink.format.frame(view, view.prefix, envelopeCursor(view.prefix))
      else {
        const cursor = this.cursor()
        frame = sink.format.frame(view, view.prefix + cursor + '"}', cursor)
      }
      // A private reader may wait for its client: it holds up no one else.
      if (!this.write(frame) && !await this.awaitDrain()) return
      if (this.shapingDelayMs >= MIN_SHAPING_WAIT_MS) await this.waitForQuota()
    }
    if (this.mode === 'replay' && !this.stopped && this.ringCovers()) this.handOver()
  }

  /** A replayed record's view, computed here. */
  private replayView (record: KafkaRecord, active: ActiveView): CachedView {
    const decoded = decodeRecord(this.options.product, record)
    if (!decoded.ok) this.quarantine(record, decoded.reason, decoded.detail)
    return this.computeView(record.partition, record.offset, record.timestamp, decoded.ok ? { key: decoded.key, value: decoded.value, headers: record.headers } : undefined, active)
  }

  /** A replayed record's view as a view worker computed it (record `i` of its chunk). */
  private computedView (record: KafkaRecord, result: ViewJobResult, i: number): CachedView {
    const kind = result.kinds[i]
    switch (kind) {
      case VIEW_RECORD: return { deliver: true, type: 'record', prefix: resultText(result, i), alignedCursor: undefined, frameFormat: undefined, frame: undefined, frames: undefined }
      case VIEW_FILTERED: return FILTERED
      case VIEW_FILTER_ERROR: return FILTER_ERROR
      default:
        this.quarantine(record, kind === VIEW_SKIPPED_NOT_JSON ? 'not_json' : kind === VIEW_SKIPPED_KEY_NOT_JSON ? 'key_not_json' : 'schema', resultText(result, i))
        return skippedView(record.partition, record.offset)
    }
  }

  private quarantine (record: KafkaRecord, reason: 'not_json' | 'schema' | 'key_not_json', detail: string): void {
    this.deps.quarantine.add(this.product, record, { reason, detail })
  }

  /** True while the subscription reads history with a private reader. */
  get replaying (): boolean { return this.mode === 'replay' && !this.stopped }

  /** Resolves when the replay reader has finished its next batch (or the replay ended). */
  async replayProgress (): Promise<void> {
    if (!this.replaying) return
    await new Promise<void>(resolve => { this.progressWaiters.push(resolve) })
  }

  private releaseProgressWaiters (): void {
    for (const w of this.progressWaiters.splice(0)) w()
  }

  private replayPosition (partition: number, next: number): void {
    this.releaseProgressWaiters()
    // Only after a batch was fully delivered: a delivery cut short (client gone,
    // subscription stopped) must not move the cursor past what the client has.
    if (this.stopped || this.mode !== 'replay' || this.sink.closed) return
    if (next > (this.positions.get(partition) ?? 0)) this.positions.set(partition, next)
    if (this.ringCovers()) this.handOver()
  }

  /**
   * kafkajs silently resets an out-of-range offset (kafkajs#1119): a jump in offsets is
   * a gap when the skipped range lies below the log start (retention deleted it);
   * above it, offsets are simply compacted away and nothing is announced. When the log
   * start cannot be read the stream ends (kafka_failure) rather than jump unchecked:
   * its last cursor is from before the jump. Returns false then.
   */
  private async announceGap (partition: number, expected: number, got: number): Promise<boolean> {
    let to: number | undefined
    try {
      to = await this.deps.lowWatermarks.deletedUpTo(this.options.product.topic, partition, expected, got)
    } catch (err) {
      this.logger.warn({ err, partition, expected, got }, 'offsets jumped and the log start cannot be read; ending the stream')
      await this.stop('kafka_failure')
      return false
    }
    if (this.stopped) return false
    if (to !== undefined) this.sendGap(partition, expected, to)
    return true
  }

  /** Tells the client offsets `from`..`to` of a partition are gone, and moves past them. */
  private sendGap (partition: number, from: number, to: number): void {
    this.positions.set(partition, to + 1)
    this.emit({ type: 'gap', partition, from_offset: from, to_offset: to, reason: 'retention' }, this.cursor())
    this.logger.info({ partition, from, to }, 'gap announced')
  }

  /** Replay → tap: from here the ring has everything; what the replay already sent is skipped. */
  private handOver (): void {
    this.logger.debug('replay caught up; handing over to the tap')
    void this.closeReplay()
    this.enterTap()
  }

  private async closeReplay (): Promise<void> {
    this.releaseProgressWaiters()
    this.clearReplayQueue()
    const reader = this.replay
    this.replay = undefined
    if (this.holdsReplaySlot) {
      this.holdsReplaySlot = false
      this.deps.taps.releaseReplay(this.shareId)
    }
    // Not from inside the reader's own batch handler: kafkajs would wait for itself.
    if (reader !== undefined) setImmediate(() => { void reader.close() })
  }

  // ---- OpenStream -------------------------------------------------------------

  lag (): number | undefined {
    const tap = this.tap
    if (tap === undefined) return undefined
    let lag = 0
    for (const [partition, at] of tap.positions) lag += Math.max(0, at - (this.positions.get(partition) ?? at))
    return lag
  }

  notify (message: StreamMessage): void {
    if (!this.stopped) this.emit(message)
  }

  /** Ends the subscription. Access reasons send `revoked` last. */
  async stop (reason: StreamEndReason): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.options.lease?.release()
    this.deps.streams.delete(this.id)
    if (this.tap !== undefined) this.deps.taps.release(this.tap, this)
    await this.closeReplay()
    const sink = this.sink as StreamSink | undefined
    if (sink === undefined) return // attached but never started
    if (reason === 'slow_consumer') sink.destroy()
    else if (ACCESS_END_REASONS.has(reason)) {
      const revoked: StreamMessage = { type: 'revoked', reason }
      sink.end(sink.format.frame(revoked, JSON.stringify(revoked), undefined), reason)
    } else sink.end(undefined, reason)
    this.deps.metrics.streamsClosed.inc({ share: this.shareId, transport: this.transport, reason })
    const duration = Date.now() - this.openedAt
    this.logger.info({ reason, delivered: this.delivered, skipped: this.skipped, filtered: this.filtered, filter_errors: this.filterErrors, duration_ms: duration }, 'stream closed')
    if (this.options.audited) {
      this.deps.audit.record({
        ...this.auditBase(),
        action: 'close',
        reason,
        delivered: this.delivered,
        delivered_bytes: this.deliveredBytes,
        skipped: this.skipped,
        filtered: this.filtered + this.filterErrors,
        offsets: Object.fromEntries([...this.firstLast].map(([p, o]) => [String(p), o])),
        duration_ms: duration
      })
    }
  }
}
