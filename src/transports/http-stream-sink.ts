/**
 * One open SSE or NDJSON response as a stream sink: writes framed messages, sends
 * heartbeats, and reports the socket's state. It never makes the gateway wait: the
 * subscription stops writing while `writable` is false, and past a hard limit of
 * unsent bytes the connection is cut (the client resumes by cursor).
 */
import type { ServerResponse } from 'node:http'
import type { Frame, StreamFormat, StreamSink } from '../engine/subscription.js'
import type { HttpStreamFormat } from './wire-format.js'

export interface HttpStreamSinkOptions {
  heartbeatMs: number
  /** Past this many unsent bytes the client is disconnected. */
  maxBufferedBytes: number
  /** Called once when the response is finished or the client went away. */
  onClose: () => void
}

export class HttpStreamSink implements StreamSink {
  private heartbeat: NodeJS.Timeout | undefined
  private ended = false
  private closeNotified = false
  private drainWaiters: Array<() => void> = []
  /**
   * Text frames written in this tick, handed to the response as one write on the
   * next tick. A chunked HTTP response turns every res.write into four socket
   * writes (length, CRLF, data, CRLF), which cost more than a 1 KB frame itself; a
   * replay batch of hundreds of records now costs four. (HTTP formats frame text;
   * a Buffer, which the sink interface allows, is decoded into the same queue.)
   */
  private pending = ''
  private flushScheduled = false
  private readonly flushPending = (): void => {
    this.flushScheduled = false
    const text = this.pending
    if (text === '') return
    this.pending = ''
    if (this.closed) return
    const res = this.res
    res.cork()
    res.write(text)
    res.uncork()
  }

  constructor (private readonly res: ServerResponse, readonly format: HttpStreamFormat & StreamFormat, private readonly options: HttpStreamSinkOptions) {
    res.on('close', () => { this.onClosed() })
    // A client that left while the subscription was opening: 'close' has fired already.
    if (res.destroyed || res.socket === null || res.socket.destroyed) process.nextTick(() => { this.onClosed() })
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
    this.heartbeat = setInterval(() => { this.write(this.format.heartbeat) }, this.options.heartbeatMs)
    this.heartbeat.unref()
  }

  get closed (): boolean { return this.ended || this.res.destroyed || this.res.writableEnded }

  /**
   * What was accepted but not yet sent: bytes held by the response plus the characters
   * of text not yet handed to it (1–3 bytes each in UTF-8, so non-ASCII text is
   * undercounted until the next tick hands it over).
   */
  get bufferedBytes (): number { return this.res.writableLength + this.pending.length }

  get writable (): boolean {
    return !this.closed && !this.res.writableNeedDrain && this.bufferedBytes < this.res.writableHighWaterMark
  }

  write (frame: Frame): boolean {
    if (this.closed) return false
    this.pending += typeof frame === 'string' ? frame : frame.toString('utf8')
    if (!this.flushScheduled) {
      this.flushScheduled = true
      process.nextTick(this.flushPending)
    }
    if (this.bufferedBytes > this.options.maxBufferedBytes) {
      // Isolation: a stalled client is cut instead of growing our memory.
      this.destroy()
      return false
    }
    return this.writable
  }

  async waitWritable (): Promise<void> {
    if (this.writable || this.closed) return
    // The response can only report a drain for what it was given.
    this.flushPending()
    if (this.writable || this.closed) return
    await new Promise<void>(resolve => { this.drainWaiters.push(resolve) })
  }

  private releaseWaiters (): void {
    const waiters = this.drainWaiters
    this.drainWaiters = []
    for (const w of waiters) w()
  }

  /** Ends the response cleanly, optionally with a last frame (e.g. `revoked`). */
  end (lastFrame?: Frame): void {
    if (this.closed) return
    this.flushPending()
    if (lastFrame !== undefined) this.res.write(lastFrame)
    this.ended = true
    this.stopHeartbeat()
    this.res.end()
  }

  /** Drops the connection without a clean end (slow consumer). */
  destroy (): void {
    this.pending = ''
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
