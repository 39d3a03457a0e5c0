/** The `streamshare` command as users run it (the built dist/). */
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp, mkdir, writeFile, cp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { REPO_ROOT, SHIPPED_POLICIES } from '../helpers/policies.js'
import { SigningKeys } from '../../src/auth/signing-keys.js'

const run = promisify(execFile)
const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'main.js')

async function cli (args: string[], env: Record<string, string> = {}): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, cwd: REPO_ROOT, timeout: 60000 })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number, stdout: string, stderr: string, killed?: boolean }
    if (e.killed === true) throw new Error(`streamshare ${args.join(' ')} did not finish within 60 s; stderr: ${e.stderr}`)
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

t.test('policy check passes on the shipped folder', async t => {
  const res = await cli(['policy', 'check', SHIPPED_POLICIES])
  t.equal(res.code, 0)
  t.match(res.stdout, /^ok: 4 products, \d+ policies/)
})

t.test('policy check lists file:line: message per problem and exits non-zero', async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'policy-check-'))
  await cp(SHIPPED_POLICIES, dir, { recursive: true })
  await writeFile(path.join(dir, 'products', 'broken.yaml'), 'name: broken\ntopic: sales.orders.v1\nowner: x\ndescription: y\nkey: string\nschema: ../schemas/orders.v1.json\npolicies:\n  p:\n    fields:\n      order_id: obliterate\n')
  const res = await cli(['policy', 'check', dir])
  t.equal(res.code, 1)
  const lines = res.stdout.trim().split('\n')
  t.ok(lines.length >= 1)
  for (const line of lines) t.match(line, /^[^:]+:\d+: .+/, 'file:line: message')
  t.match(res.stdout, /broken\.yaml:10: policy p: field order_id: unknown action "obliterate"/)
})

t.test('a bad configuration value exits non-zero with one line naming the variable', async t => {
  const res = await cli(['serve'], { STREAMSHARE_PORT: 'eighty' })
  t.equal(res.code, 2)
  const lines = res.stderr.trim().split('\n')
  t.equal(lines.length, 1, 'one line')
  t.match(lines[0], /STREAMSHARE_PORT/)
  const main = await run(process.execPath, [path.join(REPO_ROOT, 'dist', 'main.js')], { env: { PATH: process.env.PATH ?? '', STREAMSHARE_ADMIN_TOKEN: 'too-short' } }).catch((e: { code: number, stderr: string }) => e)
  t.equal((main as { code: number }).code, 2)
  t.match((main as { stderr: string }).stderr, /^streamshare: invalid configuration: STREAMSHARE_ADMIN_TOKEN: must be at least 32 characters/)
  t.notMatch((main as { stderr: string }).stderr, /too-short/, 'the secret is not echoed')
})

t.test('an invalid policies folder stops the gateway before it listens', async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'policy-bad-'))
  await mkdir(path.join(dir, 'products'))
  await writeFile(path.join(dir, 'products', 'x.yaml'), 'name: x\n')
  const res = await cli(['serve'], { STREAMSHARE_POLICIES_DIR: dir, STREAMSHARE_PORT: '0', STREAMSHARE_ADMIN_PORT: '0' })
  t.equal(res.code, 2)
  t.match(res.stderr, /x\.yaml:1: missing key "topic"/)
})

t.test('keys generate prints a usable private JWK Set', async t => {
  const res = await cli(['keys', 'generate'])
  t.equal(res.code, 0)
  const keys = await SigningKeys.fromJwkSet(JSON.parse(res.stdout))
  t.equal(keys.signingAlg, 'ES256')
})

