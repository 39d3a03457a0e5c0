/**
 * Realistic demo records for the shipped products (orders, shipments,
 * inventory-levels). Deterministic for a seed, so tests and screenshots repeat.
 * The personal data is invented: names and streets are drawn from small lists.
 */

export interface DemoRecord {
  key: string
  value: Record<string, unknown>
  headers: Record<string, string>
}

/** Mulberry32: tiny, fast, good enough for demo data (not for anything secret). */
export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const FIRST = ['Anna', 'Bram', 'Chloé', 'Daan', 'Elif', 'Finn', 'Greta', 'Hugo', 'Ines', 'Jonas', 'Kaja', 'Luca', 'Maya', 'Noah', 'Olga', 'Pim', 'Rosa', 'Sven', 'Tess', 'Yara']
const LAST = ['de Vries', 'Jansen', 'Müller', 'Schmidt', 'Dubois', 'Rossi', 'García', 'Novak', 'Kowalski', 'Smith', 'Bakker', 'Visser', 'Meijer', 'Leroy', 'Nielsen']
const PLACES = [
  { city: 'Amsterdam', country: 'NL', postcode: '1012 AB', region: 'eu-west', lat: 52.3676, lon: 4.9041, phone: '+31 6' },
  { city: 'Rotterdam', country: 'NL', postcode: '3011 AD', region: 'eu-west', lat: 51.9244, lon: 4.4777, phone: '+31 6' },
  { city: 'Berlin', country: 'DE', postcode: '10115', region: 'eu-central', lat: 52.52, lon: 13.405, phone: '+49 151' },
  { city: 'Munich', country: 'DE', postcode: '80331', region: 'eu-central', lat: 48.1351, lon: 11.582, phone: '+49 160' },
  { city: 'Lyon', country: 'FR', postcode: '69001', region: 'eu-west', lat: 45.764, lon: 4.8357, phone: '+33 6' },
  { city: 'New York', country: 'US', postcode: '10001', region: 'us-east', lat: 40.7128, lon: -74.006, phone: '+1 212' },
  { city: 'Seattle', country: 'US', postcode: '98101', region: 'us-west', lat: 47.6062, lon: -122.3321, phone: '+1 206' },
  { city: 'Singapore', country: 'SG', postcode: '018956', region: 'apac', lat: 1.3521, lon: 103.8198, phone: '+65 9' }
] as const
const STREETS = ['Keizersgracht', 'Hauptstraße', 'Rue de la République', 'Main Street', 'Orchard Road', 'Coolsingel', 'Marienplatz']
const PRODUCTS = [
  { sku: 'SKU-1001', name: 'Trail running shoes', price: 119.95 },
  { sku: 'SKU-1002', name: 'Merino base layer', price: 69.5 },
  { sku: 'SKU-1003', name: 'Insulated bottle 750 ml', price: 24.99 },
  { sku: 'SKU-1004', name: 'Headlamp 400 lm', price: 39 },
  { sku: 'SKU-1005', name: 'Rain shell jacket', price: 189 },
  { sku: 'SKU-1006', name: 'Hiking socks (3 pack)', price: 17.49 },
  { sku: 'SKU-1007', name: 'Daypack 24 l', price: 84.9 },
  { sku: 'SKU-1008', name: 'Trekking poles', price: 59.95 }
] as const
const WAREHOUSES = [
  { id: 'wh-ams-1', region: 'eu-west' },
  { id: 'wh-ber-1', region: 'eu-central' },
  { id: 'wh-nyc-1', region: 'us-east' },
  { id: 'wh-sea-1', region: 'us-west' },
  { id: 'wh-sin-1', region: 'apac' }
] as const
const CARRIERS = ['dhl', 'ups', 'fedex', 'postnl', 'dpd'] as const
const SHIPMENT_STEPS = ['label_created', 'picked_up', 'in_transit', 'out_for_delivery', 'delivered'] as const
const CURRENCY: Record<string, string> = { NL: 'EUR', DE: 'EUR', FR: 'EUR', US: 'USD', SG: 'SGD' }

function pick<T> (rand: () => number, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)] as T
}

function digits (rand: () => number, n: number): string {
  let s = ''
  for (let i = 0; i < n; i++) s += String(Math.floor(rand() * 10))
  return s
}

function traceparent (rand: () => number): string {
  const hex = (n: number): string => Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join('')
  return `00-${hex(32)}-${hex(16)}-01`
}

interface OpenShipment { shipmentId: string, orderId: string, carrier: string, step: number, place: typeof PLACES[number], name: string, phone: string }

/** Generates linked demo records: orders, then their shipments moving step by step, and stock changes. */
export class DemoDataGenerator {
  private readonly rand: () => number
  private orderSeq: number
  private shipmentSeq: number
  private readonly shipments: OpenShipment[] = []
  private readonly stock = new Map<string, number>()

  constructor (seed = 42, private readonly now: () => number = Date.now) {
    this.rand = prng(seed)
    this.orderSeq = 100000 + Math.floor(this.rand() * 1000) * 10
    this.shipmentSeq = 500000 + Math.floor(this.rand() * 1000) * 10
  }

