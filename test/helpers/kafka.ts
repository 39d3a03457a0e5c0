/** Test access to the real broker (never a mock): unique topics, produce, read back. */
import { randomBytes } from 'node:crypto'
import { KafkaCluster } from '../../src/kafka/cluster.js'
import { createLogger } from '../../src/observability/logger.js'
import type { OutgoingRecord } from '../../src/kafka/types.js'

export const TEST_BROKERS = process.env.STREAMSHARE_KAFKA_BROKERS ?? 'localhost:9092'

export function uniqueName (prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
}

export interface TestKafka {
  cluster: KafkaCluster
  createTopic: (prefix: string, partitions?: number, config?: Record<string, string>) => Promise<string>
  produceJson: (topic: string, values: unknown[], options?: { key?: (v: unknown, i: number) => string, partition?: number, headers?: Record<string, string> }) => Promise<void>
  produceRaw: (topic: string, records: OutgoingRecord[]) => Promise<void>
  close: () => Promise<void>
}

export function testKafka (): TestKafka {
  const cluster = new KafkaCluster({
    brokers: TEST_BROKERS.split(','),
    clientId: 'streamshare-test',
    ssl: false,
    connectionTimeoutMs: 3000,
    requestTimeoutMs: 30000,
    metadataMaxAgeMs: 30000
  }, createLogger('silent'), 'test')
  const created: string[] = []
  return {
    cluster,
    async createTopic (prefix, partitions = 1, config = {}) {
      const topic = uniqueName(prefix)
      await cluster.ensureTopics([{ topic, partitions, config }])
      created.push(topic)
      return topic
    },
    async produceJson (topic, values, options = {}) {
      await cluster.produce(topic, values.map((v, i) => ({
        key: options.key?.(v, i) ?? null,
        value: JSON.stringify(v),
        ...(options.partition === undefined ? {} : { partition: options.partition }),
        ...(options.headers === undefined ? {} : { headers: options.headers })
      })))
    },
    async produceRaw (topic, records) {
      await cluster.produce(topic, records)
    },
    async close () {
      await cluster.close()
    }
  }
}

/**
 * Deletes a partition's records below `offset` through the Kafka admin client, as
 * retention would: the partition's log then starts at `offset`.
 */
export async function deleteBefore (kafka: TestKafka, topic: string, partition: number, offset: number): Promise<void> {
  const admin = kafka.cluster.client.admin()
  await admin.connect()
  try {
    await admin.fetchTopicMetadata({ topics: [topic] })
    await admin.deleteTopicRecords({ topic, partitions: [{ partition, offset: String(offset) }] })
  } finally {
    await admin.disconnect()
  }
}
