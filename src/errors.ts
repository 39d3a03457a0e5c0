/**
 * The one registry of error codes. Every error a partner or an admin can see is a
 * code from this table: it fixes the HTTP status, the problem title and (for
 * WebSocket) the close code, so transports never invent their own mapping.
 * Codes and statuses are part of the external contract (CONTRACT §8).
 */

export interface ErrorSpec {
  status: number
  title: string
  /** WebSocket close code when this error ends a connection. */
  wsClose?: number
}

export const ERROR_REGISTRY = {
  token_missing: { status: 401, title: 'Token missing', wsClose: 4401 },
  token_invalid: { status: 401, title: 'Token invalid', wsClose: 4401 },
  token_expired: { status: 401, title: 'Token expired', wsClose: 4401 },
  share_revoked: { status: 403, title: 'Share revoked', wsClose: 4403 },
  share_expired: { status: 403, title: 'Share expired', wsClose: 4403 },
  scope_missing: { status: 403, title: 'Scope missing' },
  origin_forbidden: { status: 403, title: 'Origin forbidden' },
  product_unknown: { status: 404, title: 'Product unknown' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  not_acceptable: { status: 406, title: 'Not acceptable' },
  conflict: { status: 409, title: 'Conflict' },
  cursor_invalid: { status: 400, title: 'Cursor invalid' },
  bad_request: { status: 400, title: 'Bad request', wsClose: 4400 },
  schema_invalid: { status: 400, title: 'Schema invalid' },
  payload_too_large: { status: 413, title: 'Payload too large', wsClose: 1009 },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  quota_exceeded: { status: 429, title: 'Quota exceeded', wsClose: 4429 },
  rate_limited: { status: 429, title: 'Rate limited', wsClose: 4429 },
  internal: { status: 500, title: 'Internal error', wsClose: 1011 },
  unavailable: { status: 503, title: 'Service unavailable', wsClose: 1013 }
} as const satisfies Record<string, ErrorSpec>

export type ErrorCode = keyof typeof ERROR_REGISTRY

/** One element of `errors` in a schema_invalid problem: where, and what is wrong (never the value). */
export interface FieldError {
  path: string
  message: string
}

export interface ProblemOptions {
  errors?: FieldError[]
  /** Seconds, for 429 and 503. */
  retryAfter?: number
  cause?: unknown
}

/** An error with a stable code. Thrown by any layer; rendered by the HTTP and WS layers. */
export class GatewayError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly detail: string
  readonly errors: FieldError[] | undefined
  readonly retryAfter: number | undefined

  constructor (code: ErrorCode, detail: string, options: ProblemOptions = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'GatewayError'
    this.code = code
    this.status = ERROR_REGISTRY[code].status
    this.detail = detail
    this.errors = options.errors
    this.retryAfter = options.retryAfter
  }

  get wsClose (): number {
    const spec: ErrorSpec = ERROR_REGISTRY[this.code]
    return spec.wsClose ?? 1011
  }
}

export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  code: ErrorCode
  errors?: FieldError[]
}

/** Problem type URIs are stable URNs, so they never point at a host we do not run. */
export function problemType (code: ErrorCode): string {
  return `urn:streamshare:problem:${code}`
}

/** RFC 9457 body for an error. Only code-chosen text goes in: never record data or secrets. */
export function toProblem (err: GatewayError): Problem {
  const body: Problem = {
    type: problemType(err.code),
    title: ERROR_REGISTRY[err.code].title,
    status: err.status,
    detail: err.detail,
    code: err.code
  }
  if (err.errors !== undefined) body.errors = err.errors
  return body
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

/** Extra response headers an error calls for (RFC 6750 challenge, Retry-After). */
export function problemHeaders (err: GatewayError): Record<string, string> {
  const headers: Record<string, string> = {}
  if (err.status === 401) {
    // CONTRACT §8 asks for error="invalid_token" on every 401, the missing-token case included.
    headers['www-authenticate'] = `Bearer realm="streamshare", error="invalid_token", error_description="${err.code}"`
  }
  if (err.retryAfter !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(err.retryAfter)))
  return headers
}
