/**
 * HMAC-SHA-256 (RFC 2104 / FIPS 180-4) for short messages under one fixed key, in
 * plain JavaScript. HOT PATH: the gateway computes one per delivered record for the
 * resume cursor, and one per hashed field for `hash`.
 *
 * Why not node:crypto: `createHmac(...).update(...).digest()` costs 3–4 µs per call on
 * Node 20 / OpenSSL 3, almost all of it in creating the native Hmac object and
 * crossing into C++ three times; the two or three SHA-256 blocks of a short message
 * take well under a microsecond. This keyed instance hashes the key's inner and outer
 * pads ONCE, then per message compresses only the message blocks and one outer block,
 * with no allocation but the result. It is checked bit for bit against node:crypto in
 * test/unit/hmac-sha256.test.ts (random keys, lengths across block edges, non-ASCII
 * and lone surrogates). Apart from the message length, the only branch on content is
 * whether the text is all ASCII (a faster encoder); verifiers compare MACs with
 * timingSafeEqual, and what is hashed is the partner's own data, not a secret.
 */
import { createHash } from 'node:crypto'

const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
])
const IV = Int32Array.from([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19])

/** Message schedule; its first 16 words are the block being compressed. Shared: JS is single-threaded. */
const W = new Int32Array(64)
/** Working state of the current HMAC. */
const H = new Int32Array(8)
/** Message bytes plus padding; grown for a longer message, given back after a very long one. */
const SCRATCH_BYTES = 1024
const SCRATCH_KEEP_BYTES = 65536
let scratch = new Uint8Array(SCRATCH_BYTES)
const encoder = new TextEncoder()
const BASE64URL = Array.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', c => c.charCodeAt(0))
const base64Codes: number[] = new Array<number>(43).fill(0)

/** One SHA-256 compression of W[0..15] into `h`. */
function compress (h: Int32Array): void {
  for (let i = 16; i < 64; i++) {
    const w15 = W[i - 15] as number
    const w2 = W[i - 2] as number
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3)
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10)
    W[i] = ((W[i - 16] as number) + s0 + (W[i - 7] as number) + s1) | 0
  }
  let a = h[0] as number; let b = h[1] as number; let c = h[2] as number; let d = h[3] as number
  let e = h[4] as number; let f = h[5] as number; let g = h[6] as number; let k = h[7] as number
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))
    const t1 = (k + s1 + ((e & f) ^ (~e & g)) + (K[i] as number) + (W[i] as number)) | 0
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0
    k = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0
  }
  h[0] = ((h[0] as number) + a) | 0; h[1] = ((h[1] as number) + b) | 0
  h[2] = ((h[2] as number) + c) | 0; h[3] = ((h[3] as number) + d) | 0
  h[4] = ((h[4] as number) + e) | 0; h[5] = ((h[5] as number) + f) | 0
  h[6] = ((h[6] as number) + g) | 0; h[7] = ((h[7] as number) + k) | 0
}

function loadBlock (bytes: Uint8Array, offset: number): void {
  for (let i = 0, o = offset; i < 16; i++, o += 4) {
    W[i] = ((bytes[o] as number) << 24) | ((bytes[o + 1] as number) << 16) | ((bytes[o + 2] as number) << 8) | (bytes[o + 3] as number)
  }
}

function ensureScratch (bytes: number): void {
  if (scratch.length < bytes) scratch = new Uint8Array(Math.max(bytes, scratch.length * 2))
}

/** UTF-8 of `text` into scratch (as Buffer.from(text, 'utf8') would: lone surrogates → U+FFFD); returns its length. */
function encodeText (text: string): number {
  const n = text.length
  ensureScratch(n * 3 + 72)
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i)
    if (c >= 0x80) return encoder.encodeInto(text, scratch).written
    scratch[i] = c
  }
  return n
}

export class HmacSha256 {
  private readonly inner = new Int32Array(8)
  private readonly outer = new Int32Array(8)

  constructor (key: Uint8Array) {
    // RFC 2104: a key longer than the block is replaced by its hash.
    const k = key.length > 64 ? createHash('sha256').update(key).digest() : key
    const pad = new Uint8Array(64)
    for (const [state, byte] of [[this.inner, 0x36], [this.outer, 0x5c]] as const) {
      for (let i = 0; i < 64; i++) pad[i] = (i < k.length ? k[i] as number : 0) ^ byte
      state.set(IV)
      loadBlock(pad, 0)
      compress(state)
    }
  }

  /** The MAC of scratch[0, length) into H. */
  private run (length: number): void {
    // Inner hash: ipad block (already in `inner`), then the message, 0x80, zeros and
    // the bit length of ipad + message as a 64-bit big-endian number.
    const blocks = Math.ceil((length + 9) / 64)
    const end = blocks * 64
    scratch[length] = 0x80
    for (let i = length + 1; i < end - 8; i++) scratch[i] = 0
    const bits = (64 + length) * 8
    const high = Math.floor(bits / 0x100000000)
    const low = bits >>> 0
    scratch[end - 8] = high >>> 24; scratch[end - 7] = high >>> 16; scratch[end - 6] = high >>> 8; scratch[end - 5] = high
    scratch[end - 4] = low >>> 24; scratch[end - 3] = low >>> 16; scratch[end - 2] = low >>> 8; scratch[end - 1] = low
    H.set(this.inner)
    for (let o = 0; o < end; o += 64) { loadBlock(scratch, o); compress(H) }
    // Outer hash: opad block (in `outer`), then the 32-byte inner digest in one padded block.
    for (let i = 0; i < 8; i++) W[i] = H[i] as number
    W[8] = 0x80000000 | 0
    for (let i = 9; i < 15; i++) W[i] = 0
    W[15] = (64 + 32) * 8
    H.set(this.outer)
    compress(H)
    // One huge hashed value must not pin megabytes for the life of the process.
    if (scratch.length > SCRATCH_KEEP_BYTES) scratch = new Uint8Array(SCRATCH_BYTES)
  }

  /** HMAC of the UTF-8 text, as base64url without padding (43 characters). */
  base64url (text: string): string {
    this.run(encodeText(text))
    // 32 bytes = 10 groups of 3 bytes (4 characters each) + 2 bytes (3 characters).
    let c = 0
    let carry = 0
    let carried = 0
    for (let i = 0; i < 8; i++) {
      const word = H[i] as number
      for (let shift = 24; shift >= 0; shift -= 8) {
        carry = (carry << 8) | ((word >>> shift) & 0xff)
        carried += 8
        while (carried >= 6) {
          carried -= 6
          base64Codes[c++] = BASE64URL[(carry >>> carried) & 0x3f] as number
        }
        carry &= (1 << carried) - 1
      }
    }
    base64Codes[c] = BASE64URL[(carry << (6 - carried)) & 0x3f] as number
    return String.fromCharCode.apply(null, base64Codes)
  }

  /**
   * The first `size` bytes (≤ 32) of the HMAC of `prefix` followed by `message`,
   * written into `out` at `at`.
   */
  truncatedInto (prefix: Uint8Array, message: Uint8Array, messageLength: number, size: number, out: Uint8Array, at: number): void {
    const length = prefix.length + messageLength
    ensureScratch(length + 72)
    scratch.set(prefix, 0)
    scratch.set(message.subarray(0, messageLength), prefix.length)
    this.run(length)
    for (let i = 0; i < size; i++) out[at + i] = ((H[i >> 2] as number) >>> (24 - 8 * (i & 3))) & 0xff
  }
}
