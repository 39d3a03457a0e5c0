/**
 * `POST /v1/streams/{product}/records` (CONTRACT §5): one record or an array of up
 * to 500, each `{ key, value, headers }`, for shares with `write:<product>`.
 * `201 { offsets: [{ partition, offset }] }` in input order, all or nothing.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { requirePrincipal } from '../auth/authenticate.js'
import type { GatewayContext } from '../gateway-context.js'
import { authorizeProduct } from '../registry/access.js'
import type { PartnerRecord } from '../engine/partner-producer.js'
import { productParams } from './http-stream-route.js'
import { problemResponses } from '../http/openapi.js'
import { PRODUCE_MAX_RECORDS } from './protocol.js'

const record = {
  type: 'object',
  additionalProperties: false,
  required: ['value'],
  properties: {
    key: {},
    value: {},
    headers: { type: 'object', additionalProperties: { type: 'string' } }
  }
} as const

const produceSchema = {
  summary: 'Write records (needs write:<product>): all or nothing',
  params: productParams,
  body: { anyOf: [record, { type: 'array', minItems: 1, maxItems: PRODUCE_MAX_RECORDS, items: record }] },
  response: {
    201: {
      type: 'object',
      required: ['offsets'],
      properties: { offsets: { type: 'array', items: { type: 'object', required: ['partition', 'offset'], properties: { partition: { type: 'integer' }, offset: { type: 'integer' } } } } }
    },
    ...problemResponses(400, 401, 403, 404, 413, 429, 503)
  }
} as const

export function registerProduceRoute (app: FastifyInstance, ctx: GatewayContext, authenticate: (req: FastifyRequest) => Promise<void>): void {
  app.post<{ Params: { product: string }, Body: PartnerRecord | PartnerRecord[] }>('/v1/streams/:product/records', {
    schema: produceSchema,
    bodyLimit: ctx.config.produceMaxBodyBytes,
    onRequest: [ctx.quotas.preAuth('request'), authenticate],
    config: ctx.quotas.shareRateLimit()
  }, async (request, reply) => {
    const principal = requirePrincipal(request)
    const { product } = await authorizeProduct(ctx.registry, ctx.catalog(), principal, request.params.product, 'write')
    const single = !Array.isArray(request.body)
    const records = Array.isArray(request.body) ? request.body : [request.body]
    const offsets = await ctx.producer.produce(product, principal, records, {
      transport: 'http',
      requestId: String(request.id),
      ...(single ? { pathPrefix: () => '' } : {})
    })
    return await reply.code(201).send({ offsets })
  })
}
