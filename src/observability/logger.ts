/**
 * The process logger (pino). Secrets never reach a log line: request serialisers keep
 * only the path (query strings may hold tickets and cursors), and redaction removes
 * credentials wherever an object that holds them is logged by mistake.
 */
import { pino, type Logger, type LoggerOptions } from 'pino'
import type { LogLevel } from '../config/config.js'

export type { Logger }

/** Compiled once by pino (fast-redact); paths are the places credentials live. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["sec-websocket-protocol"]',
  'headers.authorization',
  'authorization',
  'token', '*.token',
  'access_token', '*.access_token',
  'ticket', '*.ticket',
  'password', '*.password',
  'secret', '*.secret',
  'adminToken', '*.adminToken',
  'gatewaySecret', '*.gatewaySecret',
  'privateKey', '*.privateKey',
  'd', '*.d'
]

interface RequestLike {
  id?: unknown
  method?: string
  url?: string
  routeOptions?: { url?: string }
  socket?: { remoteAddress?: string }
  ip?: string
}

/** Only the path of a URL: the query string may carry a ticket or a cursor. */
export function pathOnly (url: string | undefined): string | undefined {
  if (url === undefined) return undefined
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

export const serializers = {
  req (req: RequestLike) {
    return { id: req.id, method: req.method, path: pathOnly(req.url), remote: req.ip ?? req.socket?.remoteAddress }
  },
  res (res: { statusCode?: number }) {
    return { status: res.statusCode }
  },
  err: pino.stdSerializers.err
}

export function loggerOptions (level: LogLevel, name = 'streamshare'): LoggerOptions {
  return {
    name,
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime
  }
}

export function createLogger (level: LogLevel, destination?: pino.DestinationStream): Logger {
  return destination === undefined ? pino(loggerOptions(level)) : pino(loggerOptions(level), destination)
}
