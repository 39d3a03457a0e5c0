/**
 * A fast path for the most common shape of `where`: string comparisons joined by
 * `&&`, `||` and `!` — `record.status != 'test' && partner.attributes.region ==
 * record.region`, `record.region in ['eu-west', 'eu-north']`. Such an expression is
 * turned into plain JavaScript closures once, at load; per record they cost a few
 * property reads instead of a walk of the CEL AST with overload lookups (about
 * 1 µs per record, a sixth of a full view: policy-view benchmark).
 *
 * It is not a second CEL implementation. It answers only when every value it reads
 * is a string that is there — then CEL's answer is plain string equality and
 * boolean logic — and says UNDECIDED otherwise (a missing field, a number, a null,
 * a map...), and the caller asks cel-js, which stays the one source of truth for
 * types, errors and their messages. Short cuts keep CEL's logic: `false && x` is
 * false and `true || x` is true whatever x is, errors included. Property-tested
 * against cel-js in test/unit/policy-where-fast.test.ts.
 */
import type { ASTNode } from '@marcbachmann/cel-js'

export const UNDECIDED: unique symbol = Symbol('undecided')
export type FastResult = boolean | typeof UNDECIDED

/** What the fast path reads; the same object the CEL program gets. */
export interface FastContext {
  record: unknown
  headers: Readonly<Record<string, string>>
  partner: { readonly id: string, readonly attributes: Readonly<Record<string, string>> }
}

type Condition = (ctx: FastContext) => FastResult
/** A string, or UNDECIDED when the value is absent or not a string. */
type Operand = (ctx: FastContext) => string | typeof UNDECIDED

const hasOwn = Object.prototype.hasOwnProperty

/**
 * The value under `name` when `from` is a JSON object that has it as its own property.
 * An object with its own `constructor` property is left to cel-js, which tells maps
 * from other types by `value.constructor` and so refuses such an object
 * (`unsupported_type`): the two paths must agree even there.
 */
function member (from: unknown, name: string): unknown {
  if (from === null || typeof from !== 'object' || Array.isArray(from) || !hasOwn.call(from, name) || hasOwn.call(from, 'constructor')) return UNDECIDED
  return (from as Record<string, unknown>)[name]
}

/** `x.name` or `x['name']`: the target node and the name, or undefined. */
function selection (node: ASTNode): [ASTNode, string] | undefined {
  if (node.op === '.') return [node.args[0], node.args[1]]
  if (node.op === '[]' && node.args[1].op === 'value' && typeof node.args[1].args === 'string') return [node.args[0], node.args[1].args]
  return undefined
}

/** The names of a `record.a['b'].c` chain, or undefined. */
function recordPath (node: ASTNode): string[] | undefined {
  if (node.op === 'id') return node.args === 'record' ? [] : undefined
  const s = selection(node)
  if (s === undefined) return undefined
  const path = recordPath(s[0])
  return path === undefined ? undefined : [...path, s[1]]
}

function operand (node: ASTNode): Operand | undefined {
  if (node.op === 'value') {
    if (typeof node.args !== 'string') return undefined
    const text = node.args
    return () => text
  }
  const path = recordPath(node)
  if (path !== undefined && path.length > 0) {
    return ctx => {
      let v: unknown = ctx.record
      for (let i = 0; i < path.length; i++) {
        v = member(v, path[i] as string)
        if (v === UNDECIDED) return UNDECIDED
      }
      return typeof v === 'string' ? v : UNDECIDED
    }
  }
  const s = selection(node)
  if (s === undefined) return undefined
  const [target, name] = s
  if (target.op === 'id' && target.args === 'headers') {
    return ctx => { const v = member(ctx.headers, name); return typeof v === 'string' ? v : UNDECIDED }
  }
  if (target.op === 'id' && target.args === 'partner' && name === 'id') return ctx => ctx.partner.id
  const parent = selection(target)
  if (parent !== undefined && parent[0].op === 'id' && parent[0].args === 'partner' && parent[1] === 'attributes') {
    return ctx => { const v = member(ctx.partner.attributes, name); return typeof v === 'string' ? v : UNDECIDED }
  }
  return undefined
}

function condition (node: ASTNode): Condition | undefined {
  switch (node.op) {
    case '&&':
    case '||': {
      const left = condition(node.args[0])
      const right = condition(node.args[1])
      if (left === undefined || right === undefined) return undefined
      // CEL's && and || are commutative over errors: the deciding value wins from either side.
      const decisive = node.op === '||'
      return ctx => {
        const a = left(ctx)
        if (a === decisive) return decisive
        const b = right(ctx)
        if (b === decisive) return decisive
        return a === UNDECIDED || b === UNDECIDED ? UNDECIDED : !decisive
      }
    }
    case '!_': {
      const inner = condition(node.args)
      if (inner === undefined) return undefined
      return ctx => { const r = inner(ctx); return r === UNDECIDED ? UNDECIDED : !r }
    }
    case '==':
    case '!=': {
      const left = operand(node.args[0])
      const right = operand(node.args[1])
      if (left === undefined || right === undefined) return undefined
      const equal = node.op === '=='
      return ctx => {
        const a = left(ctx)
        if (a === UNDECIDED) return UNDECIDED
        const b = right(ctx)
        if (b === UNDECIDED) return UNDECIDED
        return (a === b) === equal
      }
    }
    case 'in': {
      const left = operand(node.args[0])
      const list = node.args[1]
      if (left === undefined || list.op !== 'list') return undefined
      const items: string[] = []
      for (const item of list.args) {
        if (item.op !== 'value' || typeof item.args !== 'string') return undefined
        items.push(item.args)
      }
      const set = new Set(items)
      return ctx => { const a = left(ctx); return a === UNDECIDED ? UNDECIDED : set.has(a) }
    }
    default:
      return undefined
  }
}

/** The fast path for `ast`, or undefined when the expression is not of the shape it handles. */
export function compileFastWhere (ast: ASTNode): ((ctx: FastContext) => FastResult) | undefined {
  return condition(ast)
}
