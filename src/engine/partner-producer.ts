/**
 * Partner produce (CONTRACT §5, write access): records are checked against the
 * product's `write_schema` (compiled once), keys and headers against the product's
 * rules, sizes against limits — all before anything is written. A batch is written
 * all or nothing (one Kafka transaction), stamped with the partner and share ids,
 * and audited. Error details name paths and rules, never the offending values.
 */
import { GatewayError, type FieldError } from '../errors.js'
import type { Product } from '../catalog/types.js'
import { CommitOutcomeUnknown, ProduceQueueFull, type KafkaCluster } from '../kafka/cluster.js'
import type { ProducedOffset } from '../kafka/types.js'
import type { AuditLog } from '../observability/audit.js'
import type { Metrics } from '../observability/metrics.js'

export interface PartnerRecord {
  key?: unknown
  value: unknown
  headers?: Record<string, string>
}

export interface ProduceIdentity {
  shareId: string
  partnerId: string
  jti: string
}

export interface ProduceLimits {
  /** Largest encoded value of one record. */
  maxRecordBytes: number
  maxRecords: number
}

/** Headers the gateway stamps; partners may not set them. */
export const STAMP_PARTNER = 'streamshare-partner'
export const STAMP_SHARE = 'streamshare-share'
const RESERVED_PREFIX = 'streamshare-'
const HEADER_NAME = /^[A-Za-z0-9._-]{1,128}$/
const MAX_HEADERS = 32
const MAX_HEADER_VALUE = 4096
const MAX_KEY_BYTES = 4096

export class PartnerProducer {
  constructor (private readonly kafka: KafkaCluster, private readonly audit: AuditLog, private readonly limits: ProduceLimits, private readonly metrics?: Metrics) {}

  async produce (product: Product, who: ProduceIdentity, records: PartnerRecord[], meta: { transport: string, requestId?: string, pathPrefix?: (i: number) => string }): Promise<ProducedOffset[]> {
    const validate = product.validateWrite
    if (validate === undefined) throw new GatewayError('scope_missing', `product ${product.name} is not writable`)
    if (records.length === 0) throw new GatewayError('bad_request', 'no records')
    if (records.length > this.limits.maxRecords) throw new GatewayError('payload_too_large', `at most ${this.limits.maxRecords} records per request`)
    const at = meta.pathPrefix ?? ((i: number) => `/${i}`)
    const errors: FieldError[] = []
    const encoded = records.map((record, i) => {
      if (!validate(record.value)) {
        const first = validate.errors?.[0]
        errors.push({ path: `${at(i)}/value${first?.instancePath ?? ''}`, message: first?.message ?? 'does not match the write schema' })
        return undefined
      }
      const value = JSON.stringify(record.value)
      if (Buffer.byteLength(value) > this.limits.maxRecordBytes) {
        throw new GatewayError('payload_too_large', `record ${i}: value larger than ${this.limits.maxRecordBytes} bytes`)
      }
      const key = this.encodeKey(product, record.key, `${at(i)}/key`, errors)
      const headers = this.checkHeaders(record.headers, `${at(i)}/headers`, errors)
      return { key, value, headers: { ...headers, [STAMP_PARTNER]: who.partnerId, [STAMP_SHARE]: who.shareId } }
    })
    if (errors.length > 0) throw new GatewayError('schema_invalid', 'records do not match the write schema of the product; nothing was written', { errors: errors.slice(0, 50) })
    let offsets: ProducedOffset[]
    try {
      offsets = await this.kafka.produceAtomically(product.topic, encoded as Array<NonNullable<typeof encoded[number]>>)
    } catch (err) {
      if (err instanceof CommitOutcomeUnknown) {
        throw new GatewayError('unavailable', 'the write was not confirmed in time: the records may or may not have been written; read the stream before writing them again', { retryAfter: 5, cause: err })
      }
      if (err instanceof ProduceQueueFull) throw new GatewayError('unavailable', 'too many writes are waiting; nothing was written', { retryAfter: 1 })
      throw new GatewayError('unavailable', 'the records could not be written right now; nothing was written', { retryAfter: 5, cause: err })
    }
    this.metrics?.producedRecords.inc({ share: who.shareId, product: product.name }, offsets.length)
    const ranges: Record<string, { first: number, last: number }> = {}
    for (const { partition, offset } of offsets) {
      const r = ranges[String(partition)]
      if (r === undefined) ranges[String(partition)] = { first: offset, last: offset }
      else r.last = Math.max(r.last, offset)
    }
    this.audit.record({
      kind: 'produce',
      action: 'publish',
      share: who.shareId,
      partner: who.partnerId,
      product: product.name,
      transport: meta.transport,
      jti: who.jti,
      records: offsets.length,
      offsets: ranges,
      ...(meta.requestId === undefined ? {} : { request_id: meta.requestId })
    })
    return offsets
  }

  private encodeKey (product: Product, key: unknown, path: string, errors: FieldError[]): string | null {
    if (key === undefined || key === null) return null
    switch (product.keyFormat) {
      case 'none':
        errors.push({ path, message: 'this product has no keys' })
        return null
      case 'string':
        if (typeof key !== 'string') { errors.push({ path, message: 'must be a string' }); return null }
        if (Buffer.byteLength(key) > MAX_KEY_BYTES) { errors.push({ path, message: `must be at most ${MAX_KEY_BYTES} bytes` }); return null }
        return key
      case 'json': {
        const text = JSON.stringify(key)
        if (Buffer.byteLength(text) > MAX_KEY_BYTES) { errors.push({ path, message: `must be at most ${MAX_KEY_BYTES} bytes` }); return null }
        return text
      }
    }
  }

  private checkHeaders (headers: unknown, path: string, errors: FieldError[]): Record<string, string> {
    if (headers === undefined || headers === null) return {}
    if (typeof headers !== 'object' || Array.isArray(headers)) { errors.push({ path, message: 'must be an object of strings' }); return {} }
    const out: Record<string, string> = {}
    const entries = Object.entries(headers as Record<string, unknown>)
    if (entries.length > MAX_HEADERS) errors.push({ path, message: `at most ${MAX_HEADERS} headers` })
    for (const [name, value] of entries) {
      if (!HEADER_NAME.test(name)) errors.push({ path: `${path}/${name.slice(0, 64)}`, message: 'invalid header name' })
      else if (name.toLowerCase().startsWith(RESERVED_PREFIX)) errors.push({ path: `${path}/${name}`, message: 'reserved header name (set by the gateway)' })
      else if (typeof value !== 'string' || value.length > MAX_HEADER_VALUE) errors.push({ path: `${path}/${name}`, message: `must be a string of at most ${MAX_HEADER_VALUE} characters` })
      else Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true })
    }
    return out
  }
}
