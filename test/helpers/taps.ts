/** Test access to a gateway's product taps and their rings. */
import type { Gateway } from '../../src/gateway.js'
import type { ProductTap } from '../../src/engine/product-tap.js'
import type { RingEntry } from '../../src/engine/tap-ring.js'

/**
 * Acquires the product's running tap with a listener of our own, so the tap stays
 * open for the test; releases it at teardown. Release is by listener identity, so
 * the one listener object made here is used for both.
 */
export async function holdTap (
  t: { teardown: (fn: () => void | Promise<void>) => void },
  gw: Pick<Gateway, 'ctx'>,
  product: string
): Promise<ProductTap> {
  const holder = { wake () {} }
  const tap = await gw.ctx.taps.acquire(product, holder)
  t.teardown(() => { gw.ctx.taps.release(tap, holder) })
  return tap
}

/** The entries in the tap's ring now, oldest first. */
export function ringEntries (tap: ProductTap): RingEntry[] {
  const entries: RingEntry[] = []
  for (let seq = tap.ring.firstSeq; tap.ring.at(seq) !== undefined; seq++) entries.push(tap.ring.at(seq)!)
  return entries
}
