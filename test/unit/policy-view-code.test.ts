import t from 'tap'
import { compileObjectView } from '../../src/policy/view-code.js'
import { actionContext, keepAny, keepScalar, WITHHELD, type ValueTransform } from '../../src/policy/actions.js'
import type { TreeLevel } from '../../src/policy/path-tree.js'
import type { FieldActionSpec } from '../../src/catalog/types.js'

// The loader only accepts identifier-like names; the generator must be safe without
// relying on that, so these names go straight into a tree.
const HOSTILE = ['a"b', "c'd", 'e\\f', 'g\u2028h', 'i\u2029j', '*/ k /*', '${l}', '`m`', '"]; globalThis.pwned = 1; //', '__proto__', 'constructor', '']
const ctx = actionContext(Buffer.alloc(32, 1))
const upper: ValueTransform = v => typeof v === 'string' ? v.toUpperCase() : WITHHELD
const transformFor = (action: FieldActionSpec, mode: 'allow' | 'deny'): ValueTransform | undefined =>
  action === 'keep' ? (mode === 'allow' ? keepScalar : keepAny) : action === 'drop' ? undefined : upper

function level (names: string[], action: FieldActionSpec): TreeLevel {
  return new Map(names.map(name => [name, { name, arrays: 0, action }]))
}

t.test('property names are data in the generated code, never code', async t => {
  const input = JSON.parse(JSON.stringify(Object.fromEntries(HOSTILE.map(n => [n, `v-${n}`])))) as Record<string, unknown>
  const allow = compileObjectView(level(HOSTILE, { truncate: 1 }), 'allow', transformFor)(input, ctx)
  t.strictSame(Object.keys(allow), HOSTILE, 'every listed name, in policy order')
  HOSTILE.forEach((n, i) => t.equal(Object.getOwnPropertyDescriptor(allow, n)?.value, `V-${n.toUpperCase()}`, `hostile name ${i}`))
  t.equal(Object.getPrototypeOf(allow), Object.prototype, '__proto__ stayed data')
  t.equal((globalThis as Record<string, unknown>).pwned, undefined, 'nothing ran')

  const deny = compileObjectView(level(HOSTILE.slice(0, 6), 'drop'), 'deny', transformFor)(input, ctx)
  t.strictSame(Object.keys(deny).sort(), HOSTILE.slice(6).sort(), 'dropped names gone, the others copied')
  t.equal(Object.getPrototypeOf(deny), Object.prototype)
})

t.test('nested levels and [*] in both modes', async t => {
  const tree: TreeLevel = new Map([
    ['o', { name: 'o', arrays: 0, children: level(['x'], 'keep') }],
    ['m', { name: 'm', arrays: 2, children: level(['y'], { truncate: 1 }) }]
  ])
  const view = compileObjectView(tree, 'allow', transformFor)
  t.strictSame(view({ o: { x: 1, z: 2 }, m: [[{ y: 'a', q: 1 }, 'bad'], null, 'bad'], other: 1 }, ctx), { o: { x: 1 }, m: [[{ y: 'A' }], null] })
  t.strictSame(view({ o: null, m: null }, ctx), { o: null, m: null }, 'null passes where an object or array was expected')
  t.strictSame(view({ o: [1], m: {} }, ctx), {}, 'the wrong shape is withheld')
})
