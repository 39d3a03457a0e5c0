/**
 * The gap decision: a jump in offsets is a gap when the log start lies above where
 * the stream stood, compaction otherwise, and never "compaction" because the log start
 * could not be read. (Against the real broker: stream-engine.test.ts (c), (c2).)
 */
import t from 'tap'
import { LowWatermarks } from '../../src/engine/low-watermarks.js'
import type { KafkaCluster } from '../../src/kafka/cluster.js'
import type { PartitionWatermarks } from '../../src/kafka/types.js'

/** A cluster whose only used call, watermarks(), answers from a script. */
function clusterAnswering (answers: Array<PartitionWatermarks[] | Error>): { cluster: KafkaCluster, calls: () => number } {
  let calls = 0
  const cluster = {
    async watermarks (): Promise<PartitionWatermarks[]> {
      const answer = answers[Math.min(calls++, answers.length - 1)]
      if (answer instanceof Error) throw answer
      return answer as PartitionWatermarks[]
    }
  } as unknown as KafkaCluster
  return { cluster, calls: () => calls }
}

t.test('a log start above the expected offset is a gap up to the record before the next one', async t => {
  const { cluster } = clusterAnswering([[{ partition: 0, low: 40, high: 90 }]])
  const lows = new LowWatermarks(cluster)
  t.equal(await lows.deletedUpTo('t', 0, 10, 40), 39, 'deleted 10..39')
  t.equal(await lows.deletedUpTo('t', 0, 10, 30), 29, 'never past the record that arrived')
})

t.test('a log start at or below the expected offset is compaction (no gap)', async t => {
  const { cluster } = clusterAnswering([[{ partition: 0, low: 0, high: 90 }]])
  t.equal(await new LowWatermarks(cluster).deletedUpTo('t', 0, 10, 40), undefined)
})

t.test('a log start that cannot be read is an error, never compaction', async t => {
  const { cluster } = clusterAnswering([new Error('broker unreachable')])
  const lows = new LowWatermarks(cluster)
  await t.rejects(lows.deletedUpTo('t', 0, 10, 40), /cannot read the log start of t partition 0/)
})

t.test('a stale low at or below the expected offset is re-read; a failed re-read is an error', async t => {
  const { cluster, calls } = clusterAnswering([[{ partition: 0, low: 5, high: 90 }], new Error('broker unreachable')])
  const lows = new LowWatermarks(cluster, 0)
  t.equal(await lows.deletedUpTo('t', 0, 10, 40), undefined, 'first answer: compaction')
  await new Promise(resolve => setTimeout(resolve, 5))
  await t.rejects(lows.deletedUpTo('t', 0, 10, 40), /cannot read the log start/, 'the stale low is not trusted')
  t.equal(calls(), 2)
})

t.test('a cached low above the expected offset proves a gap without asking again (log starts only grow)', async t => {
  const { cluster, calls } = clusterAnswering([[{ partition: 0, low: 50, high: 90 }], new Error('broker unreachable')])
  const lows = new LowWatermarks(cluster, 0)
  t.equal(await lows.deletedUpTo('t', 0, 10, 60), 49)
  await new Promise(resolve => setTimeout(resolve, 5))
  t.equal(await lows.deletedUpTo('t', 0, 20, 60), 49)
  t.equal(calls(), 1)
})

t.test('an unknown partition is an error', async t => {
  const { cluster } = clusterAnswering([[{ partition: 0, low: 0, high: 9 }]])
  await t.rejects(new LowWatermarks(cluster).deletedUpTo('t', 3, 10, 40), /has no partition 3/)
})
