/**
 * The open streams of this instance, so that shutdown (and, later, revocation) can
 * reach every one of them.
 */
import type { StreamEndReason } from './messages.js'

export interface OpenStream {
  readonly id: string
  readonly shareId: string
  readonly jti: string
  readonly product: string
  readonly transport: string
  stop: (reason: StreamEndReason) => Promise<void>
}

export class StreamRegistry {
  private readonly streams = new Map<string, OpenStream>()

  add (stream: OpenStream): void { this.streams.set(stream.id, stream) }
  delete (id: string): void { this.streams.delete(id) }
  get size (): number { return this.streams.size }
  all (): OpenStream[] { return [...this.streams.values()] }

  async stopAll (reason: StreamEndReason): Promise<void> {
    await Promise.allSettled(this.all().map(async s => { await s.stop(reason) }))
  }
}
