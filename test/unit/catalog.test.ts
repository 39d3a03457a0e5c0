import t from 'tap'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { checkCatalog, loadCatalog, CatalogInvalidError, formatProblem } from '../../src/catalog/load.js'
import { SHIPPED_POLICIES } from '../helpers/policies.js'
import { DemoDataGenerator } from '../../src/dev/demo-data.js'

const SCHEMA = JSON.stringify({
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['id'],
  properties: {
    id: { type: 'string' },
    email: { type: 'string' },
    n: { type: 'number' },
    address: { type: 'object', properties: { city: { type: 'string' } } },
    tags: { type: 'array', items: { type: 'string' } }
  }
})

function product (name: string, extra = '', policies = 'p1:\n    fields:\n      id: keep\n'): string {
  return `name: ${name}\ntopic: t.${name}\nowner: team\ndescription: d\nkey: none\nschema: ../schemas/s.json\n${extra}policies:\n  ${policies}`
}

async function folder (files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'catalog-'))
  await mkdir(path.join(dir, 'products'))
  await mkdir(path.join(dir, 'schemas'))
  await writeFile(path.join(dir, 'schemas', 's.json'), SCHEMA)
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text)
  return dir
}

t.test('the shipped policies folder loads: products, schemas, policies', async t => {
  const catalog = await loadCatalog(SHIPPED_POLICIES)
  t.same([...catalog.products.keys()].sort(), ['inventory-levels', 'orders', 'returns', 'shipments'])
  const orders = catalog.products.get('orders')!
  t.equal(orders.topic, 'sales.orders.v1')
  t.equal(orders.keyFormat, 'string')
  t.ok(orders.policies.has('partner-basic'))
  const basic = orders.policies.get('partner-basic')!
  t.equal(basic.mode, 'allow')
  t.match(basic.version, /^[0-9a-f]{12}$/)
  t.same(basic.headers, ['traceparent'])
  t.ok(basic.fields.some(([p, a]) => p === 'customer.email' && a === 'drop'))
  t.equal(basic.compiled.version, basic.version, 'compiled once at load')
  t.equal(basic.compiled.hasFilter, true)
  t.equal(basic.keyAction, 'keep')
  t.equal(catalog.products.get('inventory-levels')!.policies.get('marketplace-availability')!.keyAction, 'hash')
  for (const p of catalog.products.values()) t.ok(p.policies.size >= 1, `${p.name} has a partner policy`)
  t.equal(catalog.products.get('inventory-levels')!.keyFormat, 'json')
})

t.test('shipped schemas accept the demo data and reject broken records', async t => {
  const catalog = await loadCatalog(SHIPPED_POLICIES)
  const demo = new DemoDataGenerator(3)
  for (let i = 0; i < 200; i++) {
    const order = demo.order()
    t.ok(catalog.products.get('orders')!.validate(order.value), 'order valid')
    const shipment = demo.shipment()
    if (shipment !== undefined) t.ok(catalog.products.get('shipments')!.validate(shipment.value), 'shipment valid')
    t.ok(catalog.products.get('inventory-levels')!.validate(demo.inventory().value), 'inventory valid')
  }
  t.notOk(catalog.products.get('orders')!.validate({ order_id: 'x' }))
})

t.test('policy versions are stable and change with the policy text', async t => {
  const a = await loadCatalog(await folder({ 'products/a.yaml': product('a') }))
  const b = await loadCatalog(await folder({ 'products/a.yaml': product('a').replace('name: a', '# a comment\nname: a') }))
  const c = await loadCatalog(await folder({ 'products/a.yaml': product('a', '', 'p1:\n    fields:\n      id: keep\n      email: drop\n') }))
  const v = (cat: typeof a): string => cat.products.get('a')!.policies.get('p1')!.version
  t.equal(v(a), v(b), 'comments and layout do not change the version')
  t.not(v(a), v(c), 'a new field does')
})

interface Case { name: string, files: Record<string, string>, expect: RegExp, line?: number }

