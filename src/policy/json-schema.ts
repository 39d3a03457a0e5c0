/**
 * Read-only navigation of a product's JSON Schema (2020-12) by policy field paths:
 * follows `properties`, `items`/`prefixItems`, local `$ref`s (`#/$defs/...`, any
 * `#/...` pointer) and the branches of `allOf`/`anyOf`/`oneOf`. Used at load time
 * only (path checks, type checks, output-schema derivation), never per record.
 *
 * A place in a schema is described by its *candidates*: every schema object that
 * may describe the value there (the node itself, the target of its `$ref`, and the
 * branches of its combinators, flattened).
 */
import type { PathSegment } from '../catalog/policy-spec.js'

export type SchemaObject = Record<string, unknown>
export type JsonSchema = boolean | SchemaObject

export const JSON_TYPES = ['string', 'number', 'integer', 'boolean', 'object', 'array', 'null'] as const
export type JsonType = typeof JSON_TYPES[number]

export function isSchemaObject (value: unknown): value is SchemaObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

const EMPTY: SchemaObject = Object.freeze({}) as SchemaObject

/** Where a path resolves to, or why it does not. */
export type PathLookup =
  | { ok: true, candidates: SchemaObject[] }
  | { ok: false, reason: 'unknown', at: string, arrayHint: boolean }
  | { ok: false, reason: 'not_array', at: string }

export class SchemaNavigator {
  constructor (readonly root: JsonSchema) {}

  /** Resolves a local reference (`#`, `#/$defs/x`, `#/definitions/x`, any `#/` JSON pointer). */
  resolveRef (ref: string): JsonSchema | undefined {
    if (ref === '#') return this.root
    if (!ref.startsWith('#/')) return undefined
    let node: unknown = this.root
    for (const raw of ref.slice(2).split('/')) {
      const part = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~')
      if (Array.isArray(node)) node = node[Number(part)]
      else if (isSchemaObject(node) && Object.prototype.hasOwnProperty.call(node, part)) node = node[part]
      else return undefined
    }
    return typeof node === 'boolean' || isSchemaObject(node) ? node : undefined
  }

  /**
   * Every schema object that describes a value at `node`: the node, its `$ref` target
   * and the branches of `allOf`/`anyOf`/`oneOf`, recursively. Cycle-safe. A `true`
   * schema is the empty object schema; a `false` one has no candidate.
   */
  candidates (node: JsonSchema | undefined, seen: Set<SchemaObject> = new Set()): SchemaObject[] {
    if (node === undefined || node === false) return []
    if (node === true) return [EMPTY]
    if (seen.has(node)) return []
    seen.add(node)
    const out: SchemaObject[] = [node]
    if (typeof node.$ref === 'string') out.push(...this.candidates(this.resolveRef(node.$ref), seen))
    for (const keyword of ['allOf', 'anyOf', 'oneOf'] as const) {
      const branches = node[keyword]
      if (Array.isArray(branches)) for (const b of branches) out.push(...this.candidates(b as JsonSchema, seen))
    }
    return out
  }

  /** Candidates of property `name` of an object described by `parents`. */
  property (parents: readonly SchemaObject[], name: string): SchemaObject[] | undefined {
    let found = false
    const out: SchemaObject[] = []
    for (const p of parents) {
      const props = p.properties
      if (isSchemaObject(props) && Object.prototype.hasOwnProperty.call(props, name)) {
        found = true
        out.push(...this.candidates(props[name] as JsonSchema))
      }
    }
    return found ? out : undefined
  }

  /** Whether `candidates` describe an array (a type or an `items`/`prefixItems` keyword says so). */
  isArray (candidates: readonly SchemaObject[]): boolean {
    return candidates.some(c => typesOf(c)?.includes('array') === true || c.items !== undefined || c.prefixItems !== undefined)
  }

  /** Candidates of the elements of an array described by `parents`. */
  items (parents: readonly SchemaObject[]): SchemaObject[] {
    const out: SchemaObject[] = []
    for (const p of parents) {
      if (p.items !== undefined) out.push(...this.candidates(p.items as JsonSchema))
      if (Array.isArray(p.prefixItems)) for (const x of p.prefixItems) out.push(...this.candidates(x as JsonSchema))
      // An array declared without `items` holds anything.
      if (p.items === undefined && p.prefixItems === undefined && typesOf(p)?.includes('array') === true) out.push(EMPTY)
    }
    return out
  }

  /** Resolves a parsed field path (dot path with `[*]`) to the candidates of its last step. */
  lookup (segments: readonly PathSegment[]): PathLookup {
    let current = this.candidates(this.root)
    let at = ''
    for (const segment of segments) {
      const next = this.property(current, segment.name)
      at = at === '' ? segment.name : `${at}.${segment.name}`
      if (next === undefined) return { ok: false, reason: 'unknown', at, arrayHint: this.isArray(current) }
      current = next
      for (let i = 0; i < segment.arrays; i++) {
        if (!this.isArray(current)) return { ok: false, reason: 'not_array', at }
        current = this.items(current)
        at += '[*]'
      }
    }
    return { ok: true, candidates: current }
  }
}

/** The declared `type`s of one schema object, or undefined when it declares none. */
export function typesOf (schema: SchemaObject): JsonType[] | undefined {
  const t = schema.type
  if (typeof t === 'string') return (JSON_TYPES as readonly string[]).includes(t) ? [t as JsonType] : []
  if (Array.isArray(t)) return t.filter((x): x is JsonType => (JSON_TYPES as readonly unknown[]).includes(x))
  return undefined
}

/**
 * The union of the types declared by `candidates`; undefined when none declares a
 * type (the schema says nothing, so any JSON value may be there).
 */
export function declaredTypes (candidates: readonly SchemaObject[]): Set<JsonType> | undefined {
  let out: Set<JsonType> | undefined
  for (const c of candidates) {
    const t = typesOf(c)
    if (t === undefined) continue
    out ??= new Set()
    for (const x of t) out.add(x)
  }
  return out
}
