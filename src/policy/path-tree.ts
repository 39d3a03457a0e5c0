/**
 * Policy field paths as a tree: one level per object, one entry per property name,
 * built once at compile time so that nothing walks path strings per record.
 */
import { parseFieldPath, type PathSegment } from '../catalog/policy-spec.js'
import type { FieldActionSpec } from '../catalog/types.js'

export interface FieldRule {
  path: string
  segments: PathSegment[]
  action: FieldActionSpec
}

export interface TreeEntry {
  name: string
  /** Number of `[*]` after the name. */
  arrays: number
  /** The action, on a leaf. */
  action?: FieldActionSpec
  /** The next level, on an inner entry. */
  children?: TreeLevel
}

export type TreeLevel = Map<string, TreeEntry>

export interface RuleProblem { path: string, message: string }

export function parseRules (fields: ReadonlyArray<readonly [string, FieldActionSpec]>): { rules: FieldRule[], problems: RuleProblem[] } {
  const rules: FieldRule[] = []
  const problems: RuleProblem[] = []
  for (const [path, action] of fields) {
    const segments = parseFieldPath(path)
    if (typeof segments === 'string') problems.push({ path, message: segments })
    else rules.push({ path, segments, action })
  }
  return { rules, problems }
}

/** A path listed inside another listed path (`customer` and `customer.email`) is ambiguous. */
export function findOverlaps (rules: readonly FieldRule[]): RuleProblem[] {
  const problems: RuleProblem[] = []
  for (const a of rules) {
    for (const b of rules) {
      if (a === b || !b.path.startsWith(a.path)) continue
      const next = b.path.charAt(a.path.length)
      if (next === '.' || next === '[') {
        problems.push({ path: b.path, message: `field ${b.path} is inside ${a.path}, which is listed too: list either the whole field or parts of it` })
      }
    }
  }
  return problems
}

/**
 * Builds the tree. `prune` leaves out rules that change nothing in the output:
 * `drop` in allow mode (an unlisted field is withheld anyway) and `keep` in deny
 * mode (an unlisted field passes anyway). Levels left empty by pruning vanish.
 */
export function buildTree (rules: readonly FieldRule[], mode: 'allow' | 'deny'): { root: TreeLevel, problems: RuleProblem[] } {
  const root: TreeLevel = new Map()
  const problems: RuleProblem[] = []
  for (const rule of rules) {
    if (mode === 'allow' && rule.action === 'drop') continue
    if (mode === 'deny' && rule.action === 'keep') continue
    let level = root
    const last = rule.segments.length - 1
    for (let i = 0; i <= last; i++) {
      const segment = rule.segments[i] as PathSegment
      let entry = level.get(segment.name)
      if (entry === undefined) {
        entry = { name: segment.name, arrays: segment.arrays }
        level.set(segment.name, entry)
      } else if (entry.arrays !== segment.arrays) {
        problems.push({ path: rule.path, message: `field ${rule.path} uses ${segment.name} with ${segment.arrays} [*] but another listed path uses it with ${entry.arrays}` })
        break
      }
      if (i === last) entry.action = rule.action
      else {
        entry.children ??= new Map()
        level = entry.children
      }
    }
  }
  return { root, problems }
}
