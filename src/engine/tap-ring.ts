/**
 * TapRing: the recent records of one product topic on this instance, decoded and
 * schema-checked once, in the order the tap read them (a global sequence across
 * partitions), bounded in records and bytes. Like undici's fixed-queue: a circular
 * buffer, O(1) append and evict, indexed by sequence number.
 *
 * One arrival order for the whole topic (rather than one ring per partition) is what
 * lets every caught-up subscriber of a share see the same cursor after each record,
 * so the bytes of an envelope are built once and written to all of them.
 */
import type { HeaderValue } from '../kafka/types.js'

export type EntryStatus =
  | { ok: true }
  | { ok: false, reason: 'not_json' | 'schema' | 'key_not_json' | 'gap', detail: string }

/** The status of every good record: one shared object, not one per ring entry. */
export const STATUS_OK: EntryStatus = Object.freeze({ ok: true })
/** The status of a gap entry (no record: `gapFrom` says which offsets are gone). */
export const STATUS_GAP: EntryStatus = Object.freeze({ ok: false, reason: 'gap', detail: 'deleted by retention before the tap read them' })

export interface RingEntry {
  readonly seq: number
  readonly partition: number
  readonly offset: number
  readonly timestamp: number
  /** Decoded key (JSON-parsed for json keys), undefined when status is not ok. */
  readonly key: unknown
  /**
   * The parsed value, only until the subscriptions woken by the append have computed
   * their views; then undefined (a tombstone stays null), and a later view parses
   * `valueBytes` again.
   *
   * Why: what the ring keeps is what every young-generation GC copies (twice) until
   * it is promoted, and those copies are the gateway's longest pauses at a steady
   * rate (bench/README.md, latency). A parsed 1 KB order is 2–4 KB of small objects;
   * its text is one 1 KB heap string; its bytes are a small Buffer object over
   * memory outside the JS heap, which no young GC copies.
   */
  value: unknown
  /**
   * The value's bytes as received (the JSON that passed the schema check), a view
   * into the fetch response; undefined for a tombstone or a withheld record.
   */
  readonly valueBytes: Buffer | undefined
  readonly headers: Record<string, HeaderValue>
  readonly status: EntryStatus
  /** Varint-encoded position vector right after this record (the unsigned cursor payload). */
  readonly cursorPayload: Buffer
  /** When the tap read it (ms): the start of the delivery latency. */
  readonly appendedAt: number
  /**
   * Set on the entry that stands for offsets lost to retention before the tap read
   * them: `from`..`offset` of the partition are gone (see ProductTap.checkGap).
   */
  readonly gapFrom?: number
  /** Bytes charged to the ring: the raw record plus every view cached on it. */
  bytes: number
  /**
   * Views of this record, per (share, policy version), built on first use: the first
   * in `view` under `viewKey` (most records only ever have one), any others in `views`.
   */
  viewKey: string | undefined
  view: unknown
  views: Map<string, unknown> | undefined
}

export interface RingBounds {
  maxRecords: number
  maxBytes: number
}

export class TapRing {
  private buffer: Array<RingEntry | undefined>
  private head = 0
  private size = 0
  private nextSeq = 0
  private bytes = 0
  /** Per partition: the next offset after the newest evicted record (the ring covers from here). */
  private readonly coveredFrom = new Map<number, number>()

  constructor (private readonly bounds: RingBounds) {
    this.buffer = new Array(Math.min(bounds.maxRecords, 1024))
  }

  get firstSeq (): number { return this.nextSeq - this.size }
  /** The sequence number the next appended entry will get (one past the newest). */
  get endSeq (): number { return this.nextSeq }

  /** The ring holds every record of `partition` from this offset on (see `cover`). */
  coversFrom (partition: number): number | undefined { return this.coveredFrom.get(partition) }

  /** Declares where the ring's coverage of a partition starts (the tap's start offset). */
  cover (partition: number, from: number): void {
    if (!this.coveredFrom.has(partition)) this.coveredFrom.set(partition, from)
  }

  at (seq: number): RingEntry | undefined {
    if (seq < this.firstSeq || seq >= this.nextSeq) return undefined
    return this.buffer[(this.head + (seq - this.firstSeq)) % this.buffer.length]
  }

  append (entry: Omit<RingEntry, 'seq' | 'viewKey' | 'view' | 'views'>): RingEntry {
    const full: RingEntry = { ...entry, seq: this.nextSeq, viewKey: undefined, view: undefined, views: undefined }
    if (this.size === this.buffer.length) this.grow()
    if (this.size === this.buffer.length) this.evictOldest()
    this.buffer[(this.head + this.size) % this.buffer.length] = full
    this.size++
    this.nextSeq++
    this.bytes += full.bytes
    this.evict()
    return full
  }

  /** Adds bytes to an entry's charge (a view cached on it) and evicts if over bounds. */
  charge (entry: RingEntry, bytes: number): void {
    entry.bytes += bytes
    if (entry.seq >= this.firstSeq) {
      this.bytes += bytes
      this.evict()
    }
  }

  private grow (): void {
    const capacity = Math.min(this.bounds.maxRecords, this.buffer.length * 2)
    if (capacity <= this.buffer.length) return
    const next = new Array<RingEntry | undefined>(capacity)
    for (let i = 0; i < this.size; i++) next[i] = this.buffer[(this.head + i) % this.buffer.length]
    this.buffer = next
    this.head = 0
  }

  private evict (): void {
    // Keep the newest record even if it alone exceeds the byte bound.
    while (this.size > 1 && (this.size > this.bounds.maxRecords || this.bytes > this.bounds.maxBytes)) this.evictOldest()
  }

  private evictOldest (): void {
    const old = this.buffer[this.head] as RingEntry
    this.buffer[this.head] = undefined
    this.head = (this.head + 1) % this.buffer.length
    this.size--
    this.bytes -= old.bytes
    old.view = undefined
    old.views = undefined
    this.coveredFrom.set(old.partition, old.offset + 1)
  }
}
