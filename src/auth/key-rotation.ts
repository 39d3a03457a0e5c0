/**
 * Key rotation with overlap, as file edits on the JWK Set (CONTRACT §4):
 *   rotate   → a new key with status `next`: published in the JWKS, not signing yet;
 *   activate → it signs; the previous active key becomes `retired` (verifies only);
 *   prune    → retired keys are removed once every token they signed has expired.
 * Each step is followed by a reload of every gateway (SIGHUP or a rolling restart).
 */
import { readFile } from 'node:fs/promises'
import { generateSigningJwk, SigningKeyError, SigningKeys, writePrivateFile, type SigningAlgorithm, type StoredJwk, type StoredJwkSet } from './signing-keys.js'

async function readSet (file: string): Promise<StoredJwkSet> {
  let set: StoredJwkSet
  try {
    set = JSON.parse(await readFile(file, 'utf8')) as StoredJwkSet
  } catch (err) {
    throw new SigningKeyError(`cannot read the JWK Set ${file}: ${(err as Error).message}`)
  }
  await SigningKeys.fromJwkSet(set)
  return set
}

async function writeSet (file: string, set: StoredJwkSet): Promise<void> {
  // Refuse to write a set the gateway could not load.
  await SigningKeys.fromJwkSet(set)
  await writePrivateFile(file, JSON.stringify(set, null, 2) + '\n')
}

export async function rotateKey (file: string, alg: SigningAlgorithm = 'ES256'): Promise<StoredJwk> {
  const set = await readSet(file)
  if (set.keys.some(k => k.status === 'next')) throw new SigningKeyError('a key with status "next" already exists: activate it first')
  const key = await generateSigningJwk(alg, 'next')
  // Mark the current signer explicitly, so adding a key never changes who signs.
  const signer = (await SigningKeys.fromJwkSet(set)).signingKid
  set.keys = set.keys.map(k => k.kid === signer ? { ...k, status: 'active' } : k)
  set.keys.push(key)
  await writeSet(file, set)
  return key
}

export async function activateKey (file: string, kid: string): Promise<void> {
  const set = await readSet(file)
  const target = set.keys.find(k => k.kid === kid)
  if (target === undefined) throw new SigningKeyError(`no key with kid ${kid}`)
  const now = new Date().toISOString()
  set.keys = set.keys.map(k => {
    if (k.kid === kid) return { ...k, status: 'active' }
    if (k.status === 'active' || k.status === undefined) return { ...k, status: 'retired', retired_at: now }
    return k
  })
  await writeSet(file, set)
}

/** Removes retired keys retired more than `olderThanSeconds` ago (the longest token lifetime). */
export async function pruneKeys (file: string, olderThanSeconds: number): Promise<string[]> {
  const set = await readSet(file)
  const cutoff = Date.now() - olderThanSeconds * 1000
  const removed = set.keys.filter(k => k.status === 'retired' && Date.parse(k.retired_at ?? '1970-01-01T00:00:00Z') <= cutoff).map(k => k.kid)
  set.keys = set.keys.filter(k => !removed.includes(k.kid))
  await writeSet(file, set)
  return removed
}
