/**
 * Compiles a policy ONCE (at catalog load) into a closure; binding it to a share
 * gives the view `record → what this share receives | not delivered` (DESIGN §1
 * "compile once, run many"). Load-time work: path and type checks against the
 * product schema, the CEL filter, the path tree turned into generated code
 * (view-code.ts), the output schema. Per record: one filter call, one pass of the
 * generated functions over the listed paths, nothing parsed or compiled.
 *
 * allow mode builds the output from an empty object and copies only listed paths,
 * so a field added upstream later can never leak. deny mode copies the record
 * along the listed paths only (everything else is shared with the input, which
 * nobody mutates) and leaves out what is dropped.
 */
import { WITHHELD, actionContext, generalizeValue, hashValue, keepAny, keepScalar, maskValue, truncateValue, type ActionContext, type ValueTransform } from './actions.js'
import { checkRulesAgainstSchema } from './check.js'
import { SchemaNavigator, type JsonSchema } from './json-schema.js'
import { deriveOutputSchema, withheldMentions } from './output-schema.js'
import { buildTree, findOverlaps, parseRules } from './path-tree.js'
import { compileObjectView } from './view-code.js'
import { CelPartner, compileWhere, type CompiledWhere } from './where.js'
import type { CompiledPolicy, KeyAction, PolicyBinding, PolicyInput, PolicyOutcome, PolicyView } from './types.js'
import type { FieldActionSpec, KeyFormat } from '../catalog/types.js'

/** What compiling needs to know about a policy (a subset of the catalog's PolicyDefinition). */
export interface PolicySource {
  name: string
  product: string
  version: string
  mode: 'allow' | 'deny'
  fields: ReadonlyArray<readonly [string, FieldActionSpec]>
  where: string | undefined
  headers: readonly string[]
  /** `key:` as written; undefined when the policy does not say. */
  key: KeyAction | undefined
}

export interface ProductContext {
  schema: JsonSchema
  /** For messages, e.g. `schemas/orders.v1.json`. */
  schemaFile: string
  keyFormat: KeyFormat
}

/** A problem found while compiling, located so the loader can give its line. */
export interface PolicyProblem {
  at: { field: string } | 'where' | 'key' | 'policy'
  message: string
}

function transformFor (action: FieldActionSpec, mode: 'allow' | 'deny'): ValueTransform | undefined {
  if (action === 'keep') return mode === 'allow' ? keepScalar : keepAny
  if (action === 'drop') return undefined
  if (action === 'hash') return hashValue
  if ('mask' in action) return maskValue(action.mask.keep_first ?? 0, action.mask.keep_last ?? 0)
  if ('truncate' in action) return truncateValue(action.truncate)
  return generalizeValue(action.generalize)
}

const hasOwn = Object.prototype.hasOwnProperty

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** Sets an own property, also for the name `__proto__` (plain assignment would set the prototype). */
function setOwn (target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  else target[key] = value
}

/** Partner attributes as CEL sees them: strings only (numbers and booleans as their text). */
function attributeStrings (attributes: Readonly<Record<string, unknown>>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(attributes ?? {})) {
    if (typeof v === 'string') setOwn(out, k, v)
    else if (typeof v === 'number' || typeof v === 'boolean') setOwn(out, k, String(v))
  }
  return Object.freeze(out)
}

const FILTERED: PolicyOutcome = Object.freeze({ delivered: false, reason: 'filtered' }) as PolicyOutcome
const NOT_AN_OBJECT: PolicyOutcome = Object.freeze({ delivered: false, reason: 'filter_error', error: 'value_shape: the record value is not an object, so the policy cannot apply' }) as PolicyOutcome

/**
 * Checks and compiles one policy against its product. Returns every problem found
 * (the loader reports them all), or the compiled policy.
 */
