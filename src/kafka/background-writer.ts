/**
 * Appends records to a topic in the background, in batches: for writes that must not
 * hold up a hot path (stream audit records, quarantine copies). A failed batch is
 * logged, not retried forever: these are records about the data, not the data.
 */
import type { KafkaCluster } from './cluster.js'
import type { OutgoingRecord } from './types.js'
import type { Logger } from '../observability/logger.js'

export class BackgroundWriter {
  private queue: OutgoingRecord[] = []
  private flushing: Promise<void> | undefined

  constructor (private readonly kafka: KafkaCluster, private readonly topic: string, private readonly logger: Logger, private readonly batchSize = 500) {}

  add (record: OutgoingRecord): void {
    this.queue.push(record)
    this.flushing ??= this.flush()
  }

  private async flush (): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.batchSize)
        try {
          await this.kafka.produce(this.topic, batch)
        } catch (err) {
          this.logger.error({ err, topic: this.topic, records: batch.length }, 'cannot write background records')
        }
      }
    } finally {
      this.flushing = undefined
    }
  }

  /** Waits for queued records (shutdown). */
  async drain (): Promise<void> {
    while (this.flushing !== undefined) await this.flushing
  }
}
