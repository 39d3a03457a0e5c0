/**
 * Log start offsets, fetched only when a stream sees offsets jump (to tell a
 * retention gap from compaction). A low above the jump's start proves a gap whatever
 * its age (log starts only grow); a low at or below it is trusted for 100 ms only:
 * retention that deleted records after the cached fetch would otherwise pass for
 * compaction, and the gap would go unannounced. A compacted topic, where jumps are
 * normal, costs at most ten metadata requests per second (concurrent ones shared).
 */
import type { KafkaCluster } from '../kafka/cluster.js'

export class LowWatermarks {
  private readonly cache = new Map<string, { at: number, lows: Map<number, number> }>()
  private readonly pending = new Map<string, Promise<Map<number, number>>>()

  constructor (private readonly kafka: KafkaCluster, private readonly ttlMs = 100) {}

  /**
   * The log start offset of a partition. A cached value at or below `expected` is
   * refreshed (it may be stale exactly where it matters), at most once per ttl.
   */
  /**
   * Offsets jumped from `expected` to `got`: if retention removed records there (the
   * log start is above `expected`), the last removed offset before `got`; undefined
   * when nothing was removed (compaction, an aborted transaction) or the log start
   * cannot be read.
   */
  async deletedUpTo (topic: string, partition: number, expected: number, got: number): Promise<number | undefined> {
    const low = await this.get(topic, partition, expected)
    return low === undefined || low <= expected ? undefined : Math.min(low, got) - 1
  }

  async get (topic: string, partition: number, expected: number): Promise<number | undefined> {
    const cached = this.cache.get(topic)
    const low = cached?.lows.get(partition)
    if (cached !== undefined && low !== undefined && (low > expected || Date.now() - cached.at < this.ttlMs)) return low
    let request = this.pending.get(topic)
    if (request === undefined) {
      request = this.kafka.watermarks(topic).then(marks => new Map(marks.map(m => [m.partition, m.low])))
      this.pending.set(topic, request)
      void request.finally(() => { this.pending.delete(topic) }).catch(() => {})
    }
    try {
      const lows = await request
      this.cache.set(topic, { at: Date.now(), lows })
      return lows.get(partition)
    } catch {
      return low
    }
  }
}
