/**
 * The JSON Schema (2020-12) of what a partner receives under a policy (CONTRACT §5
 * `GET /v1/catalog`). Built from scratch, never by editing a copy of the product
 * schema: local `$ref`s are inlined (no `$defs` travel), `oneOf` becomes `anyOf`
 * (a dropped field may have been what told the branches apart), conditionals
 * (`not`, `if`/`then`/`else`, `dependent*`) are left out, and only known keywords
 * are copied. The result may be looser than the product schema, never stricter
 * than the records actually sent.
 *
 * Withheld field names never appear: they are absent from `properties` and
 * `required`, and any `title`, `description`, `examples`, `default` or `$comment`
 * that mentions one is left out. (An `enum`/`const` of a field that passes is its
 * value domain, and is kept.)
 */
import { actionName } from './check.js'
import { buildTree, parseRules, type TreeEntry, type TreeLevel } from './path-tree.js'
import { SchemaNavigator, declaredTypes, isSchemaObject, typesOf, type JsonSchema, type JsonType, type SchemaObject } from './json-schema.js'
import type { FieldActionSpec } from '../catalog/types.js'

const DRAFT = 'https://json-schema.org/draft/2020-12/schema'

/** Keywords copied as they are from a node that passes unchanged. */
const PLAIN_KEYWORDS = [
  'type', 'format', 'enum', 'const', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum',
  'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'minItems', 'maxItems', 'uniqueItems',
  'minProperties', 'maxProperties', 'contentEncoding', 'contentMediaType', 'title', 'description',
  'default', 'examples', 'deprecated', 'readOnly', 'writeOnly'
] as const

/** Text keywords that are dropped when they mention a withheld field. */
const TEXT_KEYWORDS = ['title', 'description', 'examples', 'default', '$comment'] as const

export interface OutputSchemaPolicy {
  mode: 'allow' | 'deny'
  fields: ReadonlyArray<readonly [string, FieldActionSpec]>
}

class Builder {
  private readonly stack = new Set<SchemaObject>()
  constructor (private readonly nav: SchemaNavigator) {}

  private anyOf (schemas: SchemaObject[]): SchemaObject {
    const seen = new Map<string, SchemaObject>()
    for (const s of schemas) seen.set(JSON.stringify(s), s)
    const unique = [...seen.values()]
    if (unique.length === 1) return unique[0] as SchemaObject
    if (unique.length === 0) return {}
    return { anyOf: unique }
  }

  /** A node that passes unchanged (deny mode outside listed paths, `keep`). */
  copy (node: JsonSchema | undefined): JsonSchema {
    if (node === undefined || typeof node === 'boolean') return node ?? true
    if (this.stack.has(node)) return true // recursive schema: the inner repetition is left open
    this.stack.add(node)
    try {
      const out: SchemaObject = {}
      for (const k of PLAIN_KEYWORDS) if (node[k] !== undefined) out[k] = structuredClone(node[k])
      if (isSchemaObject(node.properties)) {
        const props: SchemaObject = {}
        for (const [k, v] of Object.entries(node.properties)) defineOwn(props, k, this.copy(v as JsonSchema))
        out.properties = props
      }
      if (Array.isArray(node.required)) out.required = [...node.required as unknown[]]
      if (node.additionalProperties !== undefined) out.additionalProperties = this.copy(node.additionalProperties as JsonSchema)
      if (isSchemaObject(node.patternProperties)) {
        const props: SchemaObject = {}
        for (const [k, v] of Object.entries(node.patternProperties)) defineOwn(props, k, this.copy(v as JsonSchema))
        out.patternProperties = props
      }
      if (node.items !== undefined) out.items = this.copy(node.items as JsonSchema)
      if (Array.isArray(node.prefixItems)) out.prefixItems = node.prefixItems.map(x => this.copy(x as JsonSchema))
      const branches: JsonSchema[] = []
      if (typeof node.$ref === 'string') branches.push(this.copy(this.nav.resolveRef(node.$ref)))
      if (Array.isArray(node.allOf)) branches.push(...node.allOf.map(x => this.copy(x as JsonSchema)))
      if (branches.length > 0) out.allOf = branches
      const alternatives = [...(Array.isArray(node.anyOf) ? node.anyOf : []), ...(Array.isArray(node.oneOf) ? node.oneOf : [])]
      if (Array.isArray(node.anyOf) && Array.isArray(node.oneOf)) {
        // Both must hold; keep them as two anyOf inside an allOf.
        out.allOf = [...(out.allOf as JsonSchema[] ?? []), { anyOf: node.anyOf.map(x => this.copy(x as JsonSchema)) }, { anyOf: node.oneOf.map(x => this.copy(x as JsonSchema)) }]
      } else if (alternatives.length > 0) out.anyOf = alternatives.map(x => this.copy(x as JsonSchema))
      return out
    } finally {
      this.stack.delete(node)
    }
  }

