/** `streamshare serve`: config from the environment, then the gateway until a signal. */
import closeWithGrace from 'close-with-grace'
import { ConfigError, loadConfig, type Config } from '../config/config.js'
import { CatalogInvalidError } from '../catalog/load.js'
import { SigningKeyError } from '../auth/signing-keys.js'
import { startGateway, type Gateway } from '../gateway.js'
import { createLogger } from '../observability/logger.js'

/** Loads the config or exits with one line naming the variable. */
export function configOrExit (env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  try {
    return loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`streamshare: invalid configuration: ${err.message}\n`)
      process.exit(2)
    }
    throw err
  }
}

export async function serve (env: NodeJS.ProcessEnv = process.env): Promise<Gateway> {
  const config = configOrExit(env)
  const logger = createLogger(config.logLevel)
  let gateway: Gateway
  try {
    gateway = await startGateway(config, { logger })
  } catch (err) {
    if (err instanceof CatalogInvalidError || err instanceof SigningKeyError) {
      process.stderr.write(`streamshare: ${err.message}\n`)
      process.exit(2)
    }
    logger.fatal({ err }, 'gateway failed to start')
    process.exit(1)
  }
  // SIGHUP: reload signing keys and policies (key rotation, policy changes).
  process.on('SIGHUP', () => { void gateway.reload() })
  closeWithGrace({ delay: config.shutdownGraceMs + config.shutdownDelayMs, logger: false }, async ({ signal, err }) => {
    if (err !== undefined) logger.error({ err }, 'fatal error, shutting down')
    else logger.info({ signal }, 'signal received, shutting down')
    await gateway.close()
  })
  return gateway
}
