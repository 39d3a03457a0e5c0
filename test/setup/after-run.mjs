// tap --after: runs once after every test file.
// 1. Scans every log line the test gateways wrote (.tap/gateway-logs) for secrets:
//    a JWT or a ticket (both start with base64url JSON, "eyJ"), the test admin token.
//    Any hit fails the run (Quotas issue: logs never contain tokens, tickets or secrets).
// 2. Stops the local broker if (and only if) kafka-up.mjs started it.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const marker = path.join(root, '.tap', 'kafka-started-by-tests')
const logDir = path.join(root, '.tap', 'gateway-logs')
const ADMIN_TOKEN = 'test-admin-token-4c1d9e0f7a2b5c8d3e6f' // test/helpers/gateway.ts
const SECRET = /eyJ[A-Za-z0-9_-]{16,}|test-admin-token-4c1d9e0f7a2b5c8d3e6f/

let failed = false
if (existsSync(logDir)) {
  let lines = 0
  for (const name of readdirSync(logDir)) {
    const text = readFileSync(path.join(logDir, name), 'utf8')
    for (const line of text.split('\n')) {
      if (line === '') continue
      lines++
      if (SECRET.test(line)) {
        failed = true
        console.error(`secret in a log line (${name}): ${line.slice(0, 300).replace(ADMIN_TOKEN, '<admin token>')}`)
      }
    }
  }
  console.error(`log scan: ${lines} lines from ${readdirSync(logDir).length} gateways, ${failed ? 'SECRETS FOUND' : 'no token, ticket or admin secret'}`)
  if (!failed) rmSync(logDir, { recursive: true, force: true })
}

if (existsSync(marker)) {
  execFileSync(path.join(root, 'deploy', 'kafka', 'stop.sh'), { stdio: 'inherit' })
  rmSync(marker, { force: true })
}
if (failed) process.exit(1)