  /** Names that every one of `raws` requires (allOf adds, anyOf/oneOf only what all branches require). */
  private required (node: JsonSchema | undefined, seen = new Set<SchemaObject>()): Set<string> {
    const out = new Set<string>()
    if (!isSchemaObject(node) || seen.has(node)) return out
    seen.add(node)
    if (Array.isArray(node.required)) for (const r of node.required) if (typeof r === 'string') out.add(r)
    const also: JsonSchema[] = [...(Array.isArray(node.allOf) ? node.allOf as JsonSchema[] : [])]
    if (typeof node.$ref === 'string') { const t = this.nav.resolveRef(node.$ref); if (t !== undefined) also.push(t) }
    for (const x of also) for (const r of this.required(x, seen)) out.add(r)
    for (const keyword of ['anyOf', 'oneOf'] as const) {
      const branches = node[keyword]
      if (!Array.isArray(branches) || branches.length === 0) continue
      let common: Set<string> | undefined
      for (const b of branches) {
        const r = this.required(b as JsonSchema, new Set(seen))
        common = common === undefined ? r : new Set([...common].filter(x => r.has(x)))
      }
      for (const r of common ?? []) out.add(r)
    }
    return out
  }

  /** An object place where policy entries apply, flattened over all its candidates. */
  objectLevel (raws: readonly JsonSchema[], level: TreeLevel, mode: 'allow' | 'deny'): SchemaObject {
    const candidates = raws.flatMap(r => this.nav.candidates(r))
    const types = declaredTypes(candidates)
    const out: SchemaObject = { type: types?.has('null') === true ? ['object', 'null'] : 'object' }
    if (mode === 'deny') {
      for (const k of ['title', 'description'] as const) {
        const texts = candidates.map(c => c[k]).filter(x => typeof x === 'string')
        if (texts.length > 0) out[k] = texts[0]
      }
    }
    const properties: SchemaObject = {}
    const names = mode === 'allow'
      ? [...level.keys()]
      : [...new Set([...candidates.flatMap(c => isSchemaObject(c.properties) ? Object.keys(c.properties) : []), ...level.keys()])]
    for (const name of names) {
      const entry = level.get(name)
      const propRaws = candidates.flatMap(c => isSchemaObject(c.properties) && Object.prototype.hasOwnProperty.call(c.properties, name) ? [c.properties[name] as JsonSchema] : [])
      if (propRaws.length === 0) continue // listed but only reachable through an open object: nothing to say
      if (entry === undefined) {
        // deny mode, not listed: passes unchanged
        const copies = propRaws.map(r => this.copy(r))
        defineOwn(properties, name, copies.length === 1 ? copies[0] : { anyOf: copies })
        continue
      }
      if (entry.action === 'drop') continue
      defineOwn(properties, name, this.entry(propRaws, entry, entry.arrays, mode))
    }
    out.properties = properties
    const dropped = new Set([...level.values()].filter(e => e.action === 'drop').map(e => e.name))
    if (raws.length > 0) {
      let required: Set<string> | undefined
      for (const r of raws) {
        const names = this.required(r)
        required = required === undefined ? names : new Set([...required].filter(x => names.has(x)))
      }
      const list = [...required ?? []].filter(n => !dropped.has(n) && Object.prototype.hasOwnProperty.call(properties, n) && !this.mayWithhold(candidates, level.get(n)))
      if (list.length > 0) out.required = list
    }
    if (mode === 'allow') out.additionalProperties = false
    else {
      const objects = candidates.filter(c => isSchemaObject(c.properties) || c.additionalProperties !== undefined)
      if (objects.length > 0 && objects.every(c => c.additionalProperties === false)) out.additionalProperties = false
    }
    return out
  }

  /**
   * Whether the view may leave a listed field out although the input has it: a
   * transform (other than hash) on a place whose type the schema leaves open
   * withholds the values it cannot handle. Such a field is not `required`.
   */
  private mayWithhold (parents: readonly SchemaObject[], entry: TreeEntry | undefined): boolean {
    if (entry?.action === undefined || entry.action === 'hash' || entry.arrays > 0) return false
    const candidates = parents.flatMap(c => isSchemaObject(c.properties) && Object.prototype.hasOwnProperty.call(c.properties, entry.name) ? this.nav.candidates(c.properties[entry.name] as JsonSchema) : [])
    return declaredTypes(candidates) === undefined
  }

