/**
 * The gateway's token signing keys: a JWK Set with private keys (CONTRACT §4).
 *
 * Every key in the set verifies tokens and is published (public part only) at
 * /.well-known/jwks.json. Exactly one key signs: the one marked
 * `"status": "active"`, or else the first key without a status. Rotation with overlap:
 *   1. add a new key with `"status": "next"`  → published, verifies, does not sign;
 *   2. mark it `active` and the old one `retired` → new tokens use the new key,
 *      old tokens still verify;
 *   3. remove the retired key once the longest token it signed has expired.
 * (`streamshare keys` automates these steps.)
 */
import { randomUUID } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose'

export type SigningAlgorithm = 'ES256' | 'EdDSA'
export const SIGNING_ALGORITHMS: readonly SigningAlgorithm[] = ['ES256', 'EdDSA']
export type KeyStatus = 'next' | 'active' | 'retired'

/** A private JWK as stored in the key file; `status` is our own member. */
export interface StoredJwk extends JWK {
  kid: string
  alg: SigningAlgorithm
  status?: KeyStatus
  /** ISO time the key was created (informational). */
  created_at?: string
  /** ISO time the key stopped signing (`keys prune` removes it once tokens it signed expired). */
  retired_at?: string
}

export interface StoredJwkSet { keys: StoredJwk[] }

interface LoadedKey {
  kid: string
  alg: SigningAlgorithm
  status: KeyStatus | undefined
  publicJwk: JWK
  verifyKey: CryptoKey
  signKey: CryptoKey
}

export class SigningKeyError extends Error {
  constructor (message: string) { super(message); this.name = 'SigningKeyError' }
}

const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y', 'kid', 'alg', 'use'] as const

function publicPart (jwk: StoredJwk): JWK {
  const pub: JWK = {}
  for (const member of PUBLIC_MEMBERS) {
    const value = jwk[member]
    if (value !== undefined) (pub as Record<string, unknown>)[member] = value
  }
  pub.use = 'sig'
  return pub
}

export class SigningKeys {
  private readonly byKid: ReadonlyMap<string, LoadedKey>
  private readonly signer: LoadedKey
  /** The public JWK Set, serialised once: it is served on every JWKS request. */
  readonly jwksJson: string

  private constructor (keys: LoadedKey[]) {
    this.byKid = new Map(keys.map(k => [k.kid, k]))
    const active = keys.filter(k => k.status === 'active')
    if (active.length > 1) throw new SigningKeyError(`more than one key is marked active: ${active.map(k => k.kid).join(', ')}`)
    const signer = active[0] ?? keys.find(k => k.status === undefined)
    if (signer === undefined) throw new SigningKeyError('no key can sign: mark one key "status": "active"')
    this.signer = signer
    this.jwksJson = JSON.stringify({ keys: keys.map(k => k.publicJwk) })
  }

  static async fromJwkSet (set: unknown): Promise<SigningKeys> {
    const keys = (set as { keys?: unknown } | null)?.keys
    if (!Array.isArray(keys) || keys.length === 0) throw new SigningKeyError('not a JWK Set with at least one key')
    const loaded: LoadedKey[] = []
    const seen = new Set<string>()
    for (const [i, raw] of keys.entries()) {
      const jwk = raw as StoredJwk
      if (typeof jwk.kid !== 'string' || jwk.kid === '') throw new SigningKeyError(`key ${i}: missing kid`)
      if (seen.has(jwk.kid)) throw new SigningKeyError(`key ${i}: duplicate kid ${jwk.kid}`)
      seen.add(jwk.kid)
      if (!SIGNING_ALGORITHMS.includes(jwk.alg)) throw new SigningKeyError(`key ${jwk.kid}: alg must be ES256 or EdDSA`)
      if (typeof jwk.d !== 'string') throw new SigningKeyError(`key ${jwk.kid}: not a private key (no "d")`)
      if (jwk.alg === 'ES256' && (jwk.kty !== 'EC' || jwk.crv !== 'P-256')) throw new SigningKeyError(`key ${jwk.kid}: ES256 needs an EC P-256 key`)
      if (jwk.alg === 'EdDSA' && (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519')) throw new SigningKeyError(`key ${jwk.kid}: EdDSA needs an Ed25519 key`)
      const status = jwk.status
      if (status !== undefined && !['next', 'active', 'retired'].includes(status)) throw new SigningKeyError(`key ${jwk.kid}: status must be next, active or retired`)
      const publicJwk = publicPart(jwk)
      let signKey: CryptoKey
      let verifyKey: CryptoKey
      try {
        signKey = await importJWK(jwk, jwk.alg) as CryptoKey
        verifyKey = await importJWK(publicJwk, jwk.alg) as CryptoKey
      } catch {
        throw new SigningKeyError(`key ${jwk.kid}: cannot be imported`)
      }
      loaded.push({ kid: jwk.kid, alg: jwk.alg, status, publicJwk, verifyKey, signKey })
    }
    return new SigningKeys(loaded)
  }

  static async fromFile (file: string): Promise<SigningKeys> {
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (err) {
      throw new SigningKeyError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
    }
    let set: unknown
    try {
      set = JSON.parse(text)
    } catch {
      throw new SigningKeyError(`${file} is not valid JSON`)
    }
    return await SigningKeys.fromJwkSet(set)
  }

  get signingKid (): string { return this.signer.kid }
  get signingAlg (): SigningAlgorithm { return this.signer.alg }
  get signingKey (): CryptoKey { return this.signer.signKey }
  get kids (): string[] { return [...this.byKid.keys()] }

  /** Public key for a `kid` from our own set only; never fetched from anywhere else. */
  verificationKey (kid: string | undefined, alg: string | undefined): CryptoKey | undefined {
    if (kid === undefined) return undefined
    const key = this.byKid.get(kid)
    if (key === undefined || key.alg !== alg) return undefined
    return key.verifyKey
  }
}

/** A new private signing key in stored form. */
export async function generateSigningJwk (alg: SigningAlgorithm = 'ES256', status?: KeyStatus): Promise<StoredJwk> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) })
  const jwk = await exportJWK(privateKey)
  const kid = (await calculateJwkThumbprint(jwk)).slice(0, 16)
  return { ...jwk, kid, alg, use: 'sig', ...(status === undefined ? {} : { status }), created_at: new Date().toISOString() }
}

/** Writes a file atomically with owner-only permissions (keys and secrets). */
export async function writePrivateFile (file: string, contents: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${randomUUID()}.tmp`
  await writeFile(tmp, contents, { mode: 0o600 })
  await rename(tmp, file)
}

/**
 * Development keys: generated once into the dev state folder and reused, so several
 * local gateway instances (and the CLI) share them. Never used in production.
 */
export async function loadOrCreateDevSigningKeys (devStateDir: string): Promise<{ keys: SigningKeys, file: string, created: boolean }> {
  const file = path.join(devStateDir, 'signing-keys.json')
  try {
    return { keys: await SigningKeys.fromFile(file), file, created: false }
  } catch (err) {
    if (!(err instanceof SigningKeyError) || !err.message.includes('ENOENT')) throw err
  }
  const set: StoredJwkSet = { keys: [await generateSigningJwk('ES256', 'active')] }
  // Two instances starting together: the exclusive create picks one winner.
  await mkdir(devStateDir, { recursive: true, mode: 0o700 })
  try {
    await writeFile(file, JSON.stringify(set, null, 2) + '\n', { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    return { keys: await SigningKeys.fromFile(file), file, created: false }
  }
  return { keys: await SigningKeys.fromFile(file), file, created: true }
}
