import t from 'tap'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { loadCatalog } from '../../src/catalog/load.js'
import { GatewaySecret } from '../../src/auth/gateway-secret.js'
import { DemoDataGenerator, type DemoRecord } from '../../src/dev/demo-data.js'
import { bindPolicy, previewPolicy, type PolicyView } from '../../src/policy/index.js'
import { SHIPPED_POLICIES } from '../helpers/policies.js'

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default
const secret = new GatewaySecret('a test secret that is long enough')

// Field names each shipped policy withholds (dropped or never listed) that appear
// nowhere else in what it delivers, so they must not appear in its output schema.
const WITHHELD: Record<string, Record<string, string[]>> = {
  orders: {
    'partner-basic': ['email', 'card_last4', 'street', 'loyalty_tier', 'payment', 'channel', 'unit_price', 'city'],
    'analytics-internal': ['email', 'street', 'card_last4']
  },
  shipments: {
    'carrier-tracking': ['recipient', 'phone', 'weight_kg', 'postcode'],
    'customer-service': ['location', 'lat', 'lon', 'weight_kg', 'postcode']
  },
  'inventory-levels': {
    'marketplace-availability': ['unit_cost', 'supplier_id', 'on_hand', 'reserved', 'reorder_point'],
    'supplier-replenishment': ['unit_cost', 'supplier_id', 'region', 'available']
  }
}

t.test('shipped policies: derived schemas never mention withheld fields', async t => {
  const catalog = await loadCatalog(SHIPPED_POLICIES)
  for (const [product, policies] of Object.entries(WITHHELD)) {
    for (const [name, withheld] of Object.entries(policies)) {
      const policy = catalog.products.get(product)!.policies.get(name)!
      const text = JSON.stringify(policy.compiled.outputSchema)
      for (const w of withheld) t.notOk(text.includes(w), `${product}/${name}: "${w}" is not in the output schema`)
      t.notOk(text.includes('$defs') || text.includes('$ref'), 'self-contained')
    }
  }
  t.notOk(JSON.stringify(catalog.products.get('orders')!.policies.get('partner-basic')!.compiled.outputSchema).includes('email'))
})

function records (product: string, demo: DemoDataGenerator): DemoRecord[] {
  const out: DemoRecord[] = []
  for (let i = 0; i < 300; i++) {
    if (product === 'orders') out.push(demo.order())
    if (product === 'shipments') { demo.order(); const s = demo.shipment(); if (s !== undefined) out.push(s) }
    if (product === 'inventory-levels') out.push(demo.inventory())
    if (product === 'returns') out.push(demo.returnRequest('partner-1'))
  }
  return out
}

t.test('shipped policies: views of demo records match their output schemas and leak nothing', async t => {
  const catalog = await loadCatalog(SHIPPED_POLICIES)
  for (const product of catalog.products.values()) {
    for (const policy of product.policies.values()) {
      const ajv = new Ajv2020({ strict: false, allErrors: true })
      addFormats(ajv)
      const validate = ajv.compile(policy.compiled.outputSchema)
      const demo = new DemoDataGenerator(11)
      let delivered = 0
      let filtered = 0
      let errors = 0
      for (const r of records(product.name, demo)) {
        t.ok(product.validate(r.value), 'the demo record is valid')
        const attrs = { region: r.value.region, supplier_id: r.value.supplier_id }
        const view: PolicyView = bindPolicy(policy.compiled, { shareId: 'share-1', secret, partnerAttributes: attrs, partnerId: 'partner-1' })
        const key = product.keyFormat === 'json' ? JSON.parse(r.key) : r.key
        const out = view({ value: r.value, key, headers: r.headers })
        if (!out.delivered) { if (out.reason === 'filtered') filtered++; else errors++; continue }
        delivered++
        if (!validate(out.value)) t.fail(`${product.name}/${policy.name}: ${JSON.stringify(validate.errors)}`)
        const text = JSON.stringify(out)
        for (const w of WITHHELD[product.name]?.[policy.name] ?? []) {
          if (text.includes(`"${w}"`)) t.fail(`${product.name}/${policy.name}: ${w} leaked`)
        }
      }
      t.ok(delivered > 0, `${product.name}/${policy.name}: ${delivered} delivered, ${filtered} filtered, ${errors} errors`)
      t.equal(errors, 0, 'no filter errors on valid demo records with the attributes the filter needs')
    }
  }
})