  order (): DemoRecord {
    const r = this.rand
    const place = pick(r, PLACES)
    const first = pick(r, FIRST)
    const last = pick(r, LAST)
    const orderId = `o-${++this.orderSeq}`
    const items = Array.from({ length: 1 + Math.floor(r() * 3) }, () => {
      const p = pick(r, PRODUCTS)
      return { sku: p.sku, name: p.name, quantity: 1 + Math.floor(r() * 3), unit_price: p.price }
    })
    const total = Math.round(items.reduce((sum, i) => sum + i.quantity * i.unit_price, 0) * 100) / 100
    const phone = `${place.phone} ${digits(r, 4)} ${digits(r, 4)}`
    const name = `${first} ${last}`
    const value = {
      order_id: orderId,
      status: r() < 0.03 ? 'test' : 'confirmed',
      created_at: new Date(this.now()).toISOString(),
      region: place.region,
      channel: pick(r, ['web', 'app', 'store', 'phone'] as const),
      customer: {
        id: `c-${digits(r, 6)}`,
        name,
        email: `${first.toLowerCase().normalize('NFD').replace(/[^a-z]/g, '')}.${last.toLowerCase().replace(/[^a-z]/g, '')}@example.com`,
        phone,
        loyalty_tier: pick(r, ['none', 'silver', 'gold', 'platinum'] as const)
      },
      shipping: { name, street: `${pick(r, STREETS)} ${1 + Math.floor(r() * 300)}`, city: place.city, postcode: place.postcode, country: place.country },
      items,
      total,
      currency: CURRENCY[place.country] ?? 'EUR',
      payment: { method: pick(r, ['card', 'paypal', 'invoice', 'gift_card'] as const), card_last4: digits(r, 4) }
    }
    if (value.status !== 'test') {
      this.shipments.push({ shipmentId: `s-${++this.shipmentSeq}`, orderId, carrier: pick(r, CARRIERS), step: -1, place, name, phone })
      if (this.shipments.length > 200) this.shipments.shift()
    }
    return { key: orderId, value, headers: { traceparent: traceparent(r) } }
  }

  /** Advances a random open shipment by one step; undefined when none is open. */
  shipment (): DemoRecord | undefined {
    const r = this.rand
    if (this.shipments.length === 0) return undefined
    const index = Math.floor(r() * this.shipments.length)
    const s = this.shipments[index] as OpenShipment
    s.step++
    const exception = r() < 0.02
    const status = exception ? 'exception' : SHIPMENT_STEPS[s.step] ?? 'delivered'
    if (status === 'delivered' || s.step >= SHIPMENT_STEPS.length - 1) this.shipments.splice(index, 1)
    const eta = new Date(this.now() + (2 + Math.floor(r() * 3)) * 86400000).toISOString().slice(0, 10)
    const value = {
      shipment_id: s.shipmentId,
      order_id: s.orderId,
      carrier: s.carrier,
      tracking_number: `${s.carrier.toUpperCase()}${digits(r, 10)}`,
      status,
      updated_at: new Date(this.now()).toISOString(),
      eta,
      weight_kg: Math.round((0.2 + r() * 6) * 100) / 100,
      location: {
        city: s.place.city,
        postcode: s.place.postcode,
        country: s.place.country,
        lat: Math.round((s.place.lat + (r() - 0.5) * 0.1) * 10000) / 10000,
        lon: Math.round((s.place.lon + (r() - 0.5) * 0.1) * 10000) / 10000
      },
      recipient: { name: s.name, phone: s.phone }
    }
    return { key: s.shipmentId, value, headers: { traceparent: traceparent(r) } }
  }

  /** A return request as a partner would write it (products/returns.yaml), stamped for `partnerId`. */
  returnRequest (partnerId: string, shareId = 'sh_demo'): DemoRecord {
    const r = this.rand
    const id = `r-${digits(r, 8)}`
    const items = Array.from({ length: 1 + Math.floor(r() * 2) }, () => ({ sku: pick(r, PRODUCTS).sku, quantity: 1 + Math.floor(r() * 2) }))
    const value = {
      return_id: id,
      order_id: `o-${100000 + Math.floor(r() * 9000)}`,
      reason: pick(r, ['damaged', 'wrong_item', 'not_as_described', 'no_longer_needed', 'other'] as const),
      items,
      requested_at: new Date(this.now()).toISOString(),
      partner_reference: `PR-${digits(r, 6)}`
    }
    return { key: id, value, headers: { 'streamshare-partner': partnerId, 'streamshare-share': shareId, traceparent: traceparent(r) } }
  }

  inventory (): DemoRecord {
    const r = this.rand
    const product = pick(r, PRODUCTS)
    const warehouse = pick(r, WAREHOUSES)
    const id = `${product.sku}@${warehouse.id}`
    const onHand = Math.max(0, (this.stock.get(id) ?? 50 + Math.floor(r() * 200)) + Math.floor(r() * 21) - 12)
    this.stock.set(id, onHand)
    const reserved = Math.min(onHand, Math.floor(r() * 15))
    const value = {
      sku: product.sku,
      warehouse_id: warehouse.id,
      region: warehouse.region,
      on_hand: onHand,
      reserved,
      available: onHand - reserved,
      reorder_point: 40,
      unit_cost: Math.round(product.price * 0.45 * 100) / 100,
      supplier_id: `sup-${product.sku.slice(-2)}`,
      updated_at: new Date(this.now()).toISOString()
    }
    return { key: JSON.stringify({ sku: product.sku, warehouse_id: warehouse.id }), value, headers: {} }
  }
}
