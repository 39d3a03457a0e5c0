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
   * when nothing was removed (compaction, an aborted transaction). Throws when the log
   * start cannot be read: a jump must never pass for compaction unchecked, so the
   * caller retries (the tap re-reads the batch) or ends the stream (it resumes by
   * cursor from before the jump).
   */
  async deletedUpTo (topic: string, partition: number, expected: number, got: number): Promise<number | undefined> {
    const low = await this.get(topic, partition, expected)
    return low <= expected ? undefined : Math.min(low, got) - 1
  }

  /** The log start offset of a partition (see the class comment); throws when it cannot be read. */
  async get (topic: string, partition: number, expected: number): Promise<number> {
    const cached = this.cache.get(topic)
    const low = cached?.lows.get(partition)
    if (cached !== undefined && low !== undefined && (low > expected || Date.now() - cached.at < this.ttlMs)) return low
    let request = this.pending.get(topic)
    if (request === undefined) {
      request = this.kafka.watermarks(topic).then(marks => new Map(marks.map(m => [m.partition, m.low])))
      this.pending.set(topic, request)
      void request.finally(() => { this.pending.delete(topic) }).catch(() => {})
    }
    let lows: Map<number, number>
    try {
      lows = await request
    } catch (err) {
      throw new Error(`cannot read the log start of ${topic} partition ${partition}`, { cause: err })
    }
    this.cache.set(topic, { at: Date.now(), lows })
    const fresh = lows.get(partition)
    if (fresh === undefined) throw new Error(`${topic} has no partition ${partition}`)
    return fresh
  }
}
