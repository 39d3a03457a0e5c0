/**
 * Turns a policy's path tree into JavaScript source, compiled once per policy with
 * `new Function` (as ajv does for schemas): one function per object level, with the
 * listed property names written in and each action's transform referenced by index.
 *
 * Why generate code: a generic walk over entry arrays runs the same few functions
 * for every policy and every level, so V8 sees every property name and every
 * transform at the same call sites and falls back to slow, megamorphic lookups and
 * calls. Generated per policy, each property read and each transform call has one
 * shape and one target, and the view costs about half (policy-view benchmark).
 *
 * Safety: nothing from a record ever reaches the generated text. Property names
 * come from the policy file, already checked against the product schema, and are
 * written as JSON string literals (valid JavaScript string literals, quotes and line
 * separators escaped), never as identifiers; transforms are passed in as an array.
 *
 * Semantics, the same for both modes:
 * - an absent field stays absent; `null` passes as `null` where an object or array
 *   was expected (it carries nothing);
 * - a value of the wrong shape (not an object where the policy descends, not an
 *   array where it says `[*]`) is WITHHELD, and so is an array item of the wrong shape;
 * - a property named `__proto__` becomes a data property, never the prototype.
 * allow mode copies only listed paths into a fresh object, in policy order. deny mode
 * copies every property in record order, leaving out dropped paths and transforming
 * listed ones; unlisted values are shared with the input (nobody mutates either).
 */
import { WITHHELD, keepAny, keepScalar, type ActionContext, type ValueTransform } from './actions.js'
import type { TreeEntry, TreeLevel } from './path-tree.js'
import type { FieldActionSpec } from '../catalog/types.js'

export type ObjectView = (input: Record<string, unknown>, ctx: ActionContext) => Record<string, unknown>

interface Generator {
  mode: 'allow' | 'deny'
  transformFor: (action: FieldActionSpec, mode: 'allow' | 'deny') => ValueTransform | undefined
  functions: string[]
  transforms: ValueTransform[]
}

const literal = (name: string): string => JSON.stringify(name)

/** The statement that stores `r` under `name` in `out` (a `__proto__` key as data). */
function store (name: string): string {
  return name === '__proto__'
    ? `if (r !== W) setOwn(out, ${literal(name)}, r)`
    : `if (r !== W) out[${literal(name)}] = r`
}

/** Emits a function `(v, ctx) → result | W` for one entry at `arrays` levels of `[*]`; returns its name. */
function valueFunction (g: Generator, entry: TreeEntry, arrays: number): string {
  const name = `v${g.functions.length}`
  g.functions.push('') // reserve the slot (and the name) before the children take theirs
  let body: string
  if (arrays > 0) {
    const item = valueFunction(g, entry, arrays - 1)
    body = `if (v === null) return null
  if (!Array.isArray(v)) return W
  const out = []
  for (let i = 0; i < v.length; i++) { const r = ${item}(v[i], ctx); if (r !== W) out.push(r) }
  return out`
  } else if (entry.children !== undefined) {
    const level = objectFunction(g, entry.children)
    body = `if (v === null) return null
  if (typeof v !== 'object' || Array.isArray(v)) return W
  return ${level}(v, ctx)`
  } else {
    const transform = g.transformFor(entry.action as FieldActionSpec, g.mode) as ValueTransform
    if (transform === keepAny) body = 'return v'
    else if (transform === keepScalar) body = "if (v === null || typeof v !== 'object') return v\n  return keepScalar(v)"
    else {
      g.transforms.push(transform)
      body = `return T[${g.transforms.length - 1}](v, ctx)`
    }
  }
  g.functions[Number(name.slice(1))] = `function ${name} (v, ctx) {\n  ${body}\n}`
  return name
}

/** Emits the function for one object level; returns its name. */
function objectFunction (g: Generator, level: TreeLevel): string {
  const name = `v${g.functions.length}`
  g.functions.push('')
  const lines: string[] = []
  if (g.mode === 'allow') {
    lines.push('const out = {}')
    for (const entry of level.values()) {
      const fn = valueFunction(g, entry, entry.arrays)
      lines.push(`if (hasOwn.call(input, ${literal(entry.name)})) { const r = ${fn}(input[${literal(entry.name)}], ctx); ${store(entry.name)} }`)
    }
  } else {
    lines.push('const out = {}', 'const keys = Object.keys(input)', 'for (let i = 0; i < keys.length; i++) {', '  const k = keys[i]', '  switch (k) {')
    for (const entry of level.values()) {
      if (entry.action === 'drop') {
        lines.push(`    case ${literal(entry.name)}: continue`)
      } else {
        const fn = valueFunction(g, entry, entry.arrays)
        lines.push(`    case ${literal(entry.name)}: { const r = ${fn}(input[k], ctx); ${store(entry.name)}; continue }`)
      }
    }
    lines.push('    default: if (k === \'__proto__\') setOwn(out, k, input[k]); else out[k] = input[k]', '  }', '}')
  }
  lines.push('return out')
  g.functions[Number(name.slice(1))] = `function ${name} (input, ctx) {\n  ${lines.join('\n  ')}\n}`
  return name
}

/** Sets an own property, also for the name `__proto__` (plain assignment would set the prototype). */
function setOwn (target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

/** Compiles the tree's root level into an object view. */
export function compileObjectView (root: TreeLevel, mode: 'allow' | 'deny', transformFor: Generator['transformFor']): ObjectView {
  const g: Generator = { mode, transformFor, functions: [], transforms: [] }
  const rootName = objectFunction(g, root)
  const source = `'use strict'\n${g.functions.join('\n')}\nreturn ${rootName}`
  // eslint-disable-next-line @typescript-eslint/no-implied-eval, no-new-func -- see the module comment
  const build = new Function('W', 'T', 'hasOwn', 'setOwn', 'keepScalar', source) as (...args: unknown[]) => ObjectView
  return build(WITHHELD, Object.freeze([...g.transforms]), Object.prototype.hasOwnProperty, setOwn, keepScalar)
}
