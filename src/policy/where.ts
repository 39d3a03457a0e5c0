/**
 * Row filters (`where`, CONTRACT §3): a CEL expression over `record` (the decoded
 * value), `key` (the decoded key), `headers` (map string → string) and
 * `partner.attributes` (map string → string). Library: @marcbachmann/cel-js — see
 * policies/README.md "Why @marcbachmann/cel-js" for the measurements.
 *
 * Everything that can be checked is checked once, at load: syntax, types (with
 * `record` and `key` dynamic), a boolean result, `record.a.b` field chains against
 * the product schema, and `matches()` patterns (literal and valid). At run time a
 * filter never throws: an error is a result, and its text names the failing part
 * of the *expression*, never a value from the record (CEL error messages may quote
 * data, e.g. "No such key: <value>").
 */
import { Environment, type ASTNode } from '@marcbachmann/cel-js'
import { SchemaNavigator, isSchemaObject, type SchemaObject } from './json-schema.js'
import { UNDECIDED, compileFastWhere } from './where-fast.js'

/** `partner` in CEL: a typed message, so `partner.typo` is a load error, not a runtime one. */
export class CelPartner {
  readonly id: string
  readonly attributes: Readonly<Record<string, string>>
  constructor (id: string, attributes: Readonly<Record<string, string>>) {
    this.id = id
    this.attributes = attributes
  }
}

/** What a filter sees. Built once per record by the bound view. */
export interface WhereContext {
  record: unknown
  key: unknown
  headers: Readonly<Record<string, string>>
  partner: CelPartner
}

export type WhereResult = true | false | { error: string }
export type WhereFilter = (ctx: WhereContext) => WhereResult

export interface CompiledWhere {
  readonly filter: WhereFilter
  /** False when the expression never reads `partner`: its result is the same for every share. */
  readonly usesPartner: boolean
  /**
   * False when the expression cannot read `headers`: the word does not occur in it at
   * all (a safe over-approximation), so callers may skip decoding headers for it.
   */
  readonly usesHeaders: boolean
}

// Built once: creating an Environment is the expensive part. Limits keep a hostile
// or careless expression from costing much at load; `where` text is ≤ 4000 chars.
const environment = new Environment({
  unlistedVariablesAreDyn: false,
  enableOptionalTypes: false,
  limits: { maxAstNodes: 2000, maxDepth: 48, maxListElements: 256, maxMapEntries: 256, maxCallArguments: 16 }
})
  .registerType('Partner', { ctor: CelPartner, fields: { id: 'string', attributes: 'map<string, string>' } })
  .registerVariable('record', 'dyn', { description: 'the decoded record value' })
  .registerVariable('key', 'dyn', { description: 'the decoded record key (string, JSON value or null)' })
  .registerVariable('headers', 'map<string, string>', { description: 'Kafka headers as strings' })
  .registerVariable('partner', 'Partner', { description: 'the partner of the share: .id and .attributes' })

const MACROS = new Set(['all', 'exists', 'exists_one', 'map', 'filter'])

interface CelErrorLike { summary?: unknown, message?: unknown, code?: unknown, range?: { start: number, end: number } }

/** "summary (at "excerpt")": the excerpt is from the expression, which is policy text. */
function describe (expression: string, err: CelErrorLike, fallback: string): string {
  const summary = typeof err.summary === 'string' && err.summary !== ''
    ? err.summary
    : typeof err.message === 'string' ? (err.message.split('\n')[0] ?? fallback) : fallback
  return `${summary}${where(expression, err.range)}`
}

function where (expression: string, range: { start: number, end: number } | undefined): string {
  if (range === undefined) return ''
  const excerpt = expression.slice(range.start, range.end).replace(/\s+/g, ' ').trim()
  if (excerpt === '') return ` (at column ${range.start + 1})`
  return ` (at "${excerpt.length > 60 ? excerpt.slice(0, 57) + '...' : excerpt}")`
}

interface Walk {
  expression: string
  navigator: SchemaNavigator
  schemaFile: string
  problems: string[]
  usesPartner: boolean
}

/** The names of a `record.a.b` / `record['a']` chain, or undefined if `node` is not one. */
function recordChain (node: ASTNode, bound: ReadonlySet<string>): string[] | undefined {
  if (node.op === 'id') return node.args === 'record' && !bound.has('record') ? [] : undefined
  if (node.op === '.') {
    const [target, name] = node.args
    const chain = recordChain(target, bound)
    return chain === undefined ? undefined : [...chain, name]
  }
  if (node.op === '[]') {
    const [target, index] = node.args
    const chain = recordChain(target, bound)
    if (chain === undefined || index.op !== 'value' || typeof index.args !== 'string') return undefined
    return [...chain, index.args]
  }
  return undefined
}

function checkRecordChain (w: Walk, names: readonly string[]): void {
  let current: SchemaObject[] = w.navigator.candidates(w.navigator.root)
  for (let i = 0; i < names.length; i++) {
    // Only where the schema lists properties can a name be unknown; an open object
    // (no `properties`) may hold anything.
    if (!current.some(c => isSchemaObject(c.properties))) return
    const next = w.navigator.property(current, names[i] as string)
    if (next === undefined) {
      w.problems.push(`unknown field record.${names.slice(0, i + 1).join('.')} (not in ${w.schemaFile})`)
      return
    }
    current = next
  }
}

