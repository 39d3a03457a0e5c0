/**
 * KafkaCluster: the gateway's one connection to Kafka — an admin client for
 * metadata and offsets, an idempotent producer, and the factory for topic readers.
 */
import kafkajs, { type Admin, type PartitionMetadata, type Producer } from 'kafkajs'
import { createKafkaClient, type KafkaClient } from './client.js'
import { TopicReader, type TopicReaderOptions } from './reader.js'
import type { KafkaRecord, OutgoingRecord, PartitionOffsets, PartitionWatermarks, ProducedOffset, TopicSpec } from './types.js'
import type { KafkaConfig } from '../config/config.js'
import type { Logger } from '../observability/logger.js'

const { Partitioners } = kafkajs

/**
 * kafkajs drops records addressed to a partition its metadata does not know yet (one
 * just added to the topic) without an error: never let that pass silently.
 */
function assertAllPartitionsWritten (topic: string, records: ReadonlyArray<{ partition?: number }>, result: ReadonlyArray<{ partition: number }>): void {
  const written = new Set(result.map(r => r.partition))
  const lost = records.find(r => r.partition !== undefined && !written.has(r.partition))
  if (lost !== undefined) throw new Error(`partition ${String(lost.partition)} of ${topic} is not known to the producer yet; nothing was written to it`)
}

export class KafkaCluster {
  readonly client: KafkaClient
  private readonly logger: Logger
  private readonly groupPrefix: string
  private admin: Admin | undefined
  private adminConnecting: Promise<Admin> | undefined
  private producer: Promise<Producer> | undefined
  private txProducer: Promise<Producer> | undefined
  private transactions: Promise<void> = Promise.resolve()
  /** Transactions waiting for or holding the transactional producer. */
  private queuedTransactions = 0
  private readonly partitionCache = new Map<string, { at: number, partitions: PartitionMetadata[] }>()
  private readonly readers = new Set<TopicReader>()
  private closed = false
  /** How often owners of long-lived readers look for partitions added to their topic. */
  readonly metadataMaxAgeMs: number
  private readonly produceTimeoutMs: number

  constructor (config: KafkaConfig, logger: Logger, instanceId: string) {
    this.logger = logger
    this.metadataMaxAgeMs = config.metadataMaxAgeMs
    this.produceTimeoutMs = config.requestTimeoutMs
    this.client = createKafkaClient(config, logger)
    this.groupPrefix = `${config.clientId}.${instanceId}`
  }

  private async connectedAdmin (): Promise<Admin> {
    if (this.admin !== undefined) return this.admin
    this.adminConnecting ??= (async () => {
      const admin = this.client.admin({ retry: { retries: 3, initialRetryTime: 200 } })
      try {
        await admin.connect()
      } catch (err) {
        this.adminConnecting = undefined
        throw err
      }
      this.admin = admin
      return admin
    })()
    return await this.adminConnecting
  }

  /** Succeeds when a broker answers a metadata request within `timeoutMs`. */
  async ping (timeoutMs: number): Promise<void> {
    const admin = await withTimeout(this.connectedAdmin(), timeoutMs, 'Kafka connect')
    await withTimeout(admin.describeCluster(), timeoutMs, 'Kafka describeCluster')
  }