export function compilePolicy (source: PolicySource, product: ProductContext): { ok: true, policy: CompiledPolicy } | { ok: false, problems: PolicyProblem[] } {
  const problems: PolicyProblem[] = []
  const navigator = new SchemaNavigator(product.schema)
  const { rules, problems: syntax } = parseRules(source.fields)
  for (const p of syntax) problems.push({ at: { field: p.path }, message: p.message })
  for (const p of checkRulesAgainstSchema(navigator, product.schemaFile, rules, source.mode)) problems.push({ at: { field: p.path }, message: p.message })
  for (const p of findOverlaps(rules)) problems.push({ at: { field: p.path }, message: p.message })
  const { root, problems: treeProblems } = buildTree(rules, source.mode)
  for (const p of treeProblems) problems.push({ at: { field: p.path }, message: p.message })

  // Allow mode means nothing leaves unless listed: the record key leaves too, so it
  // must be listed as well (a key often repeats a value field, or is personal data).
  if (source.key === undefined && source.mode === 'allow' && product.keyFormat !== 'none') {
    problems.push({ at: 'policy', message: `an allow-mode policy lists what leaves, and the record key (${product.keyFormat}) leaves too: say key: keep, key: hash or key: drop` })
  }

  let where: CompiledWhere | undefined
  if (source.where !== undefined) {
    const compiled = compileWhere(source.where, { navigator, schemaFile: product.schemaFile })
    if (compiled.ok) where = compiled.where
    else for (const m of compiled.problems) problems.push({ at: 'where', message: m })
  }
  if (problems.length > 0) return { ok: false, problems }

  const keyAction: KeyAction = source.key ?? 'keep'
  const headerNames = Object.freeze([...source.headers])
  const outputSchema = deriveOutputSchema(product.schema, { mode: source.mode, fields: source.fields })
  const usesHash = rules.some(r => r.action === 'hash') || keyAction === 'hash'
  const filter = where?.filter

  // deny mode with nothing listed passes the value as it is: no copy (nobody mutates it).
  const passesValueUnchanged = source.mode === 'deny' && root.size === 0
  const objectView = passesValueUnchanged ? (value: Record<string, unknown>) => value : compileObjectView(root, source.mode, transformFor)
  const transformValue = (value: unknown, ctx: ActionContext): unknown => isPlainObject(value) ? objectView(value, ctx) : WITHHELD

  const bind = (binding: PolicyBinding): PolicyView => {
    if (!(binding.hashKey instanceof Uint8Array) || binding.hashKey.length < 16) {
      throw new TypeError('policy binding needs a hash key of at least 16 bytes (GatewaySecret.key("field-hash", shareId))')
    }
    const ctx: ActionContext = actionContext(binding.hashKey)
    const partner = new CelPartner(binding.partnerId, attributeStrings(binding.partnerAttributes))

    // HOT PATH: once per record (and share).
    return (input: PolicyInput): PolicyOutcome => {
      if (filter !== undefined) {
        const r = filter({ record: input.value, key: input.key, headers: input.headers, partner })
        if (r === false) return FILTERED
        if (r !== true) return { delivered: false, reason: 'filter_error', error: r.error }
      }
      let value: unknown = null
      // A tombstone (null value) passes as null: it says "this key is gone" and carries nothing else.
      if (input.value !== null) {
        value = transformValue(input.value, ctx)
        if (value === WITHHELD) return NOT_AN_OBJECT
      }
      const key = keyAction === 'keep' ? input.key : keyAction === 'drop' || input.key === null || input.key === undefined ? null : hashValue(input.key, ctx)
      const headers: Record<string, string> = {}
      const inputHeaders = input.headers
      for (let i = 0; i < headerNames.length; i++) {
        const h = headerNames[i] as string
        if (hasOwn.call(inputHeaders, h)) {
          const v = inputHeaders[h]
          if (typeof v === 'string') setOwn(headers, h, v)
        }
      }
      return { delivered: true, value, key, headers }
    }
  }

  const policy: CompiledPolicy = Object.freeze({
    name: source.name,
    product: source.product,
    mode: source.mode,
    version: source.version,
    outputSchema,
    withheldMentions: withheldMentions(product.schema, outputSchema),
    headers: headerNames,
    keyAction,
    hasFilter: filter !== undefined,
    shareIndependent: !usesHash && where?.usesPartner !== true,
    readsHeaders: headerNames.length > 0 || where?.usesHeaders === true,
    bind
  })
  return { ok: true, policy }
}
