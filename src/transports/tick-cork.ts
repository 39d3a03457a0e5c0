/**
 * Corks a socket (or HTTP response) on the first write of a tick and uncorks it on
 * nextTick, so the frames written in one wake-up (a replay batch, several records or
 * subscriptions) leave in one writev instead of one send() each: the sockets are
 * no-delay, so every uncorked write is a syscall and a TCP segment.
 */
export class TickCork {
  private corked = false
  private readonly release = (): void => {
    if (!this.corked) return
    this.corked = false
    this.stream.uncork()
  }

  constructor (private readonly stream: { cork: () => void, uncork: () => void }) {}

  /** Call before each write. */
  hold (): void {
    if (this.corked) return
    this.corked = true
    this.stream.cork()
    process.nextTick(this.release)
  }

  /** Sends what is held now (before a clean end). */
  flush (): void { this.release() }
}