  entry (raws: readonly JsonSchema[], entry: TreeEntry, arrays: number, mode: 'allow' | 'deny'): SchemaObject {
    if (arrays > 0) {
      const candidates = raws.flatMap(r => this.nav.candidates(r))
      const types = declaredTypes(candidates)
      const arrayLike = candidates.filter(c => typesOf(c)?.includes('array') === true || c.items !== undefined || c.prefixItems !== undefined)
      const itemRaws: JsonSchema[] = []
      for (const c of arrayLike) {
        if (c.items !== undefined) itemRaws.push(c.items as JsonSchema)
        if (Array.isArray(c.prefixItems)) itemRaws.push(...c.prefixItems as JsonSchema[])
        if (c.items === undefined && c.prefixItems === undefined) itemRaws.push(true)
      }
      return { type: types?.has('null') === true ? ['array', 'null'] : 'array', items: this.entry(itemRaws, entry, arrays - 1, mode) }
    }
    if (entry.action !== undefined) return this.leaf(raws, entry.action)
    return this.objectLevel(raws, entry.children ?? new Map(), mode)
  }

  /** The schema of a transformed (or kept) value. */
  leaf (raws: readonly JsonSchema[], action: FieldActionSpec): SchemaObject {
    const candidates = raws.flatMap(r => this.nav.candidates(r))
    const types = declaredTypes(candidates)
    const nullable = types === undefined || types.has('null')
    const withNull = (t: JsonType[]): JsonType | JsonType[] => {
      const all = nullable && !t.includes('null') ? [...t, 'null' as const] : t
      return all.length === 1 ? all[0] as JsonType : all
    }
    const name = actionName(action)
    switch (name) {
      case 'keep': {
        const copies = raws.map(r => this.copy(r))
        if (copies.length === 1 && isSchemaObject(copies[0])) return copies[0]
        return this.anyOf(copies.map(c => (isSchemaObject(c) ? c : c ? {} : { not: {} })))
      }
      case 'hash':
        return { type: withNull(['string']), contentEncoding: 'base64url', pattern: '^[A-Za-z0-9_-]{43}$', description: 'HMAC-SHA-256, per share' }
      case 'mask': {
        const opts = (action as { mask: { keep_first?: number, keep_last?: number } }).mask
        const parts = [(opts.keep_first ?? 0) > 0 ? `first ${plural(opts.keep_first ?? 0, 'character')}` : '', (opts.keep_last ?? 0) > 0 ? `last ${plural(opts.keep_last ?? 0, 'character')}` : ''].filter(Boolean)
        return { type: withNull(['string']), description: parts.length === 0 ? 'masked with *; only the length shown' : `masked with *; only the ${parts.join(' and ')} shown` }
      }
      case 'truncate': {
        const n = (action as { truncate: number }).truncate
        const numeric = [...(types ?? ['string', 'number'])].filter((t): t is 'number' | 'integer' => t === 'number' || t === 'integer')
        const out: SchemaObject = {}
        const kinds: JsonType[] = []
        if (types === undefined || types.has('string')) kinds.push('string')
        kinds.push(...numeric)
        out.type = withNull(kinds)
        if (kinds.includes('string')) out.maxLength = n
        // Rounding toward zero keeps a bound that is on the other side of zero.
        const numericCandidates = candidates.filter(c => typesOf(c)?.some(t => t === 'number' || t === 'integer') === true)
        if (numericCandidates.length === 1) {
          const c = numericCandidates[0] as SchemaObject
          if (typeof c.minimum === 'number' && c.minimum <= 0) out.minimum = c.minimum
          if (typeof c.maximum === 'number' && c.maximum >= 0) out.maximum = c.maximum
        }
        out.description = kinds.includes('string') && numeric.length > 0
          ? `truncated to ${plural(n, 'character')} or ${plural(n, 'decimal')}`
          : kinds.includes('string') ? `truncated to ${plural(n, 'character')}` : `truncated to ${plural(n, 'decimal')} (toward zero)`
        return out
      }
      case 'generalize': {
        const unit = (action as { generalize: string }).generalize
        const kinds: JsonType[] = []
        const formats = new Set(candidates.filter(c => typesOf(c)?.includes('string') === true).map(c => c.format))
        if (types === undefined || types.has('string')) kinds.push('string')
        for (const t of types ?? []) if (t === 'number' || t === 'integer') kinds.push(t)
        const out: SchemaObject = { type: withNull(kinds) }
        if (formats.size === 1) { const f = [...formats][0]; if (typeof f === 'string') out.format = f }
        out.description = `generalized to the ${unit} (UTC)`
        return out
      }
      default:
        return { not: {} }
    }
  }
}

