/**
 * `GET /v1/ws` (CONTRACT §6) and `POST /v1/tickets` (§4). The upgrade goes through
 * fastify (@fastify/websocket), so authentication, the Origin check and (later) rate
 * limits run as ordinary hooks and refuse with a plain HTTP problem before any 101.
 */
import websocket from '@fastify/websocket'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { GatewayError } from '../errors.js'
import { requirePrincipal } from '../auth/authenticate.js'
import type { GatewayContext } from '../gateway-context.js'
import { authorizeShare } from '../registry/access.js'
import { WsConnection } from './ws-connection.js'
import { WS_SUBPROTOCOL } from './protocol.js'
import type { Lease } from '../quota/connection-limiter.js'
import { problemResponses } from '../http/openapi.js'

export async function registerWebSocketRoutes (app: FastifyInstance, ctx: GatewayContext, authenticate: (req: FastifyRequest) => Promise<void>, authenticateOrTicket: (req: FastifyRequest) => Promise<void>): Promise<void> {
  await app.register(websocket, {
    options: {
      maxPayload: ctx.config.wsMaxPayloadBytes,
      perMessageDeflate: false,
      // The subprotocol was checked before the upgrade; echo it.
      handleProtocols: (protocols: Set<string>) => protocols.has(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : false
    }
  })

  app.post('/v1/tickets', {
    onRequest: [ctx.quotas.preAuth('ticket'), authenticate],
    config: ctx.quotas.shareRateLimit(),
    schema: {
      summary: 'A single-use ticket for browsers (EventSource, WebSocket): ?ticket=, valid 30 s',
      response: { 201: { type: 'object', required: ['ticket', 'expires_at', 'expires_in'], properties: { ticket: { type: 'string' }, expires_at: { type: 'string', format: 'date-time' }, expires_in: { type: 'integer' } } }, ...problemResponses(401, 403, 429, 503) }
    }
  }, async (request, reply) => {
    const principal = requirePrincipal(request)
    // (The partner's allowed origins were checked with the authentication.)
    await authorizeShare(ctx.registry, principal)
    return await reply.code(201).header('cache-control', 'no-store').send(ctx.tickets.issue(principal))
  })

  const authenticateUpgrade = async (request: FastifyRequest): Promise<void> => {
    const protocols = String(request.headers['sec-websocket-protocol'] ?? '').split(',').map(p => p.trim())
    if (!protocols.includes(WS_SUBPROTOCOL)) throw new GatewayError('bad_request', `request the WebSocket subprotocol ${WS_SUBPROTOCOL}`)
    await authenticateOrTicket(request)
    const principal = request.principal as NonNullable<typeof request.principal>
    await authorizeShare(ctx.registry, principal)
    if (ctx.readiness.shutting) throw new GatewayError('unavailable', 'the gateway is shutting down', { retryAfter: 5 })
    // max_connections, before the 101. Given back when the connection ends, or when the
    // socket closes without ever becoming a connection.
    const lease = await ctx.quotas.acquireConnection(principal.shareId)
    leases.set(request, lease)
    request.raw.socket.once('close', () => { lease.release() })
  }

  const leases = new WeakMap<FastifyRequest, Lease>()
  app.get('/v1/ws', {
    websocket: true,
    onRequest: [ctx.quotas.preAuth('connection'), authenticateUpgrade],
    schema: {
      summary: 'WebSocket, subprotocol streamshare.v1 (CONTRACT §6; messages in the AsyncAPI document)',
      response: { 101: { description: `Switching protocols: ${WS_SUBPROTOCOL}`, type: 'null' }, ...problemResponses(400, 401, 403, 429, 503) }
    }
  }, (socket, request) => {
    const principal = request.principal
    const lease = leases.get(request)
    if (principal === null || lease === undefined) { socket.close(4401, 'not authenticated'); return }
    // eslint-disable-next-line no-new
    new WsConnection(socket, ctx, principal, String(request.id), lease)
  })
}
