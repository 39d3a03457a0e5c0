/**
 * OpenAPI 3.1 documents generated from the route schemas (@fastify/swagger): the
 * partner API at GET /v1/openapi.json and the admin API at GET /admin/v1/openapi.json.
 * Every route declares its request and response schemas; errors are the one
 * problem+json schema (CONTRACT §8).
 */
import swagger from '@fastify/swagger'
import type { FastifyInstance } from 'fastify'
import { ERROR_REGISTRY } from '../errors.js'

export const PROBLEM_SCHEMA_ID = 'Problem'

/** RFC 9457 problem details, as every error of the gateway is answered. */
export const problemSchema = {
  $id: PROBLEM_SCHEMA_ID,
  type: 'object',
  description: 'RFC 9457 problem details (application/problem+json)',
  required: ['type', 'title', 'status', 'detail', 'code'],
  properties: {
    type: { type: 'string', description: 'urn:streamshare:problem:<code>' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string', enum: Object.keys(ERROR_REGISTRY) },
    errors: {
      type: 'array',
      description: 'For schema failures: where and what (never the value)',
      items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string' }, message: { type: 'string' } } }
    }
  },
  additionalProperties: true
} as const

/** Response entries for error statuses, all the problem schema. */
export function problemResponses (...statuses: number[]): Record<number, unknown> {
  return Object.fromEntries(statuses.map(s => [s, { $ref: `${PROBLEM_SCHEMA_ID}#` }]))
}

export interface OpenApiOptions {
  title: string
  description: string
  /** Where the document is served. */
  path: string
  serverUrl: string
  security: 'partner' | 'admin'
}

/** Registers @fastify/swagger (before any route) and the route serving the document. */
export async function registerOpenApi (app: FastifyInstance, options: OpenApiOptions): Promise<void> {
  app.addSchema(problemSchema)
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: options.title, description: options.description, version: '1.0.0' },
      servers: [{ url: options.serverUrl }],
      components: {
        securitySchemes: options.security === 'partner'
          ? {
              bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A share token (ES256 JWT, typ at+jwt). Browsers: a single-use ?ticket= from POST /v1/tickets where noted.' }
            }
          : { adminBearer: { type: 'http', scheme: 'bearer', description: 'STREAMSHARE_ADMIN_TOKEN' } }
      },
      security: [options.security === 'partner' ? { bearer: [] } : { adminBearer: [] }]
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}` }
  })
  app.get(options.path, { schema: { hide: true }, logLevel: 'warn' }, async () => app.swagger())
}
