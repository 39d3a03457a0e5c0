/**
 * The value transforms behind field actions (CONTRACT §3). HOT PATH: each runs once
 * per field per delivered record, so nothing here parses options, builds a regular
 * expression or allocates more than its result. Options are bound once, when the
 * policy compiles.
 *
 * Every transform returns WITHHELD when the value has a shape it cannot handle
 * (an object where a string was expected, a string that is not a timestamp...):
 * the caller then leaves the field out. A value is never passed on raw because a
 * transform did not understand it.
 *
 * `null` stays `null` under every transform: it carries no content, and partners
 * can still tell "no value" from "a value".
 */
import { HmacSha256 } from '../auth/hmac-sha256.js'
import { canonicalJson } from './canonical-json.js'
import type { GeneralizeUnit } from '../catalog/types.js'

export const WITHHELD: unique symbol = Symbol('withheld')
export type Withheld = typeof WITHHELD

/** Per-binding state the transforms need (only `hash` needs any). */
export interface ActionContext {
  /** HMAC-SHA-256 under the per-share key. */
  readonly hasher: HmacSha256
  /**
   * Recent hash results of this binding (canonical text → digest). Even in plain JS an
   * HMAC costs about a microsecond, and hashed fields are often of low cardinality
   * (warehouses, regions, repeat customers). Bounded: cleared when full.
   */
  readonly hashCache: Map<string, string>
}

export const HASH_CACHE_SIZE = 512

export function actionContext (hashKey: Uint8Array): ActionContext {
  return { hasher: new HmacSha256(hashKey), hashCache: new Map() }
}

export type ValueTransform = (value: unknown, ctx: ActionContext) => unknown

/** True when an array holds only scalars (or arrays of scalars). */
function holdsOnlyScalars (value: readonly unknown[]): boolean {
  for (const item of value) {
    if (item !== null && typeof item === 'object') {
      if (!Array.isArray(item) || !holdsOnlyScalars(item)) return false
    }
  }
  return true
}

/**
 * `keep` in allow mode: scalars and arrays of scalars pass as they are. An object
 * (or an array holding one) is withheld: it could carry fields that nobody listed,
 * including ones added upstream after the policy was written. The loader already
 * refuses `keep` on object-typed paths; this guards schemas that leave a type open.
 */
export const keepScalar: ValueTransform = value => {
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value) && holdsOnlyScalars(value)) return value
  return WITHHELD
}

/** `keep` in deny mode: everything passes. */
export const keepAny: ValueTransform = value => value

/** `hash`: HMAC-SHA-256 of the canonical JSON text, keyed per share, base64url (43 chars). */
export const hashValue: ValueTransform = (value, ctx) => {
  if (value === null) return null
  const text = canonicalJson(value)
  let digest = ctx.hashCache.get(text)
  if (digest === undefined) {
    digest = ctx.hasher.base64url(text)
    if (ctx.hashCache.size >= HASH_CACHE_SIZE) ctx.hashCache.clear()
    ctx.hashCache.set(text, digest)
  }
  return digest
}

/** Counts code points, stopping early once `limit` is passed. */
function codePointLength (s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0xD800 && c <= 0xDBFF && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xDC00 && d <= 0xDFFF) i++
    }
    n++
  }
  return n
}

/** UTF-16 index where code point number `count` starts (or s.length). */
function codePointOffset (s: string, count: number): number {
  let i = 0
  for (let n = 0; n < count && i < s.length; n++) {
    const c = s.charCodeAt(i)
    i++
    if (c >= 0xD800 && c <= 0xDBFF && i < s.length) {
      const d = s.charCodeAt(i)
      if (d >= 0xDC00 && d <= 0xDFFF) i++
    }
  }
  return i
}

function maskText (text: string, keepFirst: number, keepLast: number): string {
  const length = codePointLength(text)
  // Showing keep_first + keep_last characters of a value that is not longer than
  // that would show all of it: such a value is masked completely.
  if (length <= keepFirst + keepLast) return '*'.repeat(length)
  const head = keepFirst === 0 ? '' : text.slice(0, codePointOffset(text, keepFirst))
  const tail = keepLast === 0 ? '' : text.slice(codePointOffset(text, length - keepLast))
  return head + '*'.repeat(length - keepFirst - keepLast) + tail
}

/**
 * `mask`: keep the first / last N characters (code points), one `*` per other
 * character (the length stays visible). Numbers and booleans are masked as their
 * JSON text. Objects and arrays are withheld.
 */
export function maskValue (keepFirst: number, keepLast: number): ValueTransform {
  return value => {
    if (value === null) return null
    if (typeof value === 'string') return maskText(value, keepFirst, keepLast)
    if (typeof value === 'number' || typeof value === 'boolean') return maskText(String(value), keepFirst, keepLast)
    return WITHHELD
  }
}

/** First `n` code points of a string (a surrogate pair is never split). */
export function truncateString (s: string, n: number): string {
  if (s.length <= n) return s
  return s.slice(0, codePointOffset(s, n))
}

