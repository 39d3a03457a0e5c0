/**
 * Where a stream starts (CONTRACT §5): `latest` (default), `earliest`, an RFC 3339
 * timestamp, or a cursor — resolved to explicit offsets before the stream opens, so
 * a record produced after the client connected is never missed, and bounded by the
 * share's history window.
 *
 * History window: `earliest` and timestamps never reach back further than the
 * window (`none`: they mean "now"). A cursor resumes exactly, except that with a
 * duration window a position older than the window moves up to its start, and a
 * position below the log start moves up to it — both announced as `gap`s, never
 * silently.
 */
import { GatewayError } from '../errors.js'
import type { KafkaCluster } from '../kafka/cluster.js'
import type { PartitionOffsets } from '../kafka/types.js'
import type { HistoryWindow } from '../registry/history.js'
import type { CursorCodec } from './cursor.js'
import type { GapMessage } from './messages.js'

export type StartSpec =
  | { kind: 'latest' }
  | { kind: 'earliest' }
  | { kind: 'timestamp', at: number }
  | { kind: 'cursor', cursor: string }

export interface ResolvedStart {
  positions: PartitionOffsets
  /** Announced first: positions the client asked for that it cannot have. */
  gaps: GapMessage[]
}

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

export async function resolveStart (
  kafka: KafkaCluster,
  topic: string,
  spec: StartSpec,
  binding: { shareId: string, product: string, cursors: CursorCodec, history: HistoryWindow, now?: number }
): Promise<ResolvedStart> {
  // Decode first: a bad cursor is the client's error even when Kafka is down.
  const fromCursor = spec.kind === 'cursor' ? binding.cursors.decode(binding.shareId, binding.product, spec.cursor) : undefined
  const now = binding.now ?? Date.now()
  const { history } = binding
  try {
    const marks = await kafka.watermarks(topic)
    const low = new Map(marks.map(m => [m.partition, m.low]))
    const high = new Map(marks.map(m => [m.partition, m.high]))
    // Offset lookups by time, both at once and reusing the watermarks; `latest` (the
    // default) needs none: it starts at the high watermarks whatever the window.
    const windowFrom = history.kind === 'duration' ? now - history.ms : undefined
    const [windowByTime, byTime] = await Promise.all([
      spec.kind !== 'latest' && windowFrom !== undefined ? kafka.offsetsForTimestamp(topic, windowFrom, marks) : undefined,
      spec.kind === 'timestamp' && history.kind !== 'none' ? kafka.offsetsForTimestamp(topic, Math.max(spec.at, windowFrom ?? spec.at), marks) : undefined
    ])
    // The first offset the share may read per partition (history window start).
    const windowStart = history.kind === 'all' ? low : windowByTime ?? high
    const positions: PartitionOffsets = new Map()
    const gaps: GapMessage[] = []
    for (const { partition: p } of marks) {
      const lo = low.get(p) as number
      const hi = high.get(p) as number
      const floor = Math.max(lo, windowStart.get(p) ?? hi)
      switch (spec.kind) {
        case 'latest':
          positions.set(p, hi)
          break
        case 'earliest':
          positions.set(p, floor)
          break
        case 'timestamp':
          positions.set(p, Math.min(hi, Math.max(floor, byTime?.get(p) ?? hi)))
          break
        case 'cursor': {
          // A partition the cursor does not know was added after it was issued: all of it is new.
          let pos = Math.min(fromCursor?.get(p) ?? lo, hi)
          if (history.kind === 'duration' && pos < floor && floor > lo) {
            gaps.push({ type: 'gap', partition: p, from_offset: pos, to_offset: floor - 1, reason: 'history_window' })
            pos = floor
          }
          if (pos < lo) {
            gaps.push({ type: 'gap', partition: p, from_offset: pos, to_offset: lo - 1, reason: 'retention' })
            pos = lo
          }
          positions.set(p, pos)
          break
        }
      }
    }
    return { positions, gaps }
  } catch (err) {
    throw new GatewayError('unavailable', 'the product topic is not reachable right now', { retryAfter: 5, cause: err })
  }
}
