/**
 * `streamshare keys …`: generate a JWK Set for STREAMSHARE_SIGNING_KEYS and rotate
 * its keys with overlap (see src/auth/key-rotation.ts). After each step, reload every
 * gateway (SIGHUP, or a rolling restart).
 */
import { parseArgs } from 'node:util'
import { generateSigningJwk, SigningKeyError, type SigningAlgorithm } from '../auth/signing-keys.js'
import { activateKey, pruneKeys, rotateKey } from '../auth/key-rotation.js'

const USAGE = `usage:
  streamshare keys generate [--alg ES256|EdDSA]          print a new private JWK Set
  streamshare keys rotate --file F [--alg ES256|EdDSA]   add a key with status "next" (published, not signing)
  streamshare keys activate --file F --kid KID           make KID sign; the old key is retired (verifies only)
  streamshare keys prune --file F [--older-than SECONDS] remove keys retired longer ago than the longest token
                                                         lifetime (default STREAMSHARE_TOKEN_TTL_SECONDS or 86400)
after rotate, activate and prune: reload every gateway (kill -HUP <pid>, or a rolling restart)`

export async function keysCommand (args: string[]): Promise<number> {
  const [sub, ...rest] = args
  let values: { alg?: string | undefined, file?: string | undefined, kid?: string | undefined, 'older-than'?: string | undefined }
  try {
    values = parseArgs({ args: rest, options: { alg: { type: 'string', default: 'ES256' }, file: { type: 'string' }, kid: { type: 'string' }, 'older-than': { type: 'string' } } }).values
  } catch (err) {
    process.stderr.write(`streamshare: ${(err as Error).message}\n\n${USAGE}\n`)
    return 2
  }
  if (values.alg !== 'ES256' && values.alg !== 'EdDSA') {
    process.stderr.write('--alg must be ES256 or EdDSA\n')
    return 2
  }
  const alg = values.alg as SigningAlgorithm
  try {
    switch (sub) {
      case 'generate':
        process.stdout.write(JSON.stringify({ keys: [await generateSigningJwk(alg, 'active')] }, null, 2) + '\n')
        return 0
      case 'rotate': {
        if (values.file === undefined) break
        const key = await rotateKey(values.file, alg)
        process.stdout.write(`added key ${key.kid} (status next). Reload every gateway, wait until JWKS caches have it (5 min), then:\n  streamshare keys activate --file ${values.file} --kid ${key.kid}\n`)
        return 0
      }
      case 'activate':
        if (values.file === undefined || values.kid === undefined) break
        await activateKey(values.file, values.kid)
        process.stdout.write(`key ${values.kid} now signs; the previous key verifies until pruned. Reload every gateway.\n`)
        return 0
      case 'prune': {
        if (values.file === undefined) break
        const olderThan = Number(values['older-than'] ?? process.env.STREAMSHARE_TOKEN_TTL_SECONDS ?? 86400)
        if (!Number.isInteger(olderThan) || olderThan < 0) { process.stderr.write('--older-than must be a number of seconds\n'); return 2 }
        const removed = await pruneKeys(values.file, olderThan)
        process.stdout.write(removed.length === 0 ? 'no retired key is old enough to remove\n' : `removed ${removed.join(', ')}. Reload every gateway.\n`)
        return 0
      }
    }
  } catch (err) {
    if (err instanceof SigningKeyError) {
      process.stderr.write(`streamshare: ${err.message}\n`)
      return 1
    }
    throw err
  }
  process.stderr.write(USAGE + '\n')
  return 2
}