const cases: Case[] = [
  { name: 'unknown action', files: { 'products/a.yaml': product('a', '', 'p1:\n    fields:\n      id: scramble\n') }, expect: /unknown action "scramble"/, line: 10 },
  { name: 'bad generalize option', files: { 'products/a.yaml': product('a', '', 'p1:\n    fields:\n      id: { generalize: week }\n') }, expect: /bad option for generalize/ },
  { name: 'bad mask option', files: { 'products/a.yaml': product('a', '', 'p1:\n    fields:\n      id: { mask: { keep_middle: 2 } }\n') }, expect: /bad option for mask/ },
  { name: 'bad truncate option', files: { 'products/a.yaml': product('a', '', 'p1:\n    fields:\n      id: { truncate: -1 }\n') }, expect: /bad option for truncate/ },
  { name: 'bad field path', files: { 'products/a.yaml': product('a', '', 'p1:\n    fields:\n      "items[0].sku": keep\n') }, expect: /invalid field path/ },
  { name: 'duplicate policy name', files: { 'products/a.yaml': product('a', '', 'p1:\n    fields:\n      id: keep\n  p1:\n    fields:\n      id: drop\n') }, expect: /duplicate key/ },
  { name: 'unknown key in a product', files: { 'products/a.yaml': product('a', 'colour: red\n') }, expect: /unknown key "colour"/, line: 7 },
  { name: 'missing key', files: { 'products/a.yaml': 'name: a\ntopic: t.a\n' }, expect: /missing key "owner"/ },
  { name: 'bad mode', files: { 'products/a.yaml': product('a', '', 'p1:\n    mode: maybe\n    fields:\n      id: keep\n') }, expect: /mode/ },
  { name: 'missing schema file', files: { 'products/a.yaml': product('a').replace('s.json', 'missing.json') }, expect: /cannot be read/, line: 6 },
  { name: 'schema outside the folder', files: { 'products/a.yaml': product('a').replace('../schemas/s.json', '../../etc/passwd') }, expect: /outside the policies folder/ },
  { name: 'invalid JSON schema', files: { 'products/a.yaml': product('a').replace('s.json', 'bad.json'), 'schemas/bad.json': '{"type": "objekt"}' }, expect: /not a valid JSON Schema/ },
  { name: 'schema is not JSON', files: { 'products/a.yaml': product('a').replace('s.json', 'bad.json'), 'schemas/bad.json': '{nope' }, expect: /not valid JSON/ },
  { name: 'topic used twice', files: { 'products/a.yaml': product('a'), 'products/b.yaml': product('b').replace('topic: t.b', 'topic: t.a') }, expect: /topic "t.a" is already used by product "a"/ },
  { name: 'name does not match file', files: { 'products/a.yaml': product('zzz') }, expect: /must match the file name/ },
  { name: 'internal topic', files: { 'products/a.yaml': product('a').replace('topic: t.a', 'topic: _streamshare.registry') }, expect: /topic/ },
  { name: 'unknown field path', files: { 'products/a.yaml': product('a', '', 'p1:\n    fields:\n      id: keep\n      address.street: keep\n') }, expect: /^policy p1: unknown field path "address.street" \(not in schemas\/s.json\)$/, line: 11 },
  { name: '[*] on a non-array', files: { 'products/a.yaml': product('a', '', 'p1:\n    fields:\n      id[*]: keep\n') }, expect: /^policy p1: field path "id\[\*\]": id is not an array in schemas\/s.json/, line: 10 },
  { name: 'action that cannot apply to the type', files: { 'products/a.yaml': product('a', '', 'p1:\n    fields:\n      id: keep\n      address: { truncate: 3 }\n') }, expect: /^policy p1: field address: truncate cannot apply to object/, line: 11 },
  { name: 'generalize on a plain string', files: { 'products/a.yaml': product('a', '', 'p1:\n    fields:\n      id: { generalize: day }\n') }, expect: /^policy p1: field id: generalize needs a string with format date-time or date/, line: 10 },
  { name: 'keep on an object in allow mode', files: { 'products/a.yaml': product('a', '', 'p1:\n    fields:\n      id: keep\n      address: keep\n') }, expect: /^policy p1: field address: keep on an object/, line: 11 },
  { name: 'overlapping paths', files: { 'products/a.yaml': product('a', '', 'p1:\n    fields:\n      address: hash\n      address.city: keep\n') }, expect: /^policy p1: field address.city is inside address/, line: 11 },
  { name: 'CEL syntax error', files: { 'products/a.yaml': product('a', '', 'p1:\n    fields:\n      id: keep\n    where: "record.id == "\n') }, expect: /^policy p1: where: Unexpected token: EOF/, line: 11 },
  { name: 'CEL type error', files: { 'products/a.yaml': product('a', '', 'p1:\n    fields:\n      id: keep\n    headers: [source]\n    where: >-\n      record.id != \'x\' &&\n      headers.source + 1 == 2\n') }, expect: /^policy p1: where: no such overload: string \+ int \(at "headers.source \+ 1"\)$/, line: 12 },
  { name: 'CEL result is not a boolean', files: { 'products/a.yaml': product('a', '', 'p1:\n    fields:\n      id: keep\n    where: "size(record.tags)"\n') }, expect: /^policy p1: where: must be a boolean expression, but it gives int$/, line: 11 },
  { name: 'CEL unknown record field', files: { 'products/a.yaml': product('a', '', 'p1:\n    fields:\n      id: keep\n    where: "record.emial.endsWith(\'@x.com\')"\n') }, expect: /^policy p1: where: unknown field record.emial \(not in schemas\/s.json\)$/, line: 11 },
  { name: 'CEL unknown variable', files: { 'products/a.yaml': product('a', '', 'p1:\n    fields:\n      id: keep\n    where: "user.id == \'x\'"\n') }, expect: /^policy p1: where: Unknown variable: user/, line: 11 },
  { name: 'JSON key without a key rule in allow mode', files: { 'products/a.yaml': product('a').replace('key: none', 'key: json') }, expect: /^policy p1: an allow-mode policy lists what leaves, and the record key \(json\) leaves too/, line: 8 },
  { name: 'string key without a key rule in allow mode', files: { 'products/a.yaml': product('a').replace('key: none', 'key: string') }, expect: /^policy p1: an allow-mode policy lists what leaves, and the record key \(string\) leaves too/, line: 8 },
  { name: 'bad key rule', files: { 'products/a.yaml': product('a', '', 'p1:\n    key: scramble\n    fields:\n      id: keep\n') }, expect: /key/, line: 9 },
  { name: 'YAML syntax error', files: { 'products/a.yaml': 'name: a\n  topic: [\n' }, expect: /./ },
  { name: 'no products', files: {}, expect: /no product files/ }
]

for (const c of cases) {
  t.test(`problem: ${c.name}`, async t => {
    const dir = await folder(c.files)
    const { catalog, problems } = await checkCatalog(dir)
    t.equal(catalog, undefined, 'no catalog')
    t.ok(problems.length >= 1, 'at least one problem')
    const matching = problems.find(p => c.expect.test(p.message))
    t.ok(matching, `a problem matches ${String(c.expect)}: ${problems.map(formatProblem).join(' | ')}`)
    if (c.line !== undefined) t.equal(matching?.line, c.line, 'points at the line')
    t.match(formatProblem(matching!), /^[^:]+:\d+: /, 'file:line: message')
    await t.rejects(loadCatalog(dir), CatalogInvalidError)
  })
}

t.test('all problems are reported at once', async t => {
  const dir = await folder({
    'products/a.yaml': product('a', '', 'p1:\n    fields:\n      id: scramble\n      email: { mask: {} }\n'),
    'products/b.yaml': product('b', 'colour: red\n')
  })
  const { problems } = await checkCatalog(dir)
  t.ok(problems.length >= 3, problems.map(formatProblem).join('\n'))
  t.ok(problems.some(p => p.file === path.join('products', 'b.yaml')))
})