function checkPattern (w: Walk, pattern: ASTNode | undefined): void {
  if (pattern === undefined) return
  if (pattern.op !== 'value' || typeof pattern.args !== 'string') {
    w.problems.push(`matches() needs a literal pattern${where(w.expression, pattern.range)}: a pattern taken from the data could be slow or invalid`)
    return
  }
  try {
    // eslint-disable-next-line no-new -- validating only; the library compiles it the same way
    new RegExp(pattern.args)
  } catch (err) {
    w.problems.push(`invalid regular expression in matches(): ${(err as Error).message}`)
  }
}

function walk (w: Walk, node: ASTNode, bound: ReadonlySet<string>): void {
  const chain = recordChain(node, bound)
  if (chain !== undefined) {
    if (chain.length > 0) checkRecordChain(w, chain)
    // The chain's index expressions are literals; nothing else to visit.
    return
  }
  switch (node.op) {
    case 'id':
      if (node.args === 'partner' && !bound.has('partner')) w.usesPartner = true
      return
    case 'value':
      return
    case 'rcall': {
      const [name, receiver, args] = node.args
      walk(w, receiver, bound)
      if (name === 'matches') checkPattern(w, args[0])
      if (MACROS.has(name) && args.length >= 2 && args[0]?.op === 'id') {
        const inner = new Set(bound)
        inner.add(args[0].args)
        for (const a of args.slice(1)) walk(w, a, inner)
        return
      }
      for (const a of args) walk(w, a, bound)
      return
    }
    case 'call': {
      const [name, args] = node.args
      if (name === 'matches') checkPattern(w, args[1])
      for (const a of args) walk(w, a, bound)
      return
    }
    default: {
      const args = node.args as unknown
      if (Array.isArray(args)) {
        for (const a of args) {
          if (Array.isArray(a)) { for (const x of a) if (isAst(x)) walk(w, x, bound) } else if (isAst(a)) walk(w, a, bound)
        }
      } else if (isAst(args)) walk(w, args, bound)
    }
  }
}

function isAst (value: unknown): value is ASTNode {
  return value !== null && typeof value === 'object' && typeof (value as { op?: unknown }).op === 'string'
}

/**
 * Compiles a `where` expression once. Returns the problems (messages without the
 * `where: ` prefix) or the filter. `fastPath: false` runs every record through
 * cel-js (tests compare the two).
 */
export function compileWhere (expression: string, schema: { navigator: SchemaNavigator, schemaFile: string }, options: { fastPath?: boolean } = {}): { ok: true, where: CompiledWhere } | { ok: false, problems: string[] } {
  const checked = environment.check(expression)
  if (!checked.valid) {
    return { ok: false, problems: [describe(expression, (checked.error ?? {}) as CelErrorLike, 'invalid expression')] }
  }
  if (checked.type !== 'bool' && checked.type !== 'dyn') {
    return { ok: false, problems: [`must be a boolean expression, but it gives ${checked.type ?? 'another type'}`] }
  }
  let program: ReturnType<typeof environment.parse>
  try {
    program = environment.parse(expression)
  } catch (err) {
    return { ok: false, problems: [describe(expression, err as CelErrorLike, 'invalid expression')] }
  }
  const w: Walk = { expression, navigator: schema.navigator, schemaFile: schema.schemaFile, problems: [], usesPartner: false }
  walk(w, program.ast, new Set())
  if (w.problems.length > 0) return { ok: false, problems: w.problems }

  // A runtime error points at a field name ("region"); widen it to the whole
  // selection ("partner.attributes.region") so the count says which part failed.
  const selectionStart = new Map<number, number>()
  const collect = (node: ASTNode): void => {
    if ((node.op === '.' || node.op === '[]') && node.range !== undefined) {
      const start = selectionStart.get(node.range.end)
      if (start === undefined || node.range.start < start) selectionStart.set(node.range.end, node.range.start)
    }
    const args = node.args as unknown
    for (const a of Array.isArray(args) ? args.flat() : [args]) if (isAst(a)) collect(a)
  }
  collect(program.ast)
  const errorText = (e: CelErrorLike): string => {
    const code = typeof e.code === 'string' ? e.code : 'evaluation_error'
    const range = e.range === undefined ? undefined : { start: Math.min(e.range.start, selectionStart.get(e.range.end) ?? e.range.start), end: e.range.end }
    return `${code}${where(expression, range)}`
  }

  // HOT PATH: one call per record — the fast path when it can decide, else the CEL program.
  const fast = options.fastPath === false ? undefined : compileFastWhere(program.ast)
  const filter: WhereFilter = ctx => {
    if (fast !== undefined) {
      const decided = fast(ctx)
      if (decided !== UNDECIDED) return decided
    }
    let result: unknown
    try {
      result = program(ctx)
    } catch (err) {
      return { error: errorText(err as CelErrorLike) }
    }
    if (result === true || result === false) return result
    return { error: `not_boolean: the expression gave ${celTypeName(result)}, not a boolean` }
  }
  return { ok: true, where: { filter, usesPartner: w.usesPartner, usesHeaders: /\bheaders\b/.test(expression) } }
}

function celTypeName (value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'bigint') return 'an int'
  if (typeof value === 'number') return 'a double'
  if (typeof value === 'string') return 'a string'
  if (Array.isArray(value)) return 'a list'
  if (value instanceof Uint8Array) return 'bytes'
  if (value instanceof Date) return 'a timestamp'
  return typeof value === 'object' ? 'a map' : typeof value
}
