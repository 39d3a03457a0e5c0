/**
 * Fastify instances for the two listeners, with the settings both share: our
 * logger, request ids, problem+json errors, and limits on sizes and timeouts.
 */
import { randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { TlsConfig } from '../config/config.js'
import type { Logger } from '../observability/logger.js'
import { installProblemHandlers } from './problems.js'

export interface ServerOptions {
  logger: Logger
  tls?: TlsConfig | undefined
  bodyLimit?: number
}

export function createServer (options: ServerOptions): FastifyInstance {
  const base: FastifyServerOptions = {
    loggerInstance: options.logger,
    genReqId: () => randomBytes(8).toString('hex'),
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // Slowloris: a client must send its headers and body promptly.
    connectionTimeout: 0,
    requestTimeout: 30_000,
    keepAliveTimeout: 5_000,
    maxRequestsPerSocket: 1000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 200, ignoreTrailingSlash: false },
    ajv: { customOptions: { allErrors: false, coerceTypes: 'array', removeAdditional: true } }
  }
  const tls = options.tls
  // An HTTPS/1.1 server has the shape of the HTTP one; fastify's types only split them.
  const app = (tls === undefined
    ? Fastify(base)
    : Fastify({
      ...base,
      https: {
        cert: tls.cert,
        key: tls.key,
        minVersion: 'TLSv1.2',
        // A client CA turns on mutual TLS: without a certificate it signs, no handshake.
        ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true })
      }
    } as unknown as FastifyServerOptions)) as unknown as FastifyInstance
  app.server.headersTimeout = 10_000
  app.server.maxHeadersCount = 100
  app.decorateRequest('principal', null)
  app.addHook('onSend', async (_request, reply) => {
    reply.header('x-content-type-options', 'nosniff')
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
  })
  installProblemHandlers(app)
  return app
}
