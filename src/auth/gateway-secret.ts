/**
 * The gateway secret keys everything that must be unforgeable but is not a token:
 * cursor MACs, tickets and the per-share HMAC of `hash` fields. Purpose-specific
 * keys are derived from it with HKDF, so one leaked derived key exposes nothing else.
 */
import { hkdfSync, randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'

export type KeyPurpose = 'cursor' | 'ticket' | 'field-hash'

export class GatewaySecret {
  private readonly secret: Buffer
  private readonly derived = new Map<string, Buffer>()

  constructor (secret: string | Buffer) {
    this.secret = Buffer.isBuffer(secret) ? secret : Buffer.from(secret, 'utf8')
  }

  /** A 32-byte key for one purpose (and optionally one scope, e.g. a share id). */
  key (purpose: KeyPurpose, scope = ''): Buffer {
    const id = `${purpose}\u0000${scope}`
    let key = this.derived.get(id)
    if (key === undefined) {
      key = Buffer.from(hkdfSync('sha256', this.secret, Buffer.from('streamshare.v1'), Buffer.from(id, 'utf8'), 32))
      // Bounded: per-share keys are few, and a revoked share's key is harmless to keep.
      if (this.derived.size < 100_000) this.derived.set(id, key)
    }
    return key
  }
}

/** Development secret: generated once into the dev state folder, shared by local instances. */
export async function loadOrCreateDevSecret (devStateDir: string, name = 'gateway-secret'): Promise<string> {
  const file = path.join(devStateDir, name)
  try {
    return (await readFile(file, 'utf8')).trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  await mkdir(devStateDir, { recursive: true, mode: 0o700 })
  const secret = randomBytes(32).toString('base64url')
  try {
    await writeFile(file, secret + '\n', { mode: 0o600, flag: 'wx' })
    return secret
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    return (await readFile(file, 'utf8')).trim()
  }
}
