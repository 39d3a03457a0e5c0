/**
 * Signing key rotation with overlap, end to end: the CLI edits the JWK Set, the
 * gateway reloads it (what SIGHUP does), and tokens behave as CONTRACT §4 says.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp, writeFile, readFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { request } from 'undici'
import { generateSigningJwk } from '../../src/auth/signing-keys.js'
import { testKafka } from '../helpers/kafka.js'
import { policiesWithTopics, REPO_ROOT } from '../helpers/policies.js'
import { startTestGateway } from '../helpers/gateway.js'
import { isStream, StreamClient } from '../helpers/stream-client.js'

const run = promisify(execFile)
const kidOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid
async function keysCli (...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [path.join(REPO_ROOT, 'dist', 'cli', 'main.js'), 'keys', ...args])
  return stdout
}

t.test('rotate, activate, prune', async t => {
  const kafka = testKafka()
  t.teardown(async () => { await kafka.close() })
  const topic = await kafka.createTopic('rotation', 1)
  const dir = await mkdtemp(path.join(os.tmpdir(), 'keys-'))
  const file = path.join(dir, 'signing-keys.json')
  const first = await generateSigningJwk('ES256')
  await writeFile(file, JSON.stringify({ keys: [first] }), { mode: 0o600 })
  const gw = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: topic }), env: { STREAMSHARE_SIGNING_KEYS: file } })
  const jwks = async (): Promise<string[]> => ((await (await request(gw.partnerUrl + '/.well-known/jwks.json')).body.json()) as { keys: Array<{ kid: string }> }).keys.map(k => k.kid)
  const streamStatus = async (token: string): Promise<number> => {
    const s = await StreamClient.open(gw.partnerUrl + '/v1/streams/orders', { token })
    if (isStream(s)) { s.close(); return 200 }
    return s.status
  }

  const { shareId, token: oldToken } = await gw.share(['orders'])
  t.equal(kidOf(oldToken), first.kid)

  // 1. rotate: the new key is published before it signs.
  const rotated = await keysCli('rotate', '--file', file)
  const nextKid = /added key (\S+)/.exec(rotated)?.[1] ?? ''
  t.not(nextKid, '')
  t.same((await gw.reload()).errors, [])
  t.same((await jwks()).sort(), [first.kid, nextKid].sort(), 'both keys published')
  const stillOld = await gw.adminApi('POST', `/admin/v1/shares/${shareId}/tokens`, {})
  t.equal(kidOf(stillOld.body.access_token), first.kid, '"next" does not sign yet')

  // 2. activate: new tokens use the new key, old tokens keep working.
  await keysCli('activate', '--file', file, '--kid', nextKid)
  await gw.reload()
  const fresh = await gw.adminApi('POST', `/admin/v1/shares/${shareId}/tokens`, {})
  t.equal(kidOf(fresh.body.access_token), nextKid, 'new tokens are signed by the new key')
  t.equal(await streamStatus(oldToken), 200, 'a token of the old key still works')
  t.equal(await streamStatus(fresh.body.access_token), 200)
  const stored = JSON.parse(await readFile(file, 'utf8')) as { keys: Array<{ kid: string, status: string }> }
  t.same(stored.keys.map(k => [k.kid, k.status]), [[first.kid, 'retired'], [nextKid, 'active']])

  // 3. prune (not before the old tokens expired — here forced with --older-than 0).
  t.match(await keysCli('prune', '--file', file, '--older-than', '3600'), /no retired key is old enough/)
  await keysCli('prune', '--file', file, '--older-than', '0')
  await gw.reload()
  t.same(await jwks(), [nextKid], 'only the new key is published')
  t.equal(await streamStatus(oldToken), 401, 'a token of the removed key no longer verifies')
  t.equal(await streamStatus(fresh.body.access_token), 200)

  // A broken key file is rejected; the keys in force stay.
  await writeFile(file, '{"keys": []}')
  const bad = await gw.reload()
  t.equal(bad.keys, 'failed')
  t.equal(await streamStatus(fresh.body.access_token), 200, 'last good keys still in force')
})
