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
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, cwd: REPO_ROOT })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number, stdout: string, stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

t.test('policy check passes on the shipped folder', async t => {
  const res = await cli(['policy', 'check', SHIPPED_POLICIES])
  t.equal(res.code, 0)
  t.match(res.stdout, /^ok: 3 products, \d+ policies/)
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
