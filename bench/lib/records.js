/**
 * Benchmark records: demo orders (DemoDataGenerator) padded to about 1 KB of JSON.
 *
 * Every record is in region "eu-west" with status "confirmed", so the
 * `orders/partner-basic` filter passes for a partner with region=eu-west and both
 * policies deliver every record. The padding is an extra `fulfilment_notes` field of
 * words: the orders schema allows extra fields, deny mode (passthrough) delivers it,
 * allow mode (partner-basic) drops it, as it drops any field it does not list.
 */
import { DemoDataGenerator, prng } from '../../dist/dev/demo-data.js'

const WORDS = ['leave', 'at', 'door', 'ring', 'bell', 'twice', 'fragile', 'gift', 'wrap', 'deliver', 'after', 'noon', 'call', 'on', 'arrival', 'side', 'entrance', 'parcel', 'locker', 'neighbour', 'floor', 'lift', 'code', 'gate']

export class PaddedOrders {
  /** `bytes`: the UTF-8 size each value is padded to (the record is never shorter). */
  constructor (seed = 42, bytes = 1024) {
    this.generator = new DemoDataGenerator(seed)
    this.rand = prng(seed + 1)
    this.bytes = bytes
  }

  /** { key, value (JSON text), headers } of the next order. */
  next () {
    const r = this.generator.order()
    const value = { ...r.value, region: 'eu-west', status: 'confirmed', fulfilment_notes: '' }
    const base = Buffer.byteLength(JSON.stringify(value))
    let notes = ''
    while (notes.length < this.bytes - base) notes += (notes === '' ? '' : ' ') + WORDS[Math.floor(this.rand() * WORDS.length)]
    value.fulfilment_notes = notes.slice(0, Math.max(0, this.bytes - base))
    return { key: r.key, value: JSON.stringify(value), headers: r.headers }
  }
}
