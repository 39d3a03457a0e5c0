/** `streamshare keys generate`: a new private JWK Set to store as STREAMSHARE_SIGNING_KEYS. */
import { parseArgs } from 'node:util'
import { generateSigningJwk, type SigningAlgorithm } from '../auth/signing-keys.js'

export async function keysCommand (args: string[]): Promise<number> {
  const [sub, ...rest] = args
  if (sub !== 'generate') {
    process.stderr.write('usage: streamshare keys generate [--alg ES256|EdDSA]\n')
    return 2
  }
  const { values } = parseArgs({ args: rest, options: { alg: { type: 'string', default: 'ES256' } } })
  if (values.alg !== 'ES256' && values.alg !== 'EdDSA') {
    process.stderr.write('--alg must be ES256 or EdDSA\n')
    return 2
  }
  const key = await generateSigningJwk(values.alg as SigningAlgorithm, 'active')
  process.stdout.write(JSON.stringify({ keys: [key] }, null, 2) + '\n')
  return 0
}
