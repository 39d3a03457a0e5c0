/**
 * Syntax of policy field paths and field actions (CONTRACT §3). Pure functions that
 * return a message instead of throwing, so the loader can report every problem at once.
 */
import type { FieldActionSpec } from './types.js'

export const GENERALIZE_UNITS = ['second', 'minute', 'hour', 'day', 'month'] as const
const MAX_MASK = 256
const MAX_TRUNCATE = 1_000_000

/** One step of a field path: a property name, and whether `[*]` follows it. */
export interface PathSegment {
  name: string
  /** Number of `[*]` after the name (arrays of arrays are allowed). */
  arrays: number
}

const SEGMENT = /^([A-Za-z_$][A-Za-z0-9_$-]*)((?:\[\*\])*)$/

export function parseFieldPath (path: string): PathSegment[] | string {
  if (path.length === 0 || path.length > 512) return 'field path must be 1 to 512 characters'
  const segments: PathSegment[] = []
  for (const part of path.split('.')) {
    const match = SEGMENT.exec(part)
    if (match === null) return `invalid field path "${path}": use dot paths with [*] for array elements, e.g. items[*].sku`
    segments.push({ name: match[1] as string, arrays: (match[2] ?? '').length / 3 })
  }
  return segments
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function isCount (value: unknown, max: number): value is number {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= max
}

/** Returns a message when `value` is not a valid field action, undefined when it is. */
export function checkFieldAction (value: unknown): string | undefined {
  if (typeof value === 'string') {
    return value === 'keep' || value === 'drop' || value === 'hash'
      ? undefined
      : `unknown action "${value}" (expected keep, drop, hash, generalize, mask or truncate)`
  }
  if (!isPlainObject(value)) return 'an action is keep, drop, hash or an object like { mask: { keep_last: 4 } }'
  const keys = Object.keys(value)
  if (keys.length !== 1) return `an action object has exactly one key, got ${keys.length === 0 ? 'none' : keys.join(', ')}`
  const [action] = keys as [string]
  const option = value[action]
  switch (action) {
    case 'generalize':
      return typeof option === 'string' && (GENERALIZE_UNITS as readonly string[]).includes(option)
        ? undefined
        : `bad option for generalize: expected one of ${GENERALIZE_UNITS.join(', ')}`
    case 'truncate':
      return isCount(option, MAX_TRUNCATE) ? undefined : `bad option for truncate: expected an integer 0-${MAX_TRUNCATE}`
    case 'mask': {
      if (!isPlainObject(option)) return 'bad option for mask: expected { keep_last: N } or { keep_first: N }'
      const names = Object.keys(option)
      if (names.length === 0) return 'bad option for mask: give keep_last or keep_first'
      for (const name of names) {
        if (name !== 'keep_last' && name !== 'keep_first') return `bad option for mask: unknown option "${name}" (keep_last, keep_first)`
        if (!isCount(option[name], MAX_MASK)) return `bad option for mask: ${name} must be an integer 0-${MAX_MASK}`
      }
      return undefined
    }
    default:
      return `unknown action "${action}" (expected keep, drop, hash, generalize, mask or truncate)`
  }
}

export function isFieldAction (value: unknown): value is FieldActionSpec {
  return checkFieldAction(value) === undefined
}