  /** Creates missing topics; existing ones are left as they are. */
  async ensureTopics (specs: TopicSpec[]): Promise<void> {
    const admin = await this.connectedAdmin()
    const existing = new Set(await admin.listTopics())
    const missing = specs.filter(s => !existing.has(s.topic))
    if (missing.length === 0) return
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map(s => ({
          topic: s.topic,
          numPartitions: s.partitions ?? 1,
          replicationFactor: -1,
          configEntries: Object.entries(s.config ?? {}).map(([name, value]) => ({ name, value }))
        }))
      })
    } catch (err) {
      // Another instance may have created it between list and create.
      if ((err as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw err
    }
  }

  async topicExists (topic: string): Promise<boolean> {
    const admin = await this.connectedAdmin()
    return (await admin.listTopics()).includes(topic)
  }

  async watermarks (topic: string): Promise<PartitionWatermarks[]> {
    const admin = await this.connectedAdmin()
    const offsets = await admin.fetchTopicOffsets(topic)
    return offsets
      .map(o => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) }))
      .sort((a, b) => a.partition - b.partition)
  }

  /**
   * First offset whose timestamp is >= `timestampMs`, per partition (the high watermark
   * if none). Pass the topic's watermarks when you have them: one request fewer.
   */
  async offsetsForTimestamp (topic: string, timestampMs: number, knownMarks?: PartitionWatermarks[]): Promise<Map<number, number>> {
    const admin = await this.connectedAdmin()
    const [byTime, marks] = await Promise.all([admin.fetchTopicOffsetsByTimestamp(topic, timestampMs), knownMarks ?? this.watermarks(topic)])
    const result = new Map<number, number>()
    for (const { partition, high } of marks) {
      const found = byTime.find(o => o.partition === partition)
      const offset = found === undefined ? -1 : Number(found.offset)
      result.set(partition, offset < 0 ? high : offset)
    }
    return result
  }

  private async connectedProducer (): Promise<Producer> {
    this.producer ??= (async () => {
      const producer = this.client.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        // Idempotence needs unbounded retries (kafkajs warns otherwise); callers bound
        // the time they wait with withTimeout instead.
        retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 2000 },
        createPartitioner: Partitioners.DefaultPartitioner,
        metadataMaxAge: this.metadataMaxAgeMs
      })
      await producer.connect()
      return producer
    })()
    try {
      return await this.producer
    } catch (err) {
      this.producer = undefined
      throw err
    }
  }

  /** Appends records to one topic (acks=all, idempotent); returns the base offset per partition. */
  async produce (topic: string, records: OutgoingRecord[]): Promise<ProducedOffset[]> {
    const producer = await this.connectedProducer()
    // The idempotent producer retries without end; callers get an answer in bounded time
    // (the send may still complete later: idempotence keeps that from duplicating).
    const result = await withTimeout(producer.send({
      topic,
      acks: -1,
      messages: records.map(r => ({
        key: r.key ?? null,
        value: r.value,
        ...(r.headers === undefined ? {} : { headers: r.headers }),
        ...(r.partition === undefined ? {} : { partition: r.partition }),
        ...(r.timestamp === undefined ? {} : { timestamp: String(r.timestamp) })
      }))
    }), this.produceTimeoutMs, `produce to ${topic}`)
    assertAllPartitionsWritten(topic, records, result)
    // One base offset per partition touched; records of one partition get consecutive offsets.
    return result.map(r => ({ partition: r.partition, offset: Number(r.baseOffset) }))
  }

  /**
   * Writes records all or nothing (a Kafka transaction; readers see only committed
   * records) and returns each record's partition and offset, in input order. Records
   * without a partition are placed by the default (murmur2 key) partitioner here, so
   * every record's offset is known. Transactions run one after another.
   */
  async produceAtomically (topic: string, records: OutgoingRecord[]): Promise<ProducedOffset[]> {
    // One transactional producer runs one transaction at a time. A bounded queue
    // answers at once when Kafka is slow instead of piling up requests in memory.
    if (this.closed) throw new Error('the Kafka connection is closed')
    if (this.queuedTransactions >= MAX_QUEUED_TRANSACTIONS) throw new ProduceQueueFull()
    this.queuedTransactions++
    let settled!: () => void
    const turn = this.transactions
    this.transactions = new Promise<void>(resolve => { settled = resolve })
    const gate: { hold?: Promise<void> } = {}
    try {
      await turn
      return await this.runTransaction(topic, records, gate)
    } finally {
      this.queuedTransactions--
      if (gate.hold === undefined) settled()
      else void gate.hold.finally(settled)
    }
  }

  /**
   * When a commit outlives its timeout the caller hears "outcome unknown" at once,
   * but `gate.hold` keeps the next transaction waiting until this commit has really
   * settled (or the producer has been replaced): the producer never starts a
   * transaction mid-commit.
   */
  private async runTransaction (topic: string, records: OutgoingRecord[], gate: { hold?: Promise<void> }): Promise<ProducedOffset[]> {
    const producer = await this.transactionalProducer()
    const partitionMetadata = await this.partitionsOf(topic)
    const partitioner = Partitioners.DefaultPartitioner()
    const placed = records.map(r => {
      const message = { key: r.key ?? null, value: r.value, ...(r.headers === undefined ? {} : { headers: r.headers }) }
      const partition = r.partition ?? partitioner({ topic, partitionMetadata, message })
      return { ...message, partition }
    })
    const tx = await producer.transaction()
    let result
    try {
      result = await withTimeout(tx.send({ topic, acks: -1, messages: placed }), this.produceTimeoutMs, `produce to ${topic}`)
      // Before the commit: a record kafkajs dropped must abort the whole transaction,
      // or the others would become visible while the caller hears "nothing written".
      assertAllPartitionsWritten(topic, placed, result)
    } catch (err) {
      // Not committed, so nothing becomes visible: the transaction is aborted, or
      // fenced and aborted by the coordinator when the producer is replaced.
      await tx.abort().catch(async () => { await this.replaceTransactionalProducer() })
      throw err
    }
    const commit = tx.commit()
    try {
      await withTimeout(commit, this.produceTimeoutMs, `commit to ${topic}`)
    } catch (err) {
      if (!(err instanceof TimeoutError)) {
        await tx.abort().catch(async () => { await this.replaceTransactionalProducer() })
        throw err
      }
      // The commit may still succeed. The queue stays blocked until it settles; a
      // commit that hangs much longer gets the producer replaced (a new producer
      // with the same transactional id completes or aborts it at the coordinator).
      gate.hold = withTimeout(commit, this.produceTimeoutMs * 4, 'commit settle').then(() => {}, async () => { await this.replaceTransactionalProducer() })
      throw new CommitOutcomeUnknown(topic)
    }
    const next = new Map(result.map(r => [r.partition, Number(r.baseOffset)]))
    return placed.map(m => {
      const offset = next.get(m.partition) as number // every partition was written (checked above)
      next.set(m.partition, offset + 1)
      return { partition: m.partition, offset }
    })
  }

  private async replaceTransactionalProducer (): Promise<void> {
    const old = this.txProducer
    this.txProducer = undefined
    this.logger.warn('replacing the transactional producer after a failed transaction')
    await old?.then(async p => { await p.disconnect() }).catch(() => {})
  }

  private async transactionalProducer (): Promise<Producer> {
    this.txProducer ??= (async () => {
      const producer = this.client.producer({
        // One transactional id per instance: instances never fence each other.
        transactionalId: `${this.groupPrefix}.produce`,
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 2000 },
        metadataMaxAge: this.metadataMaxAgeMs
      })
      await producer.connect()
      return producer
    })()
    try {
      return await this.txProducer
    } catch (err) {
      this.txProducer = undefined
      throw err
    }
  }

  /** Partition metadata of a topic, cached for the metadata max age. */
  private async partitionsOf (topic: string): Promise<PartitionMetadata[]> {
    const cached = this.partitionCache.get(topic)
    if (cached !== undefined && Date.now() - cached.at < this.metadataMaxAgeMs) return cached.partitions
    const admin = await this.connectedAdmin()
    const meta = await admin.fetchTopicMetadata({ topics: [topic] })
    const partitions = meta.topics[0]?.partitions ?? []
    this.partitionCache.set(topic, { at: Date.now(), partitions })
    return partitions
  }

  async openReader (options: Omit<TopicReaderOptions, 'groupPrefix'>): Promise<TopicReader> {
    if (this.closed) throw new Error('Kafka cluster client is closed')
    const reader = await TopicReader.open(this.client, this.logger, { ...options, groupPrefix: this.groupPrefix })
    this.readers.add(reader)
    const close = reader.close.bind(reader)
    reader.close = async () => { this.readers.delete(reader); await close() }
    return reader
  }

  /**
   * Reads [start, end) of every partition given and resolves when done (or after
   * `timeoutMs`, with what was read). For bounded admin reads such as audit queries.
   */
  async readRange (topic: string, start: PartitionOffsets, end: PartitionOffsets, onRecords: (records: KafkaRecord[]) => void, timeoutMs: number): Promise<{ complete: boolean }> {
    const pending = new Set([...end].filter(([p, e]) => (start.get(p) ?? 0) < e).map(([p]) => p))
    if (pending.size === 0) return { complete: true }
    let finish: () => void = () => {}
    const finished = new Promise<void>(resolve => { finish = resolve })
    const reader = await this.openReader({
      topic,
      start,
      label: 'range',
      maxWaitMs: 200,
      onRecords: (records) => {
        onRecords(records.filter(r => r.offset < (end.get(r.partition) ?? 0)))
      },
      onPosition: (partition, next) => {
        if (next >= (end.get(partition) ?? 0)) pending.delete(partition)
        if (pending.size === 0) finish()
      }
    })
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<void>(resolve => { timer = setTimeout(resolve, timeoutMs) })
    try {
      await Promise.race([finished, timedOut])
      return { complete: pending.size === 0 }
    } finally {
      if (timer !== undefined) clearTimeout(timer)
      await reader.close()
    }
  }

  /** Closes every reader (they leave their groups), the producer and the admin client. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.allSettled([...this.readers].map(async r => { await r.close() }))
    const producer = this.producer
    const txProducer = this.txProducer
    this.producer = undefined
    this.txProducer = undefined
    await this.transactions
    await Promise.allSettled([
      producer?.then(async p => { await p.disconnect() }),
      txProducer?.then(async p => { await p.disconnect() }),
      this.admin?.disconnect()
    ])
  }
}

export class TimeoutError extends Error {}

/** Too many transactions are waiting for the transactional producer. */
export class ProduceQueueFull extends Error {
  constructor () { super('too many transactions waiting') }
}

/** A commit did not confirm in time: the records may or may not become visible. */
export class CommitOutcomeUnknown extends Error {
  constructor (topic: string) { super(`commit to ${topic} did not confirm in time`) }
}

/** At most this many partner writes wait for the transactional producer. */
const MAX_QUEUED_TRANSACTIONS = 256

export async function withTimeout<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new TimeoutError(`${what} timed out after ${ms} ms`)) }, ms) })
    ])
  } finally {
    if (timer !== undefined) clearTimeout(timer)
  }
}
