/**
 * Fastify instances for the two listeners, with the settings both share: our
 * logger, request ids, problem+json errors, and limits on sizes and timeouts.
 */
import { randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Config, TlsConfig } from '../config/config.js'
import type { Logger } from '../observability/logger.js'
import { installProblemHandlers } from './problems.js'
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default
const bodyAjv = new Ajv({ allErrors: false, coerceTypes: false, removeAdditional: false, useDefaults: false, strict: true })
const textAjv = new Ajv({ allErrors: false, coerceTypes: 'array', removeAdditional: false, useDefaults: true, strict: true })
addFormats(bodyAjv)
addFormats(textAjv)

/** Slowloris and resource limits of a listener (edge hardening). */
export interface HttpLimits {
  headersTimeoutMs: number
  requestTimeoutMs: number
  maxHeaderBytes: number
  keepAliveTimeoutMs: number
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, maxHeaderBytes: 16_384, keepAliveTimeoutMs: 5_000 }

export interface ServerOptions {
  logger: Logger
  tls?: TlsConfig | undefined
  bodyLimit?: number
  limits?: HttpLimits
  /** Proxies whose X-Forwarded-For names the client (request.ip); see STREAMSHARE_TRUST_PROXY. */
  trustProxy?: string[] | undefined
}

export function createServer (options: ServerOptions): FastifyInstance {
  const limits = options.limits ?? DEFAULT_HTTP_LIMITS
  // Node enforces the header and request timeouts on this interval (default 30 s):
  // check often enough that a slowloris connection is cut close to the timeout.
  const checkEvery = Math.max(250, Math.min(5000, Math.floor(limits.headersTimeoutMs / 4)))
  const base: FastifyServerOptions = {
    loggerInstance: options.logger,
    genReqId: () => randomBytes(8).toString('hex'),
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // Slowloris: a client must send its headers and body promptly. (No socket idle
    // timeout: streams are long and quiet; heartbeats and pings keep them honest.)
    connectionTimeout: 0,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    maxRequestsPerSocket: 1000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 200, ignoreTrailingSlash: false },
    ...(options.trustProxy === undefined ? {} : { trustProxy: options.trustProxy })
  }
  const tls = options.tls
  // An HTTPS/1.1 server has the shape of the HTTP one; fastify's types only split them.
  const app = (tls === undefined
    ? Fastify({ ...base, http: { maxHeaderSize: limits.maxHeaderBytes, connectionsCheckingInterval: checkEvery } } as FastifyServerOptions)
    : Fastify({
      ...base,
      https: {
        cert: tls.cert,
        key: tls.key,
        minVersion: 'TLSv1.2',
        maxHeaderSize: limits.maxHeaderBytes,
        connectionsCheckingInterval: checkEvery,
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
  app.server.headersTimeout = limits.headersTimeoutMs
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

export function httpLimits (config: Readonly<Config>): HttpLimits {
  return {
    headersTimeoutMs: config.httpHeadersTimeoutMs,
    requestTimeoutMs: config.httpRequestTimeoutMs,
    maxHeaderBytes: config.httpMaxHeaderBytes,
    keepAliveTimeoutMs: config.httpKeepAliveTimeoutMs
  }
}
