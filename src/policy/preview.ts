/**
 * What the admin preview (`POST /admin/v1/policies/preview`, `streamshare policy
 * preview`) shows: the record checked against the product schema as the stream
 * engine would, then the policy view of one share or of a preview scope.
 */
import type { GatewaySecret } from '../auth/gateway-secret.js'
import type { PolicyDefinition, Product } from '../catalog/types.js'

export interface PreviewRecord {
  value: unknown
  key?: unknown
  headers?: Readonly<Record<string, string>>
}

export type PreviewResult =
  | { delivered: true, output: { key: unknown, value: unknown, headers: Record<string, string> } }
  | { delivered: false, reason: 'filtered' }
  | { delivered: false, reason: 'filter_error', error: string }
  /** The record does not match the product schema: the stream would quarantine it. Paths and rules only, never values. */
  | { delivered: false, reason: 'schema', errors: Array<{ path: string, message: string }> }

export function previewPolicy (product: Product, policy: PolicyDefinition, record: PreviewRecord, options: {
  secret: GatewaySecret
  partnerAttributes?: Readonly<Record<string, unknown>>
  partnerId?: string
  /** Hash as this share would; default "preview", a scope no real share has. */
  shareId?: string
}): PreviewResult {
  if (record.value !== null && !product.validate(record.value)) {
    const errors = (product.validate.errors ?? []).map(e => ({ path: e.instancePath === '' ? '/' : e.instancePath, message: e.message ?? 'does not match the schema' }))
    return { delivered: false, reason: 'schema', errors }
  }
  const shareId = options.shareId ?? 'preview'
  // A preview for no partner in particular binds an empty id, which no partner has.
  const view = policy.compiled.bind({ shareId, hashKey: options.secret.key('field-hash', shareId), partnerAttributes: options.partnerAttributes ?? {}, partnerId: options.partnerId ?? '' })
  const out = view({ value: record.value, key: record.key ?? null, headers: record.headers ?? {} })
  if (!out.delivered) return out
  return { delivered: true, output: { key: out.key, value: out.value, headers: out.headers } }
}
