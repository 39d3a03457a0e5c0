/**
 * A real HTTP client for SSE and NDJSON streams (undici), parsing messages as a
 * partner's client would. Used to assert what actually goes over the wire.
 */
import { request, type Dispatcher } from 'undici'

export interface WireMessage {
  /** The parsed JSON envelope. */
  data: Record<string, any>
  /** SSE only: the `id:` and `event:` fields. */
  id?: string
  event?: string
}

export class StreamClient {
  readonly messages: WireMessage[] = []
  /** SSE comments and NDJSON heartbeats seen. */
  heartbeats = 0
  retry: number | undefined
  ended = false
  error: Error | undefined
  /** Every byte received, as text: for asserting what went over the wire. */
  raw = ''
  private waiters: Array<() => void> = []
  private readonly body: Dispatcher.ResponseData['body']
  private readonly done: Promise<void>

  constructor (readonly status: number, readonly headers: Record<string, string | string[] | undefined>, body: Dispatcher.ResponseData['body'], readonly format: 'sse' | 'ndjson') {
    this.body = body
    this.done = this.pump()
  }

  static async open (url: string, options: { token?: string, format?: 'sse' | 'ndjson', headers?: Record<string, string>, dispatcher?: Dispatcher } = {}): Promise<StreamClient | { status: number, headers: Record<string, string | string[] | undefined>, problem: any }> {
    const headers: Record<string, string> = { ...options.headers }
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
    if (options.format === 'sse') headers.accept = 'text/event-stream'
    if (options.format === 'ndjson') headers.accept = 'application/x-ndjson'
    const res = await request(url, { headers, ...(options.dispatcher === undefined ? {} : { dispatcher: options.dispatcher }) })
    if (res.statusCode !== 200) {
      const text = await res.body.text()
      let problem: unknown = text
      try { problem = JSON.parse(text) } catch {}
      return { status: res.statusCode, headers: res.headers, problem }
    }
    const type = String(res.headers['content-type'] ?? '')
    return new StreamClient(res.statusCode, res.headers, res.body, type.startsWith('text/event-stream') ? 'sse' : 'ndjson')
  }

  private push (message: WireMessage): void {
    this.messages.push(message)
    this.wake()
  }

  private wake (): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  private async pump (): Promise<void> {
    let buffer = ''
    let event: { id?: string, event?: string, data: string[] } = { data: [] }
    try {
      for await (const chunk of this.body) {
        const text = (chunk as Buffer).toString('utf8')
        this.raw += text
        buffer += text
        let nl: number
        while ((nl = buffer.indexOf('\n')) !== -1) {
          const line = buffer.slice(0, nl)
          buffer = buffer.slice(nl + 1)
          if (this.format === 'ndjson') {
            if (line === '') continue
            const data = JSON.parse(line) as Record<string, any>
            if (data.type === 'heartbeat') this.heartbeats++
            else this.push({ data })
            continue
          }
          if (line === '') {
            if (event.data.length > 0) {
              this.push({ data: JSON.parse(event.data.join('\n')) as Record<string, any>, ...(event.id === undefined ? {} : { id: event.id }), ...(event.event === undefined ? {} : { event: event.event }) })
            }
            event = { data: [] }
          } else if (line.startsWith(':')) {
            this.heartbeats++
          } else {
            const colon = line.indexOf(':')
            const field = colon === -1 ? line : line.slice(0, colon)
            const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '')
            if (field === 'data') event.data.push(value)
            else if (field === 'id') event.id = value
            else if (field === 'event') event.event = value
            else if (field === 'retry') this.retry = Number(value)
          }
        }
      }
    } catch (err) {
      this.error = err as Error
    } finally {
      this.ended = true
      this.wake()
    }
  }

  /** Waits until at least `count` messages arrived (or the stream ended / timed out). */
  async waitFor (count: number, timeoutMs = 15000): Promise<WireMessage[]> {
    const deadline = Date.now() + timeoutMs
    while (this.messages.length < count && !this.ended) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out waiting for ${count} messages (got ${this.messages.length})`)
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
    if (this.messages.length < count) throw new Error(`stream ended after ${this.messages.length} of ${count} messages${this.error === undefined ? '' : `: ${this.error.message}`}`)
    return this.messages.slice(0, count)
  }

  /** Resolves when the server ended the stream. */
  async waitEnd (timeoutMs = 15000): Promise<void> {
    await Promise.race([this.done, new Promise((_resolve, reject) => setTimeout(() => { reject(new Error('stream did not end')) }, timeoutMs).unref())])
  }

  close (): void {
    this.body.destroy()
  }
}

export function isStream (x: unknown): x is StreamClient {
  return x instanceof StreamClient
}
