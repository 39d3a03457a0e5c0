/**
 * A private copy of the shipped policies folder whose products point at unique test
 * topics, so test files can run in parallel against one broker.
 */
import { cp, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const SHIPPED_POLICIES = path.join(REPO_ROOT, 'policies')

/** Copies policies/ to a temp dir; `topics` maps product name → topic to use instead. */
export async function policiesWithTopics (topics: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'streamshare-policies-'))
  await cp(SHIPPED_POLICIES, dir, { recursive: true })
  for (const file of await readdir(path.join(dir, 'products'))) {
    const name = file.replace(/\.ya?ml$/, '')
    const topic = topics[name]
    if (topic === undefined) continue
    const full = path.join(dir, 'products', file)
    const text = await readFile(full, 'utf8')
    await writeFile(full, text.replace(/^topic: .*$/m, `topic: ${topic}`))
  }
  return dir
}
