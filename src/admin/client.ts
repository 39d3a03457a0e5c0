/**
 * A small client for the admin API, used by the CLI (and usable from scripts).
 * The admin token comes from the environment, never from a flag (flags end up in
 * shell history and process lists).
 */
import { request } from 'undici'

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:8081'

export interface Problem {
  type?: string
  title?: string
  status: number
  detail?: string
  code?: string
  errors?: Array<{ path: string, message: string }>
}

export class AdminApiError extends Error {
  constructor (readonly problem: Problem) {
    super(`${problem.status} ${problem.code ?? problem.title ?? 'error'}: ${problem.detail ?? ''}`.trim())
    this.name = 'AdminApiError'
  }
}

export class AdminClient {
  constructor (private readonly baseUrl: string, private readonly token: string | undefined, private readonly actor?: string) {}

  async call<T = any> (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' }
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`
    if (this.actor !== undefined) headers['x-streamshare-actor'] = this.actor
    if (body !== undefined) headers['content-type'] = 'application/json'
    let res
    try {
      res = await request(this.baseUrl.replace(/\/+$/, '') + path, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        headersTimeout: 30_000,
        bodyTimeout: 30_000
      })
    } catch (err) {
      throw new AdminApiError({ status: 0, code: 'unreachable', detail: `cannot reach the admin API at ${this.baseUrl}: ${(err as Error).message}` })
    }
    const text = await res.body.text()
    let parsed: unknown
    try { parsed = text === '' ? undefined : JSON.parse(text) } catch { parsed = text }
    if (res.statusCode >= 400) {
      const problem = (typeof parsed === 'object' && parsed !== null ? parsed : { detail: String(parsed) }) as Problem
      throw new AdminApiError({ ...problem, status: res.statusCode })
    }
    return parsed as T
  }
}
