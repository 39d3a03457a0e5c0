/**
 * Messages between the view worker pool (view-workers.ts) and its threads
 * (view-worker.ts). Only plain data crosses: a thread compiles its own copy of a
 * product schema and policy from the same sources the catalog compiled.
 */
import type { KeyFormat } from '../catalog/types.js'
import type { PolicySource } from '../policy/index.js'

/** What a thread is started with. */
export interface ViewWorkerData {
  /** The cursor MAC key (GatewaySecret.key('cursor')): threads sign the cursors of what they compute. */
  cursorKey: Uint8Array
}

/** Everything a thread needs to compute one share binding's views exactly as the main thread does. */
export interface ViewBindingSpec {
  product: { name: string, keyFormat: KeyFormat, schema: Record<string, unknown>, schemaFile: string }
  /** `key` is the resolved key action (never undefined). */
  policy: PolicySource
  shareId: string
  partnerId: string
  partnerAttributes: Record<string, unknown>
  /** The share's `hash` key (GatewaySecret.key('field-hash', shareId)). */
  hashKey: Uint8Array
}

/** Per-record words in ViewJob.layout. */
export const LAYOUT_WORDS = 5
export const LAYOUT_PARTITION = 0
export const LAYOUT_KEY_START = 1
/** -1: null. */
export const LAYOUT_KEY_LENGTH = 2
export const LAYOUT_VALUE_START = 3
/** -1: null (a tombstone). */
export const LAYOUT_VALUE_LENGTH = 4

/** Per-record words in ViewJob.numbers. */
export const NUMBER_WORDS = 2
export const NUMBER_OFFSET = 0
export const NUMBER_TIMESTAMP = 1

export interface ViewJob {
  id: number
  /** Identifies the binding (catalog version, share, policy version, partner change). */
  bindingKey: string
  /** Sent the first time this thread sees `bindingKey`. */
  binding?: ViewBindingSpec
  /** Bindings the pool no longer tracks for this thread. */
  forget?: string[]
  count: number
  /**
   * The stream's position vector before these records ([partition, next offset]*):
   * record i's cursor is it with the record's partition at offset + 1. Undefined: no
   * cursors (the caller signs them).
   */
  positions: Float64Array | undefined
  /** Keys and values of every record, back to back (transferred, not copied). */
  bytes: ArrayBuffer
  layout: Int32Array
  numbers: Float64Array
  /** Header names and values as text, alternating; undefined: no headers. */
  headers: Array<string[] | undefined>
}

/** Per-record outcome in ViewJobResult.kinds. */
export const VIEW_RECORD = 0
export const VIEW_FILTERED = 1
export const VIEW_FILTER_ERROR = 2
export const VIEW_SKIPPED_NOT_JSON = 3
export const VIEW_SKIPPED_SCHEMA = 4
export const VIEW_SKIPPED_KEY_NOT_JSON = 5

export interface ViewJobResult {
  id: number
  /** One VIEW_* per record. */
  kinds: Uint8Array
  /**
   * Per record, back to back: the envelope of a delivered record (up to its cursor's
   * value when the job had no positions, complete with its cursor otherwise), the
   * detail of a skipped one, nothing otherwise. One string crosses threads as one copy; each
   * record's text is a slice of it (see resultText).
   */
  text: string
  /** Where each record's text ends in `text`. */
  ends: Int32Array
  /** The job failed as a whole (the caller computes it itself). */
  error?: string
}

/** Record `i`'s text in a result. */
export function resultText (result: ViewJobResult, i: number): string {
  return result.text.slice(i === 0 ? 0 : result.ends[i - 1], result.ends[i])
}

/** The cursor of a complete envelope: its last string value (`…,"cursor":"<cursor>"}`; base64url has no quotes). */
export function envelopeCursor (json: string): string {
  return json.slice(json.lastIndexOf('"', json.length - 3) + 1, json.length - 2)
}
