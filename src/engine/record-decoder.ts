/**
 * Turns a Kafka record of a product into its key and value, checked against the
 * product schema. Pure and synchronous: it runs once per record on the hot path.
 */
import type { HeaderValue, KafkaRecord } from '../kafka/types.js'
import type { Product } from '../catalog/types.js'

export type DecodedRecord =
  | { ok: true, key: unknown, value: unknown }
  | { ok: false, reason: 'not_json' | 'schema' | 'key_not_json', detail: string }

export function decodeKey (product: Pick<Product, 'keyFormat'>, key: Buffer | null): { ok: true, key: unknown } | { ok: false } {
  if (product.keyFormat === 'none' || key === null) return { ok: true, key: null }
  if (product.keyFormat === 'string') return { ok: true, key: key.toString('utf8') }
  try {
    return { ok: true, key: JSON.parse(key.toString('utf8')) as unknown }
  } catch {
    return { ok: false }
  }
}

export function decodeRecord (product: Pick<Product, 'keyFormat' | 'validate'>, record: Pick<KafkaRecord, 'key' | 'value'>): DecodedRecord {
  const key = decodeKey(product, record.key)
  if (!key.ok) return { ok: false, reason: 'key_not_json', detail: 'key is not valid JSON' }
  // A tombstone (compacted topics: "this key is deleted") passes with a null value.
  if (record.value === null) return { ok: true, key: key.key, value: null }
  let value: unknown
  try {
    value = JSON.parse(record.value.toString('utf8'))
  } catch {
    return { ok: false, reason: 'not_json', detail: 'value is not valid JSON' }
  }
  if (!product.validate(value)) {
    const first = product.validate.errors?.[0]
    // Path and rule only: the offending value must not travel into logs or the quarantine reason.
    return { ok: false, reason: 'schema', detail: `${first?.instancePath === '' ? '/' : first?.instancePath ?? '/'} ${first?.message ?? 'does not match the schema'}` }
  }
  return { ok: true, key: key.key, value }
}

/** Header values as strings (the wire envelope is JSON). */
export function headerText (value: HeaderValue): string | undefined {
  if (value === undefined) return undefined
  if (Array.isArray(value)) return value.length === 0 ? undefined : headerText(value[value.length - 1])
  return Buffer.isBuffer(value) ? value.toString('utf8') : value
}

/** No headers, for a view whose outcome does not depend on them (CompiledPolicy.readsHeaders). */
export const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze(Object.create(null) as Record<string, string>)

/** Header values as strings, in a null-prototype object (a header named __proto__ is data). */
export function recordHeaders (raw: Record<string, HeaderValue>): Record<string, string> {
  const headers: Record<string, string> = Object.create(null) as Record<string, string>
  for (const name in raw) {
    const text = headerText(raw[name])
    if (text !== undefined) headers[name] = text
  }
  return headers
}
