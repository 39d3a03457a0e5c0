/**
 * Cursors (CONTRACT §1, §5): an opaque, compact position in one product for one
 * share — the next offset of every partition — bound to share and product by a MAC.
 *
 * Wire form: base64url( version | count | (partition, offset)* | mac[12] ), numbers as
 * unsigned LEB128 varints. The MAC is HMAC-SHA-256 over share, product and payload,
 * so a cursor from another share or product, or a tampered one, is refused.
 */
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto'
import { GatewayError } from '../errors.js'
import type { PartitionOffsets } from '../kafka/types.js'

const VERSION = 1
const MAC_BYTES = 12
/** Far more than any real cursor (1000 partitions ≈ 7 KB encoded); refuses floods early. */
export const MAX_CURSOR_LENGTH = 16384
const MAX_PARTITIONS = 10000

function writeVarint (out: number[], value: number): void {
  let v = value
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80)
    v = Math.floor(v / 0x80)
  }
  out.push(v)
}

function readVarint (buf: Buffer, pos: { i: number }): number {
  let result = 0
  let scale = 1
  for (let shift = 0; shift < 8; shift++) {
    if (pos.i >= buf.length) throw new Error('truncated')
    const byte = buf[pos.i++] as number
    result += (byte & 0x7f) * scale
    if ((byte & 0x80) === 0) {
      if (!Number.isSafeInteger(result)) throw new Error('offset too large')
      return result
    }
    scale *= 0x80
  }
  throw new Error('varint too long')
}

/** The unsigned part of a cursor: the position vector, varint-encoded. Shared by all shares. */
export function cursorPayload (positions: PartitionOffsets): Buffer {
  const bytes: number[] = [VERSION]
  const partitions = [...positions.keys()].sort((a, b) => a - b)
  writeVarint(bytes, partitions.length)
  for (const p of partitions) {
    writeVarint(bytes, p)
    writeVarint(bytes, positions.get(p) as number)
  }
  return Buffer.from(bytes)
}

export class CursorCodec {
  private readonly key: KeyObject
  /** `share \0 product \0` as bytes, per binding: encoded once, not per cursor. */
  private readonly prefixes = new Map<string, Buffer>()

  constructor (key: Buffer) {
    // A KeyObject: the key is imported once, not on every HMAC (measured: the
    // per-record cursor was a quarter of the replay path's CPU).
    this.key = createSecretKey(key)
  }

  private prefix (shareId: string, product: string): Buffer {
    const id = `${shareId}\u0000${product}\u0000`
    let prefix = this.prefixes.get(id)
    if (prefix === undefined) {
      prefix = Buffer.from(id, 'utf8')
      if (this.prefixes.size < 100_000) this.prefixes.set(id, prefix)
    }
    return prefix
  }

  private mac (shareId: string, product: string, payload: Buffer): Buffer {
    return createHmac('sha256', this.key)
      .update(this.prefix(shareId, product)).update(payload)
      .digest()
      .subarray(0, MAC_BYTES)
  }

  encode (shareId: string, product: string, positions: PartitionOffsets): string {
    return this.seal(shareId, product, cursorPayload(positions))
  }

  /** Signs a payload from cursorPayload() for one share and product. */
  seal (shareId: string, product: string, payload: Buffer): string {
    return Buffer.concat([payload, this.mac(shareId, product, payload)]).toString('base64url')
  }

  /** Throws GatewayError cursor_invalid for anything but a cursor we issued for this share and product. */
  decode (shareId: string, product: string, cursor: string): PartitionOffsets {
    const invalid = (why: string): GatewayError => new GatewayError('cursor_invalid', `cursor is invalid: ${why}`)
    if (cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid('not a cursor')
    const raw = Buffer.from(cursor, 'base64url')
    if (raw.length < 2 + MAC_BYTES) throw invalid('too short')
    // Base64 decoding drops stray trailing bits: accept only the one canonical spelling.
    if (raw.toString('base64url') !== cursor) throw invalid('not canonical')
    const payload = raw.subarray(0, raw.length - MAC_BYTES)
    const mac = raw.subarray(raw.length - MAC_BYTES)
    // Constant-time: a MAC must not be guessable byte by byte.
    if (!timingSafeEqual(mac, this.mac(shareId, product, payload))) throw invalid('not issued for this share and product, or altered')
    if (payload[0] !== VERSION) throw invalid('unknown version')
    const positions: PartitionOffsets = new Map()
    try {
      const pos = { i: 1 }
      const count = readVarint(payload, pos)
      if (count > MAX_PARTITIONS) throw new Error('too many partitions')
      for (let n = 0; n < count; n++) {
        const partition = readVarint(payload, pos)
        const offset = readVarint(payload, pos)
        if (positions.has(partition)) throw new Error('duplicate partition')
        positions.set(partition, offset)
      }
      if (pos.i !== payload.length) throw new Error('trailing bytes')
    } catch (err) {
      throw invalid((err as Error).message)
    }
    return positions
  }
}
