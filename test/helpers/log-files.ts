/**
 * Every test gateway logs (level info, or STREAMSHARE_TEST_LOG_LEVEL) to a file in
 * .tap/gateway-logs; after the whole run, test/setup/after-run.mjs scans every line
 * for tokens, tickets and the admin secret (Quotas issue: logs never contain them).
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs'
import path from 'node:path'
import { REPO_ROOT } from './policies.js'

export const LOG_DIR = path.join(REPO_ROOT, '.tap', 'gateway-logs')
let n = 0

export function gatewayLogFile (): { path: string, stream: WriteStream } {
  mkdirSync(LOG_DIR, { recursive: true })
  const file = path.join(LOG_DIR, `${process.pid}-${++n}.log`)
  return { path: file, stream: createWriteStream(file, { flags: 'a' }) }
}
