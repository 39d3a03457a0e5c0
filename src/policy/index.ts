/**
 * The policy engine: compile once (at catalog load), bind once per share, run per
 * record. The catalog compiles every policy; callers use `PolicyDefinition.compiled`.
 */
import type { GatewaySecret } from '../auth/gateway-secret.js'
import type { CompiledPolicy, PolicyView } from './types.js'

export type { CompiledPolicy, KeyAction, PolicyBinding, PolicyInput, PolicyOutcome, PolicyView } from './types.js'
export { compilePolicy, type PolicyProblem, type PolicySource, type ProductContext } from './compile.js'
export { deriveOutputSchema, type OutputSchemaPolicy } from './output-schema.js'
export { canonicalJson } from './canonical-json.js'
export type { JsonSchema, SchemaObject } from './json-schema.js'

/**
 * Binds a compiled policy to a share, deriving the share's `hash` key from the
 * gateway secret (`GatewaySecret.key('field-hash', shareId)`).
 */
export function bindPolicy (policy: CompiledPolicy, share: { shareId: string, secret: GatewaySecret, partnerAttributes: Readonly<Record<string, unknown>>, partnerId: string }): PolicyView {
  return policy.bind({ shareId: share.shareId, hashKey: share.secret.key('field-hash', share.shareId), partnerAttributes: share.partnerAttributes, partnerId: share.partnerId })
}
export { previewPolicy, type PreviewRecord, type PreviewResult } from './preview.js'
