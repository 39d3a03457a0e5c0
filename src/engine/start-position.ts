/**
 * Where a stream starts (CONTRACT §5): `latest` (default), `earliest`, an RFC 3339
 * timestamp, or a cursor. Resolved to explicit offsets before the stream opens, so a
 * record produced after the client connected is never missed.
 */
import { GatewayError } from '../errors.js'
import type { KafkaCluster } from '../kafka/cluster.js'
import type { PartitionOffsets } from '../kafka/types.js'
import type { CursorCodec } from './cursor.js'

export type StartSpec =
  | { kind: 'latest' }
  | { kind: 'earliest' }
  | { kind: 'timestamp', at: number }
  | { kind: 'cursor', cursor: string }

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/

export function parseStartSpec (from: string | undefined): StartSpec {
  if (from === undefined || from === '' || from === 'latest') return { kind: 'latest' }
  if (from === 'earliest') return { kind: 'earliest' }
  if (RFC3339.test(from)) {
    const at = Date.parse(from)
    if (Number.isNaN(at)) throw new GatewayError('bad_request', 'from: not a valid RFC 3339 timestamp')
    return { kind: 'timestamp', at }
  }
  return { kind: 'cursor', cursor: from }
}

export async function resolveStartOffsets (
  kafka: KafkaCluster, topic: string, spec: StartSpec, binding: { shareId: string, product: string, cursors: CursorCodec }
): Promise<PartitionOffsets> {
  // Decode first: a bad cursor is the client's error even when Kafka is down.
  const fromCursor = spec.kind === 'cursor' ? binding.cursors.decode(binding.shareId, binding.product, spec.cursor) : undefined
  let marks
  try {
    marks = await kafka.watermarks(topic)
  } catch (err) {
    throw new GatewayError('unavailable', 'the product topic is not reachable right now', { retryAfter: 5, cause: err })
  }
  const positions: PartitionOffsets = new Map()
  switch (spec.kind) {
    case 'latest':
      for (const m of marks) positions.set(m.partition, m.high)
      return positions
    case 'earliest':
      for (const m of marks) positions.set(m.partition, m.low)
      return positions
    case 'timestamp': {
      const byTime = await kafka.offsetsForTimestamp(topic, spec.at)
      for (const m of marks) positions.set(m.partition, Math.max(m.low, byTime.get(m.partition) ?? m.high))
      return positions
    }
    case 'cursor':
      for (const m of marks) {
        // A partition the cursor does not know was added after it was issued: all of it is new.
        const next = fromCursor?.get(m.partition) ?? m.low
        positions.set(m.partition, Math.min(next, m.high))
      }
      return positions
  }
}
