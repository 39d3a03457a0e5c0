/**
 * ShareRegistry: partners, shares and token records, stored in the compacted topic
 * `_streamshare.registry` (like Schema Registry's `_schemas`). Every instance tails
 * the topic from the beginning into memory and reports ready once it has read to the
 * end; admin writes return only after this instance has read them back
 * (read-your-writes). Revocation reaches every instance at Kafka latency.
 */
import { EventEmitter } from 'node:events'
import type { KafkaCluster } from '../kafka/cluster.js'
import type { TopicReader } from '../kafka/reader.js'
import type { KafkaRecord } from '../kafka/types.js'
import type { Logger } from '../observability/logger.js'
import { GatewayError } from '../errors.js'
import type { Partner, RegistryChange, RegistryEntry, RegistryKind, Share, TokenRecord } from './types.js'

export const REGISTRY_TOPIC = '_streamshare.registry'

export const REGISTRY_TOPIC_SPEC = {
  topic: REGISTRY_TOPIC,
  // One partition: one total order of changes, and one offset to wait for.
  partitions: 1,
  config: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '3600000', 'retention.ms': '-1' }
}

/**
 * Kafka-backed state that cannot be written or read back in time: 503, retry later.
 * The reason (it may name brokers) stays in `cause`, for the logs only.
 */
export class RegistryUnavailableError extends GatewayError {
  constructor (reason: string) {
    super('unavailable', 'the share registry cannot be written right now', { retryAfter: 5, cause: new Error(reason) })
    this.name = 'RegistryUnavailableError'
  }
}

export interface ShareRegistryOptions {
  kafka: KafkaCluster
  logger: Logger
  /** Feed silent longer than this → not current → fail closed. */
  maxFeedSilenceMs: number
  /** How long an admin write waits to read itself back. */
  writeTimeoutMs?: number
  topic?: string
}

interface Waiter { offset: number, resolve: () => void }

export class ShareRegistry extends EventEmitter<{ change: [RegistryChange], loaded: [] }> {
  readonly topic: string
  private readonly partners = new Map<string, Partner>()
  private readonly shares = new Map<string, Share>()
  private readonly tokens = new Map<string, TokenRecord>()
  private reader: TopicReader | undefined
  /** Offset of the next record to apply. */
  private nextOffset = 0
  private loadTarget = 0
  private loadedFlag = false
  private lastFetchAt = 0
  private waiters: Waiter[] = []
  private syncing: Promise<void> | undefined
  private stopped = false
  private readonly logger: Logger

  constructor (private readonly options: ShareRegistryOptions) {
    super()
    this.topic = options.topic ?? REGISTRY_TOPIC
    this.logger = options.logger.child({ component: 'registry' })
  }

  /** Creates the topic if missing and starts tailing it. Resolves once loaded. */
  async start (): Promise<void> {
    this.stopped = false
    const { kafka } = this.options
    await kafka.ensureTopics([{ ...REGISTRY_TOPIC_SPEC, topic: this.topic }])
    const [marks] = await kafka.watermarks(this.topic)
    const low = marks?.low ?? 0
    this.loadTarget = marks?.high ?? 0
    this.nextOffset = low
    if (this.loadTarget <= low) this.markLoaded()
    await this.openFeed(low)
    this.lastFetchAt = Date.now()
    if (!this.loadedFlag) await new Promise<void>(resolve => { this.once('loaded', resolve) })
  }

  /** Tails the topic from `from`; a feed that fails for good is reopened where it stopped. */
  private async openFeed (from: number): Promise<void> {
    this.reader = await this.options.kafka.openReader({
      topic: this.topic,
      start: new Map([[0, from]]),
      label: 'registry',
      maxWaitMs: 500,
      onRecords: (records) => { for (const r of records) this.apply(r) },
      onFetch: () => { this.lastFetchAt = Date.now() },
      onPosition: (_partition, next) => { this.advance(next) },
      onFailure: (err) => {
        this.logger.error({ err }, 'registry feed stopped; reopening it')
        void this.reopenFeed()
      }
    })
  }

