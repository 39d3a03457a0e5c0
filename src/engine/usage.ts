/**
 * Live usage per share on this instance: messages and bytes delivered since the
 * instance started. Open connections come from the StreamRegistry. (Across
 * instances, Prometheus sums the per-instance metrics.)
 */
export interface ShareUsage {
  delivered_messages: number
  delivered_bytes: number
}

export class UsageTracker {
  private readonly byShare = new Map<string, ShareUsage>()

  /** Hot path: one map lookup and two additions. */
  delivered (shareId: string, messages: number, bytes: number): void {
    let usage = this.byShare.get(shareId)
    if (usage === undefined) this.byShare.set(shareId, usage = { delivered_messages: 0, delivered_bytes: 0 })
    usage.delivered_messages += messages
    usage.delivered_bytes += bytes
  }

  of (shareId: string): ShareUsage {
    return { ...(this.byShare.get(shareId) ?? { delivered_messages: 0, delivered_bytes: 0 }) }
  }
}
