/**
 * Records withheld by the schema check are copied, with the reason, to
 * `_streamshare.quarantine` (CONTRACT §2, §5) for the product's owners to inspect.
 * Keyed by their coordinates and compacted, so the copies several instances (or a
 * replay) make of one record collapse into one. Writes are batched, off the hot path.
 */
import type { KafkaCluster } from '../kafka/cluster.js'
import type { KafkaRecord } from '../kafka/types.js'
import type { Logger } from '../observability/logger.js'
import { recordHeaders } from './record-decoder.js'
import { BackgroundWriter } from '../kafka/background-writer.js'
import type { Metrics } from '../observability/metrics.js'

export const QUARANTINE_TOPIC = '_streamshare.quarantine'

export const QUARANTINE_TOPIC_SPEC = {
  topic: QUARANTINE_TOPIC,
  partitions: 1,
  config: { 'cleanup.policy': 'compact,delete', 'retention.ms': String(30 * 24 * 3600 * 1000) }
}

export interface QuarantineReason { reason: string, detail: string }

export class QuarantineWriter {
  private readonly background: BackgroundWriter
  /** Records copied since start (for metrics and tests). */

  constructor (private readonly kafka: KafkaCluster, logger: Logger, private readonly instanceId: string, private readonly metrics?: Metrics, readonly topic = QUARANTINE_TOPIC) {
    this.background = new BackgroundWriter(kafka, topic, logger.child({ component: 'quarantine' }), 200)
  }

  async start (): Promise<void> {
    await this.kafka.ensureTopics([{ ...QUARANTINE_TOPIC_SPEC, topic: this.topic }])
  }

  add (product: string, record: KafkaRecord, why: QuarantineReason): void {
    const headers = recordHeaders(record.headers)
    this.metrics?.quarantinedRecords.inc({ product, reason: why.reason })
    this.background.add({
      key: `${record.topic}/${record.partition}/${record.offset}`,
      value: JSON.stringify({
        product,
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        timestamp: new Date(record.timestamp).toISOString(),
        reason: why.reason,
        detail: why.detail,
        key_base64: record.key?.toString('base64') ?? null,
        value_base64: record.value?.toString('base64') ?? null,
        headers,
        instance: this.instanceId,
        quarantined_at: new Date().toISOString()
      })
    })
  }

  async drain (): Promise<void> {
    await this.background.drain()
  }
}