  private async reopenFeed (): Promise<void> {
    const failed = this.reader
    this.reader = undefined
    await failed?.close()
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        await this.openFeed(this.nextOffset)
        return
      } catch (err) {
        this.logger.warn({ err, attempt }, 'cannot reopen the registry feed yet')
        await new Promise(resolve => setTimeout(resolve, Math.min(10_000, 500 * attempt)))
      }
    }
  }

  async stop (): Promise<void> {
    this.stopped = true
    await this.reader?.close()
    this.reader = undefined
    for (const w of this.waiters) w.resolve()
    this.waiters = []
  }

  get loaded (): boolean { return this.loadedFlag }

  /** Loaded and the feed fetched recently: decisions made now are on current data. */
  get current (): boolean {
    return this.loadedFlag && this.reader !== undefined && Date.now() - this.lastFetchAt <= this.options.maxFeedSilenceMs
  }

  get feedSilenceMs (): number { return Date.now() - this.lastFetchAt }

  private markLoaded (): void {
    if (this.loadedFlag) return
    this.loadedFlag = true
    this.logger.info({ partners: this.partners.size, shares: this.shares.size, tokens: this.tokens.size }, 'registry loaded')
    this.emit('loaded')
  }

  private apply (record: KafkaRecord): void {
    const key = record.key?.toString('utf8') ?? ''
    const slash = key.indexOf('/')
    const kind = key.slice(0, slash) as RegistryKind
    const id = key.slice(slash + 1)
    let change: RegistryChange | undefined
    try {
      const entry = record.value === null ? undefined : JSON.parse(record.value.toString('utf8')) as RegistryEntry
      if (entry !== undefined && entry.kind !== kind) throw new Error('kind does not match key')
      switch (kind) {
        case 'partner':
          change = { kind, id, partner: entry?.data as Partner | undefined }
          if (change.partner === undefined) this.partners.delete(id)
          else this.partners.set(id, change.partner)
          break
        case 'share':
          change = { kind, id, share: entry?.data as Share | undefined }
          if (change.share === undefined) this.shares.delete(id)
          else this.shares.set(id, change.share)
          break
        case 'token':
          change = { kind, id, token: entry?.data as TokenRecord | undefined }
          if (change.token === undefined) this.tokens.delete(id)
          else this.tokens.set(id, change.token)
          break
        default:
          throw new Error('unknown kind')
      }
    } catch (err) {
      // Only the gateway writes here; a bad record is a bug, not a reason to stop.
      this.logger.error({ offset: record.offset, key, err }, 'ignoring malformed registry record')
    }
    if (change !== undefined && this.loadedFlag) this.emit('change', change)
    this.advance(record.offset + 1)
  }

  /** Moves the applied position forward: records, or a batch end past compacted offsets. */
  private advance (next: number): void {
    if (next <= this.nextOffset) return
    this.nextOffset = next
    if (!this.loadedFlag && this.nextOffset >= this.loadTarget) this.markLoaded()
    if (this.waiters.length > 0) {
      const ready = this.waiters.filter(w => w.offset < this.nextOffset)
      this.waiters = this.waiters.filter(w => w.offset >= this.nextOffset)
      for (const w of ready) w.resolve()
    }
  }

  /** Resolves once the record at `offset` has been applied here. */
  private async waitApplied (offset: number, timeoutMs: number): Promise<void> {
    if (offset < this.nextOffset) return
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        new Promise<void>(resolve => { this.waiters.push({ offset, resolve }) }),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => { reject(new RegistryUnavailableError(`registry did not read back offset ${offset} within ${timeoutMs} ms`)) }, timeoutMs)
        })
      ])
    } finally {
      if (timer !== undefined) clearTimeout(timer)
    }
  }

  /** Writes an entry and returns once this instance has applied it (read-your-writes). */
  async put (entry: RegistryEntry): Promise<void> {
    const id = entry.kind === 'token' ? entry.data.jti : entry.data.id
    await this.write(`${entry.kind}/${id}`, JSON.stringify(entry))
  }

  /** Deletes an entry (a tombstone, so compaction forgets it). */
  async remove (kind: RegistryKind, id: string): Promise<void> {
    await this.write(`${kind}/${id}`, null)
  }

  private async write (key: string, value: string | null): Promise<void> {
    if (!this.loadedFlag) throw new RegistryUnavailableError('registry is not loaded')
    let produced
    try {
      [produced] = await this.options.kafka.produce(this.topic, [{ key, value, partition: 0 }])
    } catch (err) {
      throw new RegistryUnavailableError(`registry write failed: ${(err as Error).message}`)
    }
    if (produced === undefined) throw new RegistryUnavailableError('registry write returned no offset')
    await this.waitApplied(produced.offset, this.options.writeTimeoutMs ?? 10_000)
  }

  /**
   * Catches up with the end of the topic (bounded). Used when a request names a share
   * or token this instance has not seen yet: another instance may just have written it.
   * Concurrent calls share one catch-up.
   */
  async syncToLatest (timeoutMs = 2000): Promise<void> {
    this.syncing ??= (async () => {
      try {
        const [marks] = await this.options.kafka.watermarks(this.topic)
        const high = marks?.high ?? 0
        if (high > 0) await this.waitApplied(high - 1, timeoutMs)
      } finally {
        this.syncing = undefined
      }
    })()
    await this.syncing
  }

  partner (id: string): Partner | undefined { return this.partners.get(id) }
  share (id: string): Share | undefined { return this.shares.get(id) }
  token (jti: string): TokenRecord | undefined { return this.tokens.get(jti) }
  allPartners (): Partner[] { return [...this.partners.values()] }
  allShares (): Share[] { return [...this.shares.values()] }
  tokensOfShare (shareId: string): TokenRecord[] { return [...this.tokens.values()].filter(t => t.share === shareId) }
}
