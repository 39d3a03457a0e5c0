#!/usr/bin/env node
/**
 * The `streamshare` command. Sub-commands live in their own modules; this file only
 * dispatches, so `streamshare --help` stays fast.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { PACKAGE_ROOT } from '../dev/local-kafka.js'

const USAGE = `streamshare — share live Kafka data products with partners

Usage:
  streamshare serve                 run the gateway (configuration from STREAMSHARE_* variables)
  streamshare dev                   local Kafka + demo data + gateway + a demo token
  streamshare partner create|list|show|update|delete …
  streamshare share create|list|show|update|revoke …
  streamshare share token create|list|revoke …
                                    the admin API (--admin-url, token from STREAMSHARE_ADMIN_TOKEN)
  streamshare policy check [dir]    validate a policies folder (default ./policies)
  streamshare policy preview --product P --policy X [--partner ID] < record.json
                                    what a partner would receive for that record
  streamshare demo produce          produce demo records to the demo products' topics
  streamshare keys generate [--alg ES256|EdDSA]
                                    print a new private JWK Set for STREAMSHARE_SIGNING_KEYS
  streamshare version

Every command reads the same STREAMSHARE_* environment variables as the gateway.`

function version (): string {
  const pkg = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }
  return pkg.version
}

async function main (argv: string[]): Promise<number | undefined> {
  const [command, ...rest] = argv
  switch (command) {
    case 'serve': {
      const { serve } = await import('./serve.js')
      await serve()
      return undefined
    }
    case 'dev': {
      const { dev } = await import('./dev.js')
      await dev()
      return undefined
    }
    case 'partner': {
      const { partnerCommand } = await import('./admin-commands.js')
      return await partnerCommand(rest)
    }
    case 'share': {
      const { shareCommand } = await import('./admin-commands.js')
      return await shareCommand(rest)
    }
    case 'policy': {
      const { policyCommand } = await import('./policy.js')
      return await policyCommand(rest)
    }
    case 'demo': {
      const { demoCommand } = await import('./demo.js')
      return await demoCommand(rest)
    }
    case 'keys': {
      const { keysCommand } = await import('./keys.js')
      return await keysCommand(rest)
    }
    case 'version':
    case '--version':
      process.stdout.write(version() + '\n')
      return 0
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n')
      return 0
    default:
      process.stderr.write(`streamshare: unknown command "${command}"\n\n${USAGE}\n`)
      return 2
  }
}

try {
  const code = await main(process.argv.slice(2))
  if (code !== undefined) process.exitCode = code
} catch (err) {
  // Expected failures (a broken policies folder, a bad key file) are one clear message.
  const { CatalogInvalidError } = await import('../catalog/load.js')
  const { SigningKeyError } = await import('../auth/signing-keys.js')
  if (err instanceof CatalogInvalidError || err instanceof SigningKeyError) {
    process.stderr.write(`streamshare: ${err.message}\n`)
    process.exit(2)
  }
  throw err
}
