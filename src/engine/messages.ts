/** The messages of a stream (CONTRACT §5), identical on every transport. */

export interface RecordEnvelope {
  type: 'record'
  product: string
  partition: number
  offset: number
  timestamp: string
  key: unknown
  value: unknown
  headers: Record<string, string>
  policy_version: string
  cursor: string
}

export interface GapMessage {
  type: 'gap'
  partition: number
  from_offset: number
  to_offset: number
  /** retention: the records were deleted; history_window: they are older than the share may read. */
  reason: 'retention' | 'history_window'
  cursor?: string
}

export interface SkippedMessage {
  type: 'skipped'
  partition: number
  offset: number
  reason: 'schema'
  cursor?: string
}

export interface ExpiringMessage { type: 'expiring', seconds: number }
export interface RevokedMessage { type: 'revoked', reason: string }

export type StreamMessage = RecordEnvelope | GapMessage | SkippedMessage | ExpiringMessage | RevokedMessage

/** Why a stream ended, for logs, audit and metrics. */
export type StreamEndReason =
  | 'client_closed'
  | 'complete'
  | 'shutdown'
  | 'slow_consumer'
  | 'share_revoked'
  | 'token_revoked'
  | 'product_removed'
  | 'partner_deleted'
  | 'token_expired'
  | 'share_expired'
  | 'kafka_failure'
  /** This instance lost the share registry feed: it cannot tell whether access was revoked. */
  | 'registry_stale'
  | 'error'

/** End reasons that tell the client its access ended: a `revoked` message goes out first. */
export const ACCESS_END_REASONS: ReadonlySet<StreamEndReason> = new Set([
  'share_revoked', 'token_revoked', 'product_removed', 'partner_deleted', 'token_expired', 'share_expired'
])

/**
 * The same text as one flat string. V8 keeps `a + b` (and a template literal) as a
 * rope: a tree of its pieces. A rope kept for the ring's lifetime (a cached envelope
 * or frame) keeps every piece alive: a 339-character SSE frame held 1,148 B of heap
 * as a rope and 395 B flat, and every young-generation GC copies what the ring keeps
 * until it is promoted. Reading a character makes V8 flatten the rope in place, also
 * in optimised code; a test measures the memory, so a V8 that stopped doing it would
 * be noticed.
 */
export function flat (text: string): string {
  text.charCodeAt(0)
  return text
}

/**
 * A record envelope's JSON up to its cursor value, written field by field: the same
 * text as jsonPrefix() of the envelope (a test compares them), without copying the
 * envelope into a new object and serialising it whole (~5 µs of ~10 per record).
 */
export function recordPrefix (productJson: string, partition: number, offset: number, timestamp: number, key: unknown, value: unknown, headers: Record<string, string>, version: string): string {
  // JSON.stringify leaves out a property whose value is undefined.
  const keyPart = key === undefined ? '' : `"key":${JSON.stringify(key)},`
  return `{"type":"record","product":${productJson},"partition":${partition},"offset":${offset},"timestamp":"${isoTime(timestamp)}",${keyPart}"value":${JSON.stringify(value) ?? 'null'},"headers":${headersJson(headers)},"policy_version":${JSON.stringify(version)},"cursor":"`
}

/**
 * Records of one produce batch share their timestamp: the last one's ISO text is
 * kept (0.7 µs per Date and toISOString otherwise).
 */
let lastTimestamp = Number.NaN
let lastIso = ''
function isoTime (timestamp: number): string {
  if (timestamp !== lastTimestamp) {
    lastIso = new Date(timestamp).toISOString()
    lastTimestamp = timestamp
  }
  return lastIso
}

/**
 * JSON.stringify(headers) for string values, written key by key: headers objects have
 * a null prototype (a header may be named __proto__), and V8 serialises those
 * dictionary-mode objects about four times slower than this loop.
 */
function headersJson (headers: Record<string, string>): string {
  let json = '{'
  for (const name of Object.keys(headers)) {
    const text = headers[name]
    if (text === undefined) continue
    json += (json === '{' ? '' : ',') + JSON.stringify(name) + ':' + JSON.stringify(text)
  }
  return json + '}'
}

/** The JSON of a message up to its cursor value: `…,"cursor":"` (the cursor and `"}` follow). */
export function jsonPrefix (message: Record<string, unknown>): string {
  const json = JSON.stringify({ ...message, cursor: '' })
  return json.slice(0, -2)
}
