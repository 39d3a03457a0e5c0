/** Kafka data as the rest of the gateway sees it: no kafkajs types leak out of src/kafka/. */

export type HeaderValue = Buffer | string | undefined | Array<Buffer | string>

export interface KafkaRecord {
  topic: string
  partition: number
  offset: number
  /** Milliseconds since the epoch (CreateTime or LogAppendTime). */
  timestamp: number
  key: Buffer | null
  value: Buffer | null
  headers: Record<string, HeaderValue>
}

/** Next offset to read, per partition. */
export type PartitionOffsets = Map<number, number>

export interface PartitionWatermarks {
  partition: number
  /** Log start offset: the earliest record that still exists. */
  low: number
  /** High watermark: the offset the next record will get. */
  high: number
}

export interface TopicSpec {
  topic: string
  partitions?: number
  config?: Record<string, string>
}

export interface OutgoingRecord {
  key?: string | Buffer | null
  value: string | Buffer | null
  headers?: Record<string, string | Buffer>
  partition?: number
  /** CreateTime in ms (default: now). */
  timestamp?: number
}

export interface ProducedOffset {
  partition: number
  offset: number
}
