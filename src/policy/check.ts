/**
 * Load-time checks of policy fields against the product's JSON Schema: every path
 * exists, `[*]` stands on arrays, and every action can apply to the type there.
 */
import { declaredTypes, type JsonType, type SchemaNavigator, type SchemaObject } from './json-schema.js'
import type { FieldRule, RuleProblem } from './path-tree.js'
import type { FieldActionSpec } from '../catalog/types.js'

export function actionName (action: FieldActionSpec): string {
  return typeof action === 'string' ? action : Object.keys(action)[0] ?? 'unknown'
}

const GENERALIZE_FORMATS = new Set(['date-time', 'date'])

function list (types: Iterable<JsonType>): string {
  return [...types].join(' or ')
}

/** Why `action` cannot apply at a place described by `candidates`, or undefined if it can. */
export function actionTypeProblem (navigator: SchemaNavigator, action: FieldActionSpec, candidates: readonly SchemaObject[], mode: 'allow' | 'deny'): string | undefined {
  const name = actionName(action)
  const types = declaredTypes(candidates)
  // An untyped place (the schema says nothing) may hold anything; the view withholds
  // values an action cannot handle, so there is nothing to refuse here.
  if (types === undefined) return undefined
  const nonNull = [...types].filter(t => t !== 'null')
  const bad = (allowed: readonly JsonType[]): JsonType[] => nonNull.filter(t => !allowed.includes(t))
  switch (name) {
    case 'keep': {
      if (mode === 'deny') return undefined
      if (nonNull.includes('object')) return 'keep on an object would also pass fields added to it upstream later; list the fields to keep instead (e.g. a.b: keep)'
      if (nonNull.includes('array') && arrayMayHoldObjects(navigator, candidates)) return 'keep on an array of objects would also pass fields added upstream later; list the fields to keep instead (e.g. a[*].b: keep)'
      return undefined
    }
    case 'drop':
    case 'hash':
      return undefined
    case 'mask': {
      const wrong = bad(['string', 'number', 'integer', 'boolean'])
      return wrong.length === 0 ? undefined : `mask cannot apply to ${list(wrong)} (mask needs a string, number or boolean)`
    }
    case 'truncate': {
      const wrong = bad(['string', 'number', 'integer'])
      return wrong.length === 0 ? undefined : `truncate cannot apply to ${list(wrong)} (truncate needs a string or a number)`
    }
    case 'generalize': {
      const wrong = bad(['string', 'number', 'integer'])
      if (wrong.length > 0) return `generalize cannot apply to ${list(wrong)} (generalize needs a date-time or date string, or a number of epoch milliseconds)`
      if (nonNull.includes('string')) {
        const formats = candidates.filter(c => typesOf(c)?.includes('string') === true).map(c => c.format)
        if (formats.length === 0 || formats.some(f => typeof f !== 'string' || !GENERALIZE_FORMATS.has(f))) {
          return 'generalize needs a string with format date-time or date (the schema does not say so)'
        }
      }
      return undefined
    }
    default:
      return `unknown action "${name}"`
  }
}

function typesOf (c: SchemaObject): string[] | undefined {
  const t = c.type
  return typeof t === 'string' ? [t] : Array.isArray(t) ? t.filter((x): x is string => typeof x === 'string') : undefined
}

function arrayMayHoldObjects (navigator: SchemaNavigator, candidates: readonly SchemaObject[]): boolean {
  const arrays = candidates.filter(c => typesOf(c)?.includes('array') === true || c.items !== undefined || c.prefixItems !== undefined)
  const types = declaredTypes(navigator.items(arrays))
  // Untyped elements may be objects.
  return types === undefined || types.has('object') || types.has('array')
}

/** Path existence and action/type compatibility for every rule. */
export function checkRulesAgainstSchema (navigator: SchemaNavigator, schemaFile: string, rules: readonly FieldRule[], mode: 'allow' | 'deny'): RuleProblem[] {
  const problems: RuleProblem[] = []
  for (const rule of rules) {
    const found = navigator.lookup(rule.segments)
    if (!found.ok) {
      if (found.reason === 'not_array') {
        problems.push({ path: rule.path, message: `field path "${rule.path}": ${found.at} is not an array in ${schemaFile}, so [*] cannot follow it` })
      } else {
        const hint = found.arrayHint ? `; ${found.at.slice(0, found.at.lastIndexOf('.'))} is an array: use [*] for its elements` : ''
        problems.push({ path: rule.path, message: `unknown field path "${rule.path}" (not in ${schemaFile}${hint})` })
      }
      continue
    }
    const problem = actionTypeProblem(navigator, rule.action, found.candidates, mode)
    if (problem !== undefined) problems.push({ path: rule.path, message: `field ${rule.path}: ${problem}` })
  }
  return problems
}
