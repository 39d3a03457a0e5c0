import type { ValidateFunction } from 'ajv'
import type { CompiledPolicy, KeyAction } from '../policy/types.js'

export type KeyFormat = 'string' | 'json' | 'none'
export type GeneralizeUnit = 'second' | 'minute' | 'hour' | 'day' | 'month'

/** A field action as written in a policy file (CONTRACT §3). */
export type FieldActionSpec =
  | 'keep'
  | 'drop'
  | 'hash'
  | { generalize: GeneralizeUnit }
  | { mask: { keep_last?: number, keep_first?: number } }
  | { truncate: number }

export interface PolicySpec {
  mode?: 'allow' | 'deny'
  description?: string
  fields: Record<string, FieldActionSpec>
  where?: string
  headers?: string[]
  /** What happens to the record key: keep (default), hash (per share) or drop. */
  key?: KeyAction
}

/** A product file as written (after YAML parsing and structural validation). */
export interface ProductSpec {
  name: string
  topic: string
  owner: string
  description: string
  key: KeyFormat
  schema: string
  write_schema?: string | null
  policies: Record<string, PolicySpec>
}

export interface PolicyDefinition {
  name: string
  product: string
  mode: 'allow' | 'deny'
  description: string
  fields: ReadonlyArray<readonly [path: string, action: FieldActionSpec]>
  where: string | undefined
  headers: readonly string[]
  /** What happens to the record key (`key:` in the policy; default keep). */
  keyAction: KeyAction
  /** Short hash of the policy's normalised text; changes whenever the policy does. */
  version: string
  /** Where the policy is written, for messages. */
  file: string
  line: number
  /**
   * The policy compiled once at load: `compiled.bind({ shareId, hashKey,
   * partnerAttributes })` gives the share's view; `compiled.outputSchema` is what
   * the partner receives. See src/policy/index.ts.
   */
  compiled: CompiledPolicy
}

export interface Product {
  name: string
  topic: string
  owner: string
  description: string
  keyFormat: KeyFormat
  /** The record-value JSON Schema (2020-12), as loaded. */
  schema: Record<string, unknown>
  schemaFile: string
  /** Compiled once at load; used on the hot path. */
  validate: ValidateFunction
  writeSchema: Record<string, unknown> | undefined
  writeSchemaFile: string | undefined
  validateWrite: ValidateFunction | undefined
  policies: ReadonlyMap<string, PolicyDefinition>
  file: string
}

export interface Catalog {
  products: ReadonlyMap<string, Product>
  /** Hash over every product and policy: changes when anything in the folder does. */
  version: string
  dir: string
  loadedAt: Date
}

/** One problem found while loading the policies folder, reported as `file:line: message`. */
export interface CatalogProblem {
  file: string
  line: number
  message: string
}
