/** A real WebSocket client (the `ws` package) speaking streamshare.v1, for tests. */
import WebSocket from 'ws'

export interface WsRefusal { status: number, body: any }

export class WsClient {
  readonly messages: Array<Record<string, any>> = []
  readonly closed: Promise<{ code: number, reason: string }>
  private waiters: Array<() => void> = []

  private constructor (readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.messages.push(JSON.parse(data.toString()) as Record<string, any>)
      for (const w of this.waiters.splice(0)) w()
    })
    this.closed = new Promise(resolve => {
      socket.on('close', (code, reason) => {
        for (const w of this.waiters.splice(0)) w()
        resolve({ code, reason: reason.toString() })
      })
    })
    socket.on('error', () => {})
  }

  /** Connects; resolves a client, or the HTTP refusal (status + problem body) before the upgrade. */
  static async connect (baseUrl: string, options: { token?: string, ticket?: string, origin?: string, protocol?: string | null, agent?: unknown } = {}): Promise<WsClient | WsRefusal> {
    const url = new URL(baseUrl.replace(/^http/, 'ws') + '/v1/ws')
    if (options.ticket !== undefined) url.searchParams.set('ticket', options.ticket)
    const headers: Record<string, string> = {}
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
    const protocols = options.protocol === null ? [] : [options.protocol ?? 'streamshare.v1']
    const socket = new WebSocket(url, protocols, { headers, perMessageDeflate: false, ...(options.origin === undefined ? {} : { origin: options.origin }) })
    return await new Promise((resolve, reject) => {
      socket.once('open', () => { resolve(new WsClient(socket)) })
      socket.once('unexpected-response', (_req, res) => {
        let body = ''
        res.on('data', (c: Buffer) => { body += c.toString() })
        res.on('end', () => {
          let parsed: unknown = body
          try { parsed = JSON.parse(body) } catch {}
          resolve({ status: res.statusCode ?? 0, body: parsed })
        })
      })
      socket.once('error', reject)
    })
  }

  send (message: unknown): void { this.socket.send(typeof message === 'string' ? message : JSON.stringify(message)) }

  /** Waits until a message matching `predicate` arrived (returns it), or fails. */
  async waitFor (predicate: (m: Record<string, any>) => boolean, timeoutMs = 15000): Promise<Record<string, any>> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.messages.find(predicate)
      if (found !== undefined) return found
      if (this.socket.readyState === WebSocket.CLOSED) throw new Error(`closed before the message arrived; got ${JSON.stringify(this.messages.slice(-3))}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out; got ${JSON.stringify(this.messages.slice(-3))}`)
      await new Promise<void>(resolve => { const timer = setTimeout(resolve, left); this.waiters.push(() => { clearTimeout(timer); resolve() }) })
    }
  }

  async waitForCount (predicate: (m: Record<string, any>) => boolean, count: number, timeoutMs = 15000): Promise<Array<Record<string, any>>> {
    await this.waitFor(() => this.messages.filter(predicate).length >= count, timeoutMs).catch(async () => {
      throw new Error(`got ${this.messages.filter(predicate).length} of ${count}`)
    })
    return this.messages.filter(predicate)
  }

  close (): void { this.socket.close() }
}

export function isWsClient (x: WsClient | WsRefusal): x is WsClient {
  return x instanceof WsClient
}
