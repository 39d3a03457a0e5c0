/**
 * Canonical JSON text: object keys sorted, no whitespace. Used for policy versions
 * (a version must not depend on key order or layout) and as the input of `hash`
 * (the same value hashes the same however it was written upstream, and the string
 * "1" never hashes like the number 1).
 */
export function canonicalJson (value: unknown): string {
  if (Array.isArray(value)) {
    let out = '['
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ','
      const item: unknown = value[i]
      // As JSON.stringify does: a hole or undefined in an array is null.
      out += item === undefined ? 'null' : canonicalJson(item)
    }
    return out + ']'
  }
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort(compareCodeUnits)
    let out = '{'
    let first = true
    for (const k of keys) {
      const v = (value as Record<string, unknown>)[k]
      if (v === undefined) continue
      if (!first) out += ','
      first = false
      out += JSON.stringify(k) + ':' + canonicalJson(v)
    }
    return out + '}'
  }
  // Strings, finite numbers, booleans, null. JSON has no other scalars; a stray
  // undefined (not JSON) is written as null so the result is always JSON text.
  return JSON.stringify(value) ?? 'null'
}

function compareCodeUnits (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
