/**
 * The taps of this instance (one per product topic, started on first use, stopped
 * after being idle) and the budget of private replay readers (per share and per
 * instance), since each replay reader is a Kafka consumer of its own.
 */
import type { KafkaCluster } from '../kafka/cluster.js'
import type { Catalog } from '../catalog/types.js'
import type { Logger } from '../observability/logger.js'
import { ProductTap, type TapListener } from './product-tap.js'
import type { LowWatermarks } from './low-watermarks.js'
import type { QuarantineWriter } from './quarantine.js'
import type { RingBounds } from './tap-ring.js'

export interface TapManagerOptions {
  kafka: KafkaCluster
  catalog: () => Catalog
  quarantine: QuarantineWriter
  lowWatermarks: LowWatermarks
  logger: Logger
  bounds: RingBounds
  /** A tap without subscribers stops after this long. */
  idleMs: number
  replayPerShare: number
  replayPerInstance: number
}

interface TapSlot {
  instance: ProductTap
  tap: Promise<ProductTap>
  idle: NodeJS.Timeout | undefined
}

export class TapManager {
  private readonly taps = new Map<string, TapSlot>()
  private readonly replays = new Map<string, number>()
  private replayTotal = 0
  private closed = false

  constructor (private readonly options: TapManagerOptions) {}

  /** The running tap of a product (started if needed), with `listener` subscribed. */
  async acquire (productName: string, listener: TapListener): Promise<ProductTap> {
    if (this.closed) throw new Error('tap manager closed')
    const product = this.options.catalog().products.get(productName)
    if (product === undefined) throw new Error(`unknown product ${productName}`)
    const key = `${product.name}\u0000${product.topic}`
    let slot = this.taps.get(key)
    if (slot === undefined) {
      const tap = new ProductTap({
        kafka: this.options.kafka,
        product: () => {
          const current = this.options.catalog().products.get(productName)
          return current?.topic === product.topic ? current : undefined
        },
        bounds: this.options.bounds,
        quarantine: this.options.quarantine,
        lowWatermarks: this.options.lowWatermarks,
        logger: this.options.logger,
        onRetired: () => { this.forget(key, tap) }
      }, product)
      const created: TapSlot = { instance: tap, tap: tap.start().then(() => tap), idle: undefined }
      slot = created
      this.taps.set(key, created)
      created.tap.catch(() => { this.forget(key, tap) })
    }
    if (slot.idle !== undefined) { clearTimeout(slot.idle); slot.idle = undefined }
    const tap = await slot.tap
    tap.subscribe(listener)
    return tap
  }

  release (tap: ProductTap, listener: TapListener): void {
    tap.unsubscribe(listener)
    if (tap.subscriberCount > 0 || this.closed) return
    const key = `${tap.name}\u0000${tap.topic}`
    const slot = this.taps.get(key)
    // A retired tap's slot may hold its successor by now: leave that one alone.
    if (slot === undefined || slot.instance !== tap) return
    if (slot.idle !== undefined) clearTimeout(slot.idle)
    slot.idle = setTimeout(() => {
      if (tap.subscriberCount > 0) return
      this.forget(key, tap)
      void tap.stop()
    }, this.options.idleMs)
    slot.idle.unref()
  }

  /** Drops `tap`'s slot (if it is still the current one for `key`). */
  private forget (key: string, tap: ProductTap): void {
    const slot = this.taps.get(key)
    if (slot?.instance !== tap) return
    if (slot.idle !== undefined) clearTimeout(slot.idle)
    this.taps.delete(key)
  }

  /** Reserves a replay reader for a share; false when a limit is reached. */
  tryAcquireReplay (shareId: string): boolean {
    const used = this.replays.get(shareId) ?? 0
    if (used >= this.options.replayPerShare || this.replayTotal >= this.options.replayPerInstance) return false
    this.replays.set(shareId, used + 1)
    this.replayTotal++
    return true
  }

  releaseReplay (shareId: string): void {
    const used = this.replays.get(shareId) ?? 0
    if (used <= 1) this.replays.delete(shareId)
    else this.replays.set(shareId, used - 1)
    this.replayTotal = Math.max(0, this.replayTotal - 1)
  }

  get replayReaders (): number { return this.replayTotal }
  get tapCount (): number { return this.taps.size }

  async close (): Promise<void> {
    this.closed = true
    const slots = [...this.taps.values()]
    this.taps.clear()
    await Promise.allSettled(slots.map(async slot => {
      if (slot.idle !== undefined) clearTimeout(slot.idle)
      await (await slot.tap).stop()
    }))
  }
}
