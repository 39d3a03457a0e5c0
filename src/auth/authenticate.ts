/**
 * Partner authentication for HTTP routes: `Authorization: Bearer <token>` only.
 * Tokens in query strings are refused outright (they end up in proxy logs).
 */
import type { FastifyRequest } from 'fastify'
import { GatewayError } from '../errors.js'
import { bearerToken, scopeFor, type Access, type Principal, type TokenService } from './tokens.js'
import type { TicketService } from './tickets.js'

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null
  }
}

const QUERY_CREDENTIALS = ['access_token', 'token', 'jwt', 'bearer']

/**
 * For what a browser opens without headers (EventSource, WebSocket): a single-use
 * `?ticket=` (from POST /v1/tickets) instead of the Authorization header.
 */
export function makeTicketAuthenticate (tokens: TokenService, tickets: TicketService) {
  const bearer = makeAuthenticate(tokens)
  return async function authenticateOrTicket (request: FastifyRequest): Promise<void> {
    const ticket = (request.query as Record<string, unknown> | undefined)?.ticket
    if (ticket === undefined) { await bearer(request); return }
    if (request.headers.authorization !== undefined) throw new GatewayError('bad_request', 'send a ticket or an Authorization header, not both')
    if (typeof ticket !== 'string') throw new GatewayError('token_invalid', 'ticket is invalid, expired or already used')
    request.principal = await tickets.redeem(ticket)
  }
}

export function makeAuthenticate (tokens: TokenService) {
  return async function authenticate (request: FastifyRequest): Promise<void> {
    const query = request.query as Record<string, unknown> | undefined
    if (query !== undefined && QUERY_CREDENTIALS.some(name => query[name] !== undefined)) {
      throw new GatewayError('token_invalid', 'tokens are accepted only in the Authorization header')
    }
    const header = request.headers.authorization
    if (header === undefined || header === '') throw new GatewayError('token_missing', 'send Authorization: Bearer <token>')
    const token = bearerToken(header)
    if (token === undefined) throw new GatewayError('token_invalid', 'Authorization must be a Bearer token')
    request.principal = await tokens.verify(token)
  }
}

/** The principal the route's authentication hook set (401 token_missing if none). */
export function requirePrincipal (request: FastifyRequest): Principal {
  if (request.principal === null) throw new GatewayError('token_missing', 'send Authorization: Bearer <token>')
  return request.principal
}

/** Throws scope_missing unless the principal holds `<access>:<product>`. */
export function requireScope (principal: Principal, access: Access, product: string): void {
  if (!principal.scopes.has(scopeFor(access, product))) {
    throw new GatewayError('scope_missing', `token lacks scope ${scopeFor(access, product)}`)
  }
}
