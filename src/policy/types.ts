/**
 * The public shapes of compiled policies: what the stream engine, the catalog
 * endpoint and the admin preview use.
 */
import type { SchemaObject } from './json-schema.js'

/** A decoded record, as the record decoder produces it (header values as strings). */
export interface PolicyInput {
  value: unknown
  key: unknown
  headers: Readonly<Record<string, string>>
}

/** What one share receives for one record. */
export type PolicyOutcome =
  | { delivered: true, value: unknown, key: unknown, headers: Record<string, string> }
  | { delivered: false, reason: 'filtered' }
  | { delivered: false, reason: 'filter_error', error: string }

/**
 * A policy bound to one share. HOT PATH: one call per record and share (or per
 * record and policy version when `shareIndependent`). Never throws; does not
 * mutate its input. The outcome may share unchanged parts with the input: treat
 * both as read-only.
 */
export type PolicyView = (input: PolicyInput) => PolicyOutcome

/** What binding a policy to a share needs. */
export interface PolicyBinding {
  shareId: string
  /**
   * The per-share HMAC key for `hash` fields (≥ 16 bytes), derived by the caller:
   * `gatewaySecret.key('field-hash', shareId)`. See `bindPolicy` for a shortcut.
   */
  hashKey: Uint8Array
  /** The partner's attributes; non-string values are turned into strings (see policies/README.md). */
  partnerAttributes: Readonly<Record<string, unknown>>
  /**
   * The partner's id (`partner.id` in `where`). Required: a filter like
   * `record.headers["streamshare-partner"] == partner.id` must never be bound to a
   * default that some records could match.
   */
  partnerId: string
}

/** How a policy treats the record key (policy `key:`; default `keep`). */
export type KeyAction = 'keep' | 'hash' | 'drop'

export interface CompiledPolicy {
  readonly name: string
  readonly product: string
  readonly mode: 'allow' | 'deny'
  readonly version: string
  /** JSON Schema (2020-12) of the `value` a partner receives under this policy. */
  readonly outputSchema: SchemaObject
  /** Withheld property names as a word (see withheldMentions); undefined: none. */
  readonly withheldMentions: RegExp | undefined
  /** Kafka headers that pass (the allow-list). */
  readonly headers: readonly string[]
  readonly keyAction: KeyAction
  /** Whether a `where` filter exists. */
  readonly hasFilter: boolean
  /**
   * True when the outcome does not depend on the share (no `hash`, no `key: hash`,
   * and `where` does not read `partner`): one view per policy version can then be
   * computed once and sent to every share that uses this policy.
   */
  readonly shareIndependent: boolean
  /**
   * False when no outcome depends on the record's headers (none pass, and `where`
   * never reads them): a caller may then pass no headers and skip decoding them.
   */
  readonly readsHeaders: boolean
  /** Binds the policy to one share. Cheap (no compiling); call once per share and policy version. */
  bind (binding: PolicyBinding): PolicyView
}
