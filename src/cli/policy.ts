/**
 * `streamshare policy check [dir]`: prints `file:line: message` per problem; non-zero on any.
 * `streamshare policy preview --product P --policy X [--partner ID] [--share ID] < record.json`:
 * what a partner would receive for that record, through the admin API.
 */
import path from 'node:path'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { checkCatalog, formatProblem } from '../catalog/load.js'
import { AdminApiError, AdminClient, DEFAULT_ADMIN_URL } from '../admin/client.js'

const USAGE = `usage:
  streamshare policy check [dir]
  streamshare policy preview --product P --policy X [--partner ID] [--share ID] [--key K] [--admin-url URL] < record.json`

async function preview (args: string[]): Promise<number> {
  let values
  try {
    values = parseArgs({ args, options: { product: { type: 'string' }, policy: { type: 'string' }, partner: { type: 'string' }, share: { type: 'string' }, key: { type: 'string' }, 'admin-url': { type: 'string' } } }).values
  } catch (err) {
    process.stderr.write(`streamshare: ${(err as Error).message}\n${USAGE}\n`)
    return 2
  }
  if (values.product === undefined || values.policy === undefined) {
    process.stderr.write(`streamshare: policy preview needs --product and --policy\n${USAGE}\n`)
    return 2
  }
  let record: unknown
  try {
    record = JSON.parse(readFileSync(0, 'utf8'))
  } catch {
    process.stderr.write('streamshare: standard input must be one JSON record value\n')
    return 2
  }
  const token = process.env.STREAMSHARE_ADMIN_TOKEN
  if (token === undefined || token === '') {
    process.stderr.write('streamshare: set STREAMSHARE_ADMIN_TOKEN to the admin token\n')
    return 2
  }
  const api = new AdminClient(values['admin-url'] ?? process.env.STREAMSHARE_ADMIN_URL ?? DEFAULT_ADMIN_URL, token)
  try {
    const result = await api.call('POST', '/admin/v1/policies/preview', {
      product: values.product,
      policy: values.policy,
      record,
      ...(values.key === undefined ? {} : { key: values.key }),
      ...(values.partner === undefined ? {} : { partner: values.partner }),
      ...(values.share === undefined ? {} : { share: values.share })
    })
    process.stdout.write(JSON.stringify(result, null, 2) + '\n')
    return 0
  } catch (err) {
    if (!(err instanceof AdminApiError)) throw err
    process.stderr.write(`streamshare: ${err.message}\n`)
    for (const e of err.problem.errors ?? []) process.stderr.write(`  ${e.path}: ${e.message}\n`)
    return 1
  }
}

export async function policyCommand (args: string[]): Promise<number> {
  const [sub, dirArg] = args
  if (sub === 'preview') return await preview(args.slice(1))
  if (sub !== 'check') {
    process.stderr.write(USAGE + '\n')
    return 2
  }
  const dir = path.resolve(dirArg ?? process.env.STREAMSHARE_POLICIES_DIR ?? './policies')
  const { catalog, problems } = await checkCatalog(dir)
  if (catalog === undefined) {
    for (const p of problems) process.stdout.write(formatProblem({ ...p, file: path.join(path.relative(process.cwd(), dir) || '.', p.file) }) + '\n')
    process.stderr.write(`${problems.length} problem${problems.length === 1 ? '' : 's'} in ${dir}\n`)
    return 1
  }
  const policies = [...catalog.products.values()].reduce((n, p) => n + p.policies.size, 0)
  process.stdout.write(`ok: ${catalog.products.size} products, ${policies} policies (catalog version ${catalog.version})\n`)
  return 0
}