t.test('help and unknown commands', async t => {
  const help = await cli(['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /streamshare serve/)
  t.match(help.stdout, /streamshare dev/)
  const unknown = await cli(['frobnicate'])
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /unknown command "frobnicate"/)
})

t.test('admin CLI: partner and share lifecycle against a real gateway', async t => {
  const { startTestGateway, TEST_ADMIN_TOKEN, uniqueId } = await import('../helpers/gateway.js')
  const { testKafka } = await import('../helpers/kafka.js')
  const { policiesWithTopics } = await import('../helpers/policies.js')
  const kafka = testKafka()
  t.teardown(async () => { await kafka.close() })
  const topic = await kafka.createTopic('cli-orders', 1)
  const gw = await startTestGateway(t, { policiesDir: await policiesWithTopics({ orders: topic }) })
  const env = { STREAMSHARE_ADMIN_TOKEN: TEST_ADMIN_TOKEN, STREAMSHARE_ADMIN_URL: gw.adminUrl, STREAMSHARE_ACTOR: 'ci' }
  const partner = uniqueId('cli')

  const created = await cli(['partner', 'create', '--id', partner, '--name', 'CLI Partner', '--contact', 'cli@example.com', '--attr', 'region=eu-west'], env)
  t.equal(created.code, 0, created.stderr)
  t.match(created.stdout, `created partner ${partner}`)
  const listed = await cli(['partner', 'list', '--json'], env)
  t.ok((JSON.parse(listed.stdout) as Array<{ id: string }>).some(p => p.id === partner))

  const share = await cli(['share', 'create', '--partner', partner, '--product', 'orders:partner-basic', '--history', 'P1D', '--max-connections', '3', '--json'], env)
  t.equal(share.code, 0, share.stderr)
  const body = JSON.parse(share.stdout) as { share: { id: string, quota: unknown }, token: { access_token: string, jti: string } }
  t.same(body.share.quota, { max_connections: 3 })
  const human = await cli(['share', 'list', '--partner', partner], env)
  t.match(human.stdout, /^ID\s+PARTNER\s+STATUS\s+PRODUCTS/)
  t.match(human.stdout, body.share.id)
  t.notMatch(human.stdout, body.token.access_token, 'tables never show tokens')

  const rotated = await cli(['share', 'token', 'create', body.share.id], env)
  t.equal(rotated.code, 0)
  t.match(rotated.stdout, /shown only now/)
  const revokedToken = await cli(['share', 'token', 'revoke', body.share.id, body.token.jti], env)
  t.equal(revokedToken.code, 0, revokedToken.stderr)
  const show = await cli(['share', 'show', body.share.id], env)
  t.match(show.stdout, /tokens:/)
  t.match(show.stdout, body.token.jti)

  const bad = await cli(['share', 'create', '--partner', partner, '--product', 'orders:no-such-policy'], env)
  t.equal(bad.code, 1)
  t.match(bad.stderr, /400 bad_request: /)
  t.match(bad.stderr, /\/products\/0\/policy: unknown policy/)
  const conflict = await cli(['partner', 'delete', partner], env)
  t.equal(conflict.code, 1)
  t.match(conflict.stderr, /409 conflict: .*active share/)
  const revoked = await cli(['share', 'revoke', body.share.id, '--reason', 'done'], env)
  t.equal(revoked.code, 0)
  t.equal((await cli(['partner', 'delete', partner], env)).code, 0)

  const noToken = await cli(['share', 'list'], { STREAMSHARE_ADMIN_URL: gw.adminUrl })
  t.equal(noToken.code, 2)
  t.match(noToken.stderr, /STREAMSHARE_ADMIN_TOKEN/)
  const wrongToken = await cli(['share', 'list'], { ...env, STREAMSHARE_ADMIN_TOKEN: 'x'.repeat(40) })
  t.equal(wrongToken.code, 1)
  t.match(wrongToken.stderr, /401 token_invalid/)

  const audit = await gw.adminApi('GET', `/admin/v1/audit?share=${body.share.id}`)
  t.ok(audit.body.records.every((r: { kind: string, actor?: string }) => r.kind !== 'admin' || r.actor === 'admin:ci'), 'the CLI names its actor')
})