/** Plain decimal text of a finite number (no exponent), exact for its shortest form. */
function plainDecimal (x: number): string {
  const s = String(x)
  const e = s.indexOf('e')
  if (e === -1) return s
  const negative = s.startsWith('-')
  const mantissa = s.slice(negative ? 1 : 0, e)
  const exponent = Number(s.slice(e + 1))
  const dot = mantissa.indexOf('.')
  const digits = dot === -1 ? mantissa : mantissa.slice(0, dot) + mantissa.slice(dot + 1)
  const pointAt = (dot === -1 ? mantissa.length : dot) + exponent
  let out: string
  if (pointAt <= 0) out = '0.' + '0'.repeat(-pointAt) + digits
  else if (pointAt >= digits.length) out = digits + '0'.repeat(pointAt - digits.length)
  else out = digits.slice(0, pointAt) + '.' + digits.slice(pointAt)
  return (negative ? '-' : '') + out
}

/**
 * A number cut to `decimals` decimals, rounding toward zero, so the result is never
 * more precise than asked (52.36769 → 52.3 with 1 decimal). Done on the decimal text,
 * not by multiplying, which would turn 0.29 into 0.28.
 */
export function truncateNumber (x: number, decimals: number): number {
  if (Number.isInteger(x) || !Number.isFinite(x)) return x === 0 ? 0 : x
  const text = plainDecimal(x)
  const dot = text.indexOf('.')
  if (dot === -1 || text.length - dot - 1 <= decimals) return x
  const cut = Number(text.slice(0, decimals === 0 ? dot : dot + 1 + decimals))
  return cut === 0 ? 0 : cut // never -0
}

/** `truncate`: strings to N code points, numbers to N decimals; other values are withheld. */
export function truncateValue (n: number): ValueTransform {
  return value => {
    if (value === null) return null
    if (typeof value === 'string') return truncateString(value, n)
    if (typeof value === 'number') return truncateNumber(value, n)
    return WITHHELD
  }
}

// RFC 3339 date-time and full-date. Compiled once, at module load.
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/
const FULL_DATE = /^(\d{4})-(\d{2})-(\d{2})$/
const UTC_DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?[Zz]$/

const UNIT_RANK: Record<GeneralizeUnit, number> = { second: 0, minute: 1, hour: 2, day: 3, month: 4 }
const MS: Record<Exclude<GeneralizeUnit, 'month'>, number> = { second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000 }

function pad (n: number, width: number): string {
  return String(n).padStart(width, '0')
}

/** Epoch milliseconds floored to the start of their UTC second/minute/hour/day/month. */
export function generalizeMillis (ms: number, unit: GeneralizeUnit): number {
  if (unit === 'month') {
    const d = new Date(ms)
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
  }
  const step = MS[unit]
  return Math.floor(ms / step) * step
}

/**
 * An RFC 3339 timestamp with every part finer than `unit` zeroed, in UTC (`Z`).
 * The text keeps its shape: a fraction stays as many zeros as it had digits.
 * A timestamp with an offset is first moved to UTC, so every partner's "day"
 * is the same UTC day. Returns undefined for text that is not RFC 3339.
 */
export function generalizeTimestamp (text: string, unit: GeneralizeUnit): string | undefined {
  // Fast path for the common form (UTC, `Z`): cut the text, no number parsing.
  const last = text.charCodeAt(text.length - 1)
  if ((last === 90 || last === 122) && UTC_DATE_TIME.test(text)) {
    const fraction = text.length > 20 ? '.' + '0'.repeat(text.length - 21) : ''
    switch (unit) {
      case 'second': return `${text.slice(0, 10)}T${text.slice(11, 19)}${fraction}Z`
      case 'minute': return `${text.slice(0, 10)}T${text.slice(11, 16)}:00${fraction}Z`
      case 'hour': return `${text.slice(0, 10)}T${text.slice(11, 13)}:00:00${fraction}Z`
      case 'day': return `${text.slice(0, 10)}T00:00:00${fraction}Z`
      case 'month': return `${text.slice(0, 8)}01T00:00:00${fraction}Z`
    }
  }
  const m = DATE_TIME.exec(text)
  if (m === null) {
    const d = FULL_DATE.exec(text)
    if (d === null) return undefined
    return unit === 'month' ? `${d[1]}-${d[2]}-01` : text
  }
  const fraction = m[7] === undefined ? '' : '.' + '0'.repeat(m[7].length - 1)
  const offset = m[8] as string
  let year = Number(m[1]); let month = Number(m[2]); let day = Number(m[3])
  let hour = Number(m[4]); let minute = Number(m[5]); let second = Number(m[6])
  if (offset !== 'Z' && offset !== 'z') {
    const sign = offset.startsWith('-') ? -1 : 1
    const shift = sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6))) * 60_000
    const utc = new Date(Date.UTC(year, month - 1, day, hour, minute, second) - shift)
    if (Number.isNaN(utc.getTime())) return undefined
    year = utc.getUTCFullYear(); month = utc.getUTCMonth() + 1; day = utc.getUTCDate()
    hour = utc.getUTCHours(); minute = utc.getUTCMinutes(); second = utc.getUTCSeconds()
  }
  const rank = UNIT_RANK[unit]
  if (rank >= 1) second = 0
  if (rank >= 2) minute = 0
  if (rank >= 3) hour = 0
  if (rank >= 4) day = 1
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}${fraction}Z`
}

/** `generalize`: RFC 3339 strings and epoch-millisecond numbers; anything else is withheld. */
export function generalizeValue (unit: GeneralizeUnit): ValueTransform {
  return value => {
    if (value === null) return null
    if (typeof value === 'string') return generalizeTimestamp(value, unit) ?? WITHHELD
    if (typeof value === 'number' && Number.isFinite(value)) return generalizeMillis(value, unit)
    return WITHHELD
  }
}
