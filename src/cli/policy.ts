/** `streamshare policy check [dir]`: prints `file:line: message` per problem; non-zero on any. */
import path from 'node:path'
import { checkCatalog, formatProblem } from '../catalog/load.js'

export async function policyCommand (args: string[]): Promise<number> {
  const [sub, dirArg] = args
  if (sub !== 'check') {
    process.stderr.write('usage: streamshare policy check [dir]\n')
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
