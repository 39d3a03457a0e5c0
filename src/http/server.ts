/**
 * Fastify instances for the two listeners, with the settings both share: our
 * logger, request ids, problem+json errors, and limits on sizes and timeouts.
 */
import { randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { TlsConfig } from '../config/config.js'
import type { Logger } from '../observability/logger.js'
import { installProblemHandlers } from './problems.js'
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default
const bodyAjv = new Ajv({ allErrors: false, coerceTypes: false, removeAdditional: false, useDefaults: false, strict: true })
const textAjv = new Ajv({ allErrors: false, coerceTypes: 'array', removeAdditional: false, useDefaults: true, strict: true })
addFormats(bodyAjv)
addFormats(textAjv)

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
  if (tls !== undefined) {
    // Refused handshakes (no or foreign client certificate) are worth seeing, not flooding.
    let logged = 0
    const window = setInterval(() => { logged = 0 }, 60_000)
    window.unref()
    app.server.on('tlsClientError', (err: Error & { code?: string }) => {
      if (logged++ < 20) options.logger.warn({ code: err.code, reason: err.message }, 'TLS handshake refused')
    })
    app.addHook('onClose', async () => { clearInterval(window) })
  }
  app.server.headersTimeout = 10_000
  app.server.maxHeadersCount = 100
  app.decorateRequest('principal', null)
  app.addHook('onSend', async (_request, reply) => {
    reply.header('x-content-type-options', 'nosniff')
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
  })
  // Query strings and path parameters are text: coerce them to the declared types.
  // Bodies are JSON: a wrong type is the client's error, never silently converted,
  // and unknown fields are refused (additionalProperties: false in the schemas).
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? bodyAjv : textAjv
    return ajv.compile(schema)
  })
  installProblemHandlers(app)
  return app
}
