/**
 * Cursors (CONTRACT §1, §5): an opaque, compact position in one product for one
 * share — the next offset of every partition — bound to share and product by a MAC.
 *
 * Wire form: base64url( version | count | (partition, offset)* | mac[12] ), numbers as
 * unsigned LEB128 varints. The MAC is HMAC-SHA-256 over share, product and payload,
 * so a cursor from another share or product, or a tampered one, is refused.
 */
import { timingSafeEqual } from 'node:crypto'
import { HmacSha256 } from '../auth/hmac-sha256.js'
import { GatewayError } from '../errors.js'
import type { PartitionOffsets } from '../kafka/types.js'

const VERSION = 1
const MAC_BYTES = 12
/** Far more than any real cursor (1000 partitions ≈ 7 KB encoded); refuses floods early. */
export const MAX_CURSOR_LENGTH = 16384
const MAX_PARTITIONS = 10000

/** Writes `value` as an unsigned LEB128 varint at `at`; returns the position after it. */
function writeVarint (out: Uint8Array, at: number, value: number): number {
  let v = value
  let i = at
  while (v >= 0x80) {
    out[i++] = (v % 0x80) | 0x80
    v = Math.floor(v / 0x80)
  }
  out[i++] = v
  return i
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

/** Where cursorPayload() assembles a payload before copying it out; grown on demand. */
let payloadScratch = new Uint8Array(256)

/**
 * The unsigned part of a cursor: the position vector, varint-encoded, partitions in
 * ascending order. Shared by all shares. HOT PATH: once per record in the tap.
 */
export function cursorPayload (positions: PartitionOffsets): Buffer {
  // A partition number takes ≤ 5 varint bytes, an offset (a safe integer) ≤ 8.
  const worst = 1 + 5 + positions.size * 13
  if (payloadScratch.length < worst) payloadScratch = new Uint8Array(worst * 2)
  const out = payloadScratch
  out[0] = VERSION
  let at = writeVarint(out, 1, positions.size)
  // Readers add partitions in ascending order, so the sort is almost always skipped.
  let previous = -1
  let sorted = true
  for (const p of positions.keys()) {
    if (p < previous) { sorted = false; break }
    previous = p
  }
  if (sorted) {
    for (const [p, offset] of positions) at = writeVarint(out, writeVarint(out, at, p), offset)
  } else {
    for (const p of [...positions.keys()].sort((a, b) => a - b)) at = writeVarint(out, writeVarint(out, at, p), positions.get(p) as number)
  }
  return Buffer.from(out.subarray(0, at))
}

/**
 * Moves a partition's next offset forward to `next` (never back): how a stream's
 * position follows the records it passes, on the main thread and in view workers.
 */
export function advancePosition (positions: PartitionOffsets, partition: number, next: number): void {
  if (next > (positions.get(partition) ?? -1)) positions.set(partition, next)
}

export class CursorCodec {
  /**
   * HMAC-SHA-256 in plain JS with the key's pads hashed once: a cursor is signed
   * for every record delivered in replay, and node:crypto's per-call object made
   * that a quarter of the replay path's CPU (see src/auth/hmac-sha256.ts).
   */
  private readonly hmac: HmacSha256
  /** `share \0 product \0` as bytes, per binding: encoded once, not per cursor. */
  private readonly prefixes = new Map<string, Buffer>()
  /** payload | mac of the cursor being sealed; grown for cursors of many partitions. */
  private scratch = Buffer.allocUnsafe(256)

  constructor (key: Buffer) {
    this.hmac = new HmacSha256(key)
  }

  /** The last prefix used: consecutive cursors are nearly always for the same stream. */
  private last: { shareId: string, product: string, prefix: Buffer } | undefined

  private prefix (shareId: string, product: string): Buffer {
    const last = this.last
    if (last !== undefined && last.shareId === shareId && last.product === product) return last.prefix
    const id = `${shareId}\u0000${product}\u0000`
    let prefix = this.prefixes.get(id)
    if (prefix === undefined) {
      prefix = Buffer.from(id, 'utf8')
      if (this.prefixes.size < 100_000) this.prefixes.set(id, prefix)
    }
    this.last = { shareId, product, prefix }
    return prefix
  }

  private mac (shareId: string, product: string, payload: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(MAC_BYTES)
    this.hmac.truncatedInto(this.prefix(shareId, product), payload, payload.length, MAC_BYTES, out, 0)
    return out
  }

  encode (shareId: string, product: string, positions: PartitionOffsets): string {
    return this.seal(shareId, product, cursorPayload(positions))
  }

  /** Signs a payload from cursorPayload() for one share and product. */
  seal (shareId: string, product: string, payload: Buffer): string {
    const length = payload.length + MAC_BYTES
    if (this.scratch.length < length) this.scratch = Buffer.allocUnsafe(length * 2)
    payload.copy(this.scratch, 0)
    this.hmac.truncatedInto(this.prefix(shareId, product), payload, payload.length, MAC_BYTES, this.scratch, payload.length)
    return this.scratch.toString('base64url', 0, length)
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
