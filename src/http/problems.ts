/**
 * Renders every HTTP error as RFC 9457 problem+json (CONTRACT §8). Unexpected errors
 * become a generic 500: their message, stack and any broker address stay in the log.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GatewayError, PROBLEM_CONTENT_TYPE, problemHeaders, toProblem, type ErrorCode, type FieldError } from '../errors.js'

interface ValidationIssue { instancePath?: string, message?: string, params?: Record<string, unknown> }

/** Fastify/ajv validation issues as `{ path, message }`, never with the offending value. */
export function fieldErrors (issues: readonly ValidationIssue[], context?: string): FieldError[] {
  return issues.slice(0, 20).map(i => {
    let path = i.instancePath ?? ''
    const missing = i.params?.missingProperty
    const extra = i.params?.additionalProperty
    if (typeof missing === 'string') path = `${path}/${missing}`
    if (typeof extra === 'string') path = `${path}/${extra}`
    const where = context === undefined ? path : `${context}${path}`
    return { path: where === '' ? '/' : where, message: i.message ?? 'is invalid' }
  })
}

/** Maps framework errors (body parsing, validation, limits) onto our codes. */
export function toGatewayError (err: FastifyError | GatewayError | Error): GatewayError {
  if (err instanceof GatewayError) return err
  const e = err as FastifyError & { validation?: ValidationIssue[], validationContext?: string }
  if (e.validation !== undefined) {
    return new GatewayError('bad_request', `request ${e.validationContext ?? 'input'} is invalid`, { errors: fieldErrors(e.validation, e.validationContext) })
  }
  const byFastifyCode: Record<string, [ErrorCode, string]> = {
    FST_ERR_CTP_BODY_TOO_LARGE: ['payload_too_large', 'request body is too large'],
    FST_ERR_CTP_INVALID_MEDIA_TYPE: ['unsupported_media_type', 'unsupported content type'],
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['bad_request', 'content length does not match the body'],
    FST_ERR_CTP_EMPTY_JSON_BODY: ['bad_request', 'JSON body is empty'],
    FST_ERR_CTP_INVALID_JSON_BODY: ['bad_request', 'JSON body is not valid JSON'],
    FST_ERR_BAD_URL: ['bad_request', 'malformed URL']
  }
  const mapped = e.code === undefined ? undefined : byFastifyCode[e.code]
  if (mapped !== undefined) return new GatewayError(mapped[0], mapped[1])
  if (e.statusCode === 413) return new GatewayError('payload_too_large', 'request is too large')
  if (e instanceof SyntaxError || e.statusCode === 400) return new GatewayError('bad_request', 'request is malformed')
  if (e.statusCode === 415) return new GatewayError('unsupported_media_type', 'unsupported content type')
  return new GatewayError('internal', 'internal error', { cause: err })
}

export function sendProblem (reply: FastifyReply, err: GatewayError): FastifyReply {
  return reply
    .code(err.status)
    .headers(problemHeaders(err))
    .type(PROBLEM_CONTENT_TYPE)
    .send(toProblem(err))
}

export function installProblemHandlers (app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const problem = toGatewayError(err)
    if (problem.status >= 500) request.log.error({ err }, 'request failed')
    else request.log.debug({ code: problem.code }, 'request refused')
    return sendProblem(reply, problem)
  })
  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    return sendProblem(reply, new GatewayError('not_found', `no route for ${request.method} on this path`))
  })
}
