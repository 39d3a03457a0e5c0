/**
 * What the share registry holds (CONTRACT §1, §7): partners, shares and token
 * records. Token records carry metadata only (never the token itself); a revoked
 * token is a token record with `revoked_at`.
 */
import type { Access } from '../auth/tokens.js'

export interface Partner {
  id: string
  name: string
  contact: string
  /** Free key/values, usable in policies as `partner.attributes`. */
  attributes: Record<string, string>
  /** Browser origins allowed to call the partner API with this partner's shares. */
  allowed_origins: string[]
  created_at: string
  updated_at: string
}

export interface ShareQuota {
  max_connections?: number
  messages_per_second?: number
  bytes_per_second?: number
  requests_per_minute?: number
}

export interface ShareGrant {
  product: string
  policy: string
  access: Access[]
}

export type ShareStatus = 'active' | 'revoked' | 'expired'

export interface Share {
  id: string
  partner: string
  products: ShareGrant[]
  quota: ShareQuota
  /** `none`, an ISO 8601 duration (e.g. P7D) or `all`: how far back a stream may start. */
  history: string
  expires_at: string | null
  description: string
  /** Stored status: `active` or `revoked`. `expired` is derived from `expires_at`. */
  status: 'active' | 'revoked'
  revoked_at: string | null
  revoke_reason: string | null
  created_at: string
  updated_at: string
}

export interface TokenRecord {
  jti: string
  share: string
  partner: string
  scopes: string[]
  issued_at: string
  expires_at: string
  revoked_at: string | null
  revoke_reason: string | null
}

/** One record of the registry topic, keyed `<kind>/<id>`. */
export type RegistryEntry =
  | { kind: 'partner', data: Partner }
  | { kind: 'share', data: Share }
  | { kind: 'token', data: TokenRecord }

export type RegistryKind = RegistryEntry['kind']

/** The registry changed: streams of this share (or token) must be re-checked. */
export type RegistryChange =
  | { kind: 'partner', id: string, partner: Partner | undefined }
  | { kind: 'share', id: string, share: Share | undefined }
  | { kind: 'token', id: string, token: TokenRecord | undefined }

export function shareStatus (share: Share, now = Date.now()): ShareStatus {
  if (share.status === 'revoked') return 'revoked'
  if (share.expires_at !== null && Date.parse(share.expires_at) <= now) return 'expired'
  return 'active'
}
