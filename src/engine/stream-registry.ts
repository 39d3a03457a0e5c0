/**
 * The open streams of this instance, indexed by share, so that shutdown and access
 * changes (revocation, expiry) reach every one of them at once.
 */
import { EventEmitter } from 'node:events'
import type { StreamEndReason, StreamMessage } from './messages.js'

export interface OpenStream {
  readonly id: string
  readonly shareId: string
  readonly partnerId: string
  readonly jti: string
  /** The product streamed; undefined for a connection that carries several (WebSocket). */
  readonly product: string | undefined
  readonly transport: string
  /** Counts against the share's max_connections (an SSE/NDJSON stream, a WebSocket connection). */
  readonly countsAsConnection: boolean
  /** When the stream's token expires (ms since the epoch). */
  readonly tokenExpiresAt: number
  /** Sends a control message (e.g. `expiring`) without ending the stream. */
  notify: (message: StreamMessage) => void
  /** Records between the stream's position and the end of the topic, if known. */
  lag: () => number | undefined
  /** Ends the stream; for access reasons a `revoked` message is sent first. */
  stop: (reason: StreamEndReason) => Promise<void>
}

export class StreamRegistry extends EventEmitter<{ added: [OpenStream], removed: [OpenStream] }> {
  private readonly streams = new Map<string, OpenStream>()
  private readonly byShare = new Map<string, Set<OpenStream>>()

  add (stream: OpenStream): void {
    this.streams.set(stream.id, stream)
    let set = this.byShare.get(stream.shareId)
    if (set === undefined) this.byShare.set(stream.shareId, set = new Set())
    set.add(stream)
    this.emit('added', stream)
  }

  delete (id: string): void {
    const stream = this.streams.get(id)
    if (stream === undefined) return
    this.streams.delete(id)
    const set = this.byShare.get(stream.shareId)
    set?.delete(stream)
    if (set?.size === 0) this.byShare.delete(stream.shareId)
    this.emit('removed', stream)
  }

  get size (): number { return this.streams.size }
  all (): OpenStream[] { return [...this.streams.values()] }
  ofShare (shareId: string): OpenStream[] { return [...(this.byShare.get(shareId) ?? [])] }
  /** Open connections of a share (what max_connections limits). */
  connectionsOfShare (shareId: string): number {
    let n = 0
    for (const s of this.byShare.get(shareId) ?? []) if (s.countsAsConnection) n++
    return n
  }

  /** Shares with at least one open stream on this instance. */
  shareIds (): string[] { return [...this.byShare.keys()] }

  /**
   * Lag per product of a share: records between its slowest open stream of the product
   * and the end of the topic (streams that cannot tell, e.g. WebSocket connections, are
   * left out). What the admin API, GET /v1/share and the lag gauge report.
   */
  lagByProduct (shareId: string): Record<string, number> {
    const lag: Record<string, number> = {}
    for (const stream of this.byShare.get(shareId) ?? []) {
      const records = stream.lag()
      if (records !== undefined && stream.product !== undefined) lag[stream.product] = Math.max(lag[stream.product] ?? 0, records)
    }
    return lag
  }

  async stopAll (reason: StreamEndReason): Promise<void> {
    await Promise.allSettled(this.all().map(async s => { await s.stop(reason) }))
  }
}
