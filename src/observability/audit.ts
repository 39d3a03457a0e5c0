/**
 * The audit trail: every admin action and every stream session, appended to the
 * topic `_streamshare.audit` (CONTRACT §2, §7). Records hold identifiers, counts and
 * offsets — never a token, a secret or record data.
 */
import type { KafkaCluster } from '../kafka/cluster.js'
import type { KafkaRecord } from '../kafka/types.js'
import type { Logger } from './logger.js'
import { BackgroundWriter } from '../kafka/background-writer.js'

export const AUDIT_TOPIC = '_streamshare.audit'

export const AUDIT_TOPIC_SPEC = {
  topic: AUDIT_TOPIC,
  partitions: 1,
  // Append-only; kept a year by default. Operators may change it on the topic.
  config: { 'cleanup.policy': 'delete', 'retention.ms': String(365 * 24 * 3600 * 1000) }
}

export interface AdminAuditEntry {
  kind: 'admin'
  /** e.g. `partner.create`, `share.revoke`, `token.create`. */
  action: string
  /** Who: the admin actor name sent by the CLI (`x-streamshare-actor`), else `admin`. */
  actor: string
  target: string
  share?: string
  partner?: string
  request_id?: string
  remote?: string
  /** Non-secret details: changed field names, reason, quota values. */
  detail?: Record<string, unknown>
}

export interface StreamAuditEntry {
  kind: 'stream'
  action: 'open' | 'close'
  share: string
  partner: string
  product: string
  transport: string
  jti: string
  policy: string
  policy_version: string
  stream: string
  from?: string
  reason?: string
  delivered?: number
  delivered_bytes?: number
  skipped?: number
  filtered?: number
  /** First and last offset delivered, per partition. */
  offsets?: Record<string, { first: number, last: number }>
  duration_ms?: number
}

export interface ProduceAuditEntry {
  kind: 'produce'
  action: 'publish'
  share: string
  partner: string
  product: string
  transport: string
  jti: string
  records: number
  /** First and last offset written, per partition. */
  offsets: Record<string, { first: number, last: number }>
  request_id?: string
}

export type AuditEntry = AdminAuditEntry | StreamAuditEntry | ProduceAuditEntry
export type AuditRecord = AuditEntry & { at: string, instance: string }

export interface AuditQuery {
  /** Milliseconds since the epoch; default: 24 hours ago. */
  since?: number
  share?: string
  limit?: number
}

export const MAX_AUDIT_RESULTS = 1000

export class AuditLog {
  private readonly background: BackgroundWriter

  constructor (private readonly kafka: KafkaCluster, logger: Logger, private readonly instanceId: string, readonly topic = AUDIT_TOPIC) {
    this.background = new BackgroundWriter(kafka, topic, logger.child({ component: 'audit' }))
  }

  async start (): Promise<void> {
    await this.kafka.ensureTopics([{ ...AUDIT_TOPIC_SPEC, topic: this.topic }])
  }

  private stamp (entry: AuditEntry): AuditRecord {
    return { at: new Date().toISOString(), instance: this.instanceId, ...entry }
  }

  /** Appends and waits until Kafka has it (admin actions: durable before we answer). */
  async append (entry: AuditEntry): Promise<void> {
    await this.kafka.produce(this.topic, [{ key: entry.share ?? null, value: JSON.stringify(this.stamp(entry)) }])
  }

  /**
   * Appends without waiting (stream sessions: the hot path must not block on the
   * audit). Batched in the background.
   */
  record (entry: AuditEntry): void {
    this.background.add({ key: entry.share ?? null, value: JSON.stringify(this.stamp(entry)) })
  }

  /** Waits for queued records (shutdown). */
  async drain (): Promise<void> {
    await this.background.drain()
  }

  async query (q: AuditQuery): Promise<{ records: AuditRecord[], truncated: boolean }> {
    const since = q.since ?? Date.now() - 24 * 3600 * 1000
    const limit = Math.min(q.limit ?? MAX_AUDIT_RESULTS, MAX_AUDIT_RESULTS)
    const [marks, byTime] = await Promise.all([this.kafka.watermarks(this.topic), this.kafka.offsetsForTimestamp(this.topic, since)])
    const start = new Map(marks.map(m => [m.partition, Math.max(m.low, byTime.get(m.partition) ?? m.high)]))
    const end = new Map(marks.map(m => [m.partition, m.high]))
    const records: AuditRecord[] = []
    let truncated = false
    const { complete } = await this.kafka.readRange(this.topic, start, end, (batch: KafkaRecord[]) => {
      for (const r of batch) {
        if (r.value === null) continue
        let record: AuditRecord
        try { record = JSON.parse(r.value.toString('utf8')) as AuditRecord } catch { continue }
        if (q.share !== undefined && record.share !== q.share) continue
        if (records.length >= limit) { truncated = true; continue }
        records.push(record)
      }
    }, 15_000)
    return { records, truncated: truncated || !complete }
  }
}
