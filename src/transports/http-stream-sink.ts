/**
 * One open SSE or NDJSON response: frames messages, sends heartbeats, and watches the
 * socket buffer. The sink never waits on the client for the gateway: it reports
 * when the client is slow (`writable` false) and cuts it past a hard limit, after
 * which the client resumes by cursor (CONTRACT §5, Isolation).
 */
import type { ServerResponse } from 'node:http'
import type { StreamMessage } from '../engine/messages.js'
import type { HttpStreamFormat } from './wire-format.js'

export interface HttpStreamSinkOptions {
  heartbeatMs: number
  /** Past this many unsent bytes the client is disconnected. */
  maxBufferedBytes: number
  /** Called once when the response is finished or the client went away. */
  onClose: () => void
}

export class HttpStreamSink {
  private heartbeat: NodeJS.Timeout | undefined
  private ended = false
  private closeNotified = false
  private drainWaiters: Array<() => void> = []

  constructor (private readonly res: ServerResponse, readonly format: HttpStreamFormat, private readonly options: HttpStreamSinkOptions) {
    res.on('close', () => { this.onClosed() })
    res.on('drain', () => { this.releaseWaiters() })
  }

  /** Sends the status line and headers, then the format's preamble. */
  open (extraHeaders: Record<string, string> = {}): void {
    const res = this.res
    res.writeHead(200, {
      'content-type': this.format.contentType,
      'cache-control': 'no-cache, no-store',
      'x-accel-buffering': 'no',
      'x-content-type-options': 'nosniff',
      connection: 'keep-alive',
      ...extraHeaders
    })
    // Headers go out at once: an EventSource client reports "open" on them.
    res.flushHeaders()
    if (this.format.preamble !== '') res.write(this.format.preamble)
    res.socket?.setNoDelay(true)
    this.heartbeat = setInterval(() => { this.writeRaw(this.format.heartbeat) }, this.options.heartbeatMs)
    this.heartbeat.unref()
  }

  get closed (): boolean { return this.ended || this.res.destroyed || this.res.writableEnded }

  /** Bytes accepted but not yet sent to the client. */
  get bufferedBytes (): number { return this.res.writableLength }

  /** False while the socket buffer is above its high-water mark: stop sending until drained. */
  get writable (): boolean { return !this.closed && !this.res.writableNeedDrain }

  /** Writes one framed message. Returns false if the client should not get more for now. */
  send (message: StreamMessage, json: string, id?: string): boolean {
    return this.writeRaw(this.format.frame(message, json, id))
  }

  private writeRaw (chunk: string): boolean {
    if (this.closed) return false
    const ok = this.res.write(chunk)
    if (this.res.writableLength > this.options.maxBufferedBytes) {
      // Isolation: a stalled client is cut instead of growing our memory.
      this.res.destroy()
      return false
    }
    return ok
  }

  /** Resolves when the socket drained or the stream closed. */
  async waitWritable (): Promise<void> {
    if (this.writable || this.closed) return
    await new Promise<void>(resolve => { this.drainWaiters.push(resolve) })
  }

  private releaseWaiters (): void {
    const waiters = this.drainWaiters
    this.drainWaiters = []
    for (const w of waiters) w()
  }

  /** Ends the response cleanly, optionally with a last message (e.g. `revoked`). */
  end (last?: { message: StreamMessage, json: string }): void {
    if (this.closed) return
    if (last !== undefined) this.send(last.message, last.json)
    this.ended = true
    this.stopHeartbeat()
    this.res.end()
  }

  /** Drops the connection without a clean end (slow consumer). */
  destroy (): void {
    this.ended = true
    this.stopHeartbeat()
    this.res.destroy()
  }

  private stopHeartbeat (): void {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat)
    this.heartbeat = undefined
  }

  private onClosed (): void {
    this.ended = true
    this.stopHeartbeat()
    this.releaseWaiters()
    if (!this.closeNotified) {
      this.closeNotified = true
      this.options.onClose()
    }
  }
}
