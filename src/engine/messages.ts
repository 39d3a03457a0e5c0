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
