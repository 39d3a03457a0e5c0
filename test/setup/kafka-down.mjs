// tap --after: stop the local broker if (and only if) kafka-up.mjs started it.
import { execFileSync } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const marker = path.join(root, '.tap', 'kafka-started-by-tests')

if (existsSync(marker)) {
  execFileSync(path.join(root, 'deploy', 'kafka', 'stop.sh'), { stdio: 'inherit' })
  rmSync(marker, { force: true })
}