function plural (n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

function defineOwn (target: SchemaObject, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

/** Every property name the product schema declares, anywhere (including `$defs`). */
function allPropertyNames (node: unknown, out = new Set<string>(), seen = new Set<unknown>()): Set<string> {
  if (node === null || typeof node !== 'object' || seen.has(node)) return out
  seen.add(node)
  if (Array.isArray(node)) { for (const x of node) allPropertyNames(x, out, seen); return out }
  const obj = node as SchemaObject
  for (const [k, v] of Object.entries(obj)) {
    if ((k === 'properties' || k === 'patternProperties') && isSchemaObject(v)) for (const name of Object.keys(v)) out.add(name)
    if (k === 'required' && Array.isArray(v)) for (const name of v) if (typeof name === 'string') out.add(name)
    // Only schema-valued keywords can hold property names; enum/const/examples/default are data.
    if (k !== 'enum' && k !== 'const' && k !== 'examples' && k !== 'default') allPropertyNames(v, out, seen)
  }
  return out
}

function outputPropertyNames (node: unknown, out = new Set<string>()): Set<string> {
  if (node === null || typeof node !== 'object') return out
  if (Array.isArray(node)) { for (const x of node) outputPropertyNames(x, out); return out }
  for (const [k, v] of Object.entries(node)) {
    if (k === 'properties' && isSchemaObject(v)) for (const name of Object.keys(v)) out.add(name)
    if (k !== 'enum' && k !== 'const') outputPropertyNames(v, out)
  }
  return out
}

function escapeRegExp (s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** Removes text keywords that mention a withheld name (as a word, any case). */
function scrub (node: unknown, mentions: RegExp | undefined): void {
  if (mentions === undefined || node === null || typeof node !== 'object') return
  if (Array.isArray(node)) { for (const x of node) scrub(x, mentions); return }
  const obj = node as SchemaObject
  for (const k of TEXT_KEYWORDS) {
    if (obj[k] !== undefined && mentions.test(JSON.stringify(obj[k]))) delete obj[k]
  }
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'enum' || k === 'const' || (TEXT_KEYWORDS as readonly string[]).includes(k)) continue
    scrub(v, mentions)
  }
}

/**
 * The schema of the `value` a partner receives: allow mode lists only the listed
 * paths (`additionalProperties: false` on every object); deny mode is the product
 * schema without the dropped paths. Transformed fields get the type of their
 * output (`hash` → base64url string, `mask` → string, ...).
 */
export function deriveOutputSchema (productSchema: JsonSchema, policy: OutputSchemaPolicy): SchemaObject {
  const nav = new SchemaNavigator(productSchema)
  const { rules } = parseRules(policy.fields)
  const { root } = buildTree(rules, policy.mode)
  const builder = new Builder(nav)
  const body = builder.objectLevel([productSchema], root, policy.mode)
  const out: SchemaObject = { $schema: DRAFT }
  const rootObject = isSchemaObject(productSchema) ? productSchema : {}
  for (const k of ['title', 'description'] as const) if (typeof rootObject[k] === 'string') out[k] = rootObject[k]
  Object.assign(out, body)
  if (policy.mode === 'allow') {
    // The root passes only as an object in allow mode (a tombstone's null is an envelope matter).
    out.type = 'object'
  }
  scrub(out, withheldMentions(productSchema, out))
  return out
}

/**
 * Matches (as a word, in any case) any property name of the product schema that the
 * output schema does not deliver; undefined when nothing is withheld. Texts shown to
 * a partner (catalog, AsyncAPI, schema descriptions) must not match it.
 */
export function withheldMentions (productSchema: JsonSchema, outputSchema: SchemaObject): RegExp | undefined {
  const present = outputPropertyNames(outputSchema)
  const withheld = [...allPropertyNames(productSchema)].filter(n => !present.has(n))
  return withheld.length === 0
    ? undefined
    : new RegExp(`(?<![A-Za-z0-9_])(?:${withheld.map(escapeRegExp).join('|')})(?![A-Za-z0-9_])`, 'i')
}

/** A catalog text for a partner, or undefined when it is empty or names a withheld field. */
export function partnerText (text: string | undefined, withheld: RegExp | undefined): string | undefined {
  if (text === undefined || text.trim() === '') return undefined
  if (withheld !== undefined && withheld.test(text)) return undefined
  return text.trim()
}