t.test('shipped policies: where filters do what they say', async t => {
  const catalog = await loadCatalog(SHIPPED_POLICIES)
  const demo = new DemoDataGenerator(5)
  const orders = catalog.products.get('orders')!
  const basic = bindPolicy(orders.policies.get('partner-basic')!.compiled, { shareId: 's', secret, partnerAttributes: { region: 'eu-west' }, partnerId: 'p-1' })
  const order = demo.order()
  const euWest = { ...order.value, region: 'eu-west', status: 'confirmed' }
  t.equal(basic({ value: euWest, key: order.key, headers: {} }).delivered, true)
  t.strictSame(basic({ value: { ...euWest, status: 'test' }, key: order.key, headers: {} }), { delivered: false, reason: 'filtered' })
  t.strictSame(basic({ value: { ...euWest, region: 'apac' }, key: order.key, headers: {} }), { delivered: false, reason: 'filtered' })
  const noRegion = bindPolicy(orders.policies.get('partner-basic')!.compiled, { shareId: 's', secret, partnerAttributes: {}, partnerId: 'p-1' })
  t.match(noRegion({ value: euWest, key: order.key, headers: {} }), { delivered: false, reason: 'filter_error', error: /^no_such_key \(at "partner.attributes.region"\)$/ }, 'a partner without the attribute gets nothing, and it is counted')

  const inventory = catalog.products.get('inventory-levels')!
  const market = bindPolicy(inventory.policies.get('marketplace-availability')!.compiled, { shareId: 's', secret, partnerAttributes: {}, partnerId: 'p-1' })
  const inv = demo.inventory()
  const out = market({ value: inv.value, key: JSON.parse(inv.key), headers: {} })
  t.equal(out.delivered, true)
  if (out.delivered) {
    t.match(out.key, /^[A-Za-z0-9_-]{43}$/, 'the JSON key carries warehouse_id, so it is hashed')
    t.notOk(JSON.stringify(out).includes(String(inv.value.warehouse_id)), 'the raw warehouse id appears nowhere')
  }
})

t.test('shipped policies: hash differs across shares, not within one', async t => {
  const catalog = await loadCatalog(SHIPPED_POLICIES)
  const policy = catalog.products.get('orders')!.policies.get('analytics-internal')!.compiled
  const order = new DemoDataGenerator(9).order()
  const run = (shareId: string): unknown => {
    const out = bindPolicy(policy, { shareId, secret, partnerAttributes: {}, partnerId: 'p-1' })({ value: { ...order.value, status: 'confirmed' }, key: order.key, headers: {} })
    return out.delivered ? (out.value as { customer: { id: string } }).customer.id : undefined
  }
  t.equal(run('share-a'), run('share-a'))
  t.not(run('share-a'), run('share-b'))
  t.notOk(String(run('share-a')).includes(String((order.value.customer as { id: string }).id)))
})

t.test('preview: schema check first, then the view', async t => {
  const catalog = await loadCatalog(SHIPPED_POLICIES)
  const orders = catalog.products.get('orders')!
  const policy = orders.policies.get('partner-basic')!
  const order = new DemoDataGenerator(3).order()
  const value = { ...order.value, status: 'confirmed', region: 'eu-west' }
  const ok = previewPolicy(orders, policy, { value, key: order.key, headers: order.headers }, { secret, partnerAttributes: { region: 'eu-west' }, partnerId: 'p-1' })
  t.equal(ok.delivered, true)
  if (ok.delivered) {
    t.notOk(JSON.stringify(ok.output).includes('@example.com'), 'no email')
    t.strictSame(Object.keys(ok.output.headers), ['traceparent'])
    const asShare = bindPolicy(policy.compiled, { shareId: 'preview', secret, partnerAttributes: { region: 'eu-west' }, partnerId: 'p-1' })({ value, key: order.key, headers: order.headers })
    t.same(asShare.delivered ? asShare.value : undefined, ok.output.value, 'same as a bound view in the preview scope')
  }
  t.strictSame(previewPolicy(orders, policy, { value: { ...value, region: 'apac' } }, { secret, partnerAttributes: { region: 'eu-west' }, partnerId: 'p-1' }), { delivered: false, reason: 'filtered' })
  const bad = previewPolicy(orders, policy, { value: { ...value, order_id: 'secret-id-123' } }, { secret })
  t.match(bad, { delivered: false, reason: 'schema', errors: [{ path: '/order_id' }] })
  t.notOk(JSON.stringify(bad).includes('secret-id-123'), 'schema errors never quote the value')
})
