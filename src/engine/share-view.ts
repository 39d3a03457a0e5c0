/**
 * The policy view a share currently has on a product. Bound once and cached; it is
 * rebound when the policies folder is reloaded, the share is changed (e.g. a new
 * policy by PATCH) or the partner's attributes change — so open streams apply a new
 * policy version from the next record on, without reconnecting.
 */
import { bindPolicy, type PolicyView } from '../policy/index.js'
import type { GatewaySecret } from '../auth/gateway-secret.js'
import type { Catalog, PolicyDefinition, Product } from '../catalog/types.js'
import type { ShareRegistry } from '../registry/share-registry.js'
import type { WorkerBinding } from './view-workers.js'
import type { ViewBindingSpec } from './view-worker-protocol.js'

export interface ActiveView {
  policy: PolicyDefinition
  view: PolicyView
  /**
   * Identifies this binding (share, policy version, partner attributes): records' views
   * are cached under it and reused by every subscription with the same binding.
   */
  key: string
  /** The same binding for a view worker thread (view-workers.ts). */
  worker: WorkerBinding
}

export interface ViewSources {
  catalog: () => Catalog
  registry: ShareRegistry
  secret: GatewaySecret
}

/** What a view worker thread needs to compute a share's views itself (plain data only). */
export function viewBindingSpec (product: Product, policy: PolicyDefinition, share: { shareId: string, partnerId: string, partnerAttributes: Record<string, unknown> }, secret: GatewaySecret): ViewBindingSpec {
  return {
    product: { name: product.name, keyFormat: product.keyFormat, schema: product.schema, schemaFile: product.schemaFile },
    policy: { name: policy.name, product: policy.product, version: policy.version, mode: policy.mode, fields: policy.fields, where: policy.where, headers: policy.headers, key: policy.keyAction },
    shareId: share.shareId,
    partnerId: share.partnerId,
    partnerAttributes: share.partnerAttributes,
    hashKey: secret.key('field-hash', share.shareId)
  }
}

export class ShareViewResolver {
  /** What the cached view was bound from: the catalog version and the share's and partner's last change. */
  private boundCatalog: string | undefined
  private boundShare: string | undefined
  private boundPartner: string | undefined
  private cached: ActiveView | undefined

  constructor (private readonly sources: ViewSources, readonly shareId: string, readonly product: string) {}

  /**
   * HOT PATH (once per record of a replay, once per batch from the ring): three
   * lookups and three compares, no allocation, when nothing changed.
   */
  current (): ActiveView | undefined {
    const catalog = this.sources.catalog()
    const share = this.sources.registry.share(this.shareId)
    const partner = share === undefined ? undefined : this.sources.registry.partner(share.partner)
    const shareStamp = share?.updated_at ?? ''
    const partnerStamp = partner?.updated_at ?? ''
    if (catalog.version === this.boundCatalog && shareStamp === this.boundShare && partnerStamp === this.boundPartner) return this.cached
    this.boundCatalog = catalog.version
    this.boundShare = shareStamp
    this.boundPartner = partnerStamp
    this.cached = undefined
    const grant = share?.products.find(g => g.product === this.product)
    const policy = grant === undefined ? undefined : catalog.products.get(this.product)?.policies.get(grant.policy)
    const product = catalog.products.get(this.product)
    if (policy === undefined || partner === undefined || product === undefined) return undefined
    const { shareId, sources } = this
    const key = `${shareId}|${policy.version}|${partner.updated_at}`
    this.cached = {
      policy,
      view: bindPolicy(policy.compiled, { shareId, secret: sources.secret, partnerAttributes: partner.attributes, partnerId: partner.id }),
      key,
      worker: {
        // The catalog version too: the product schema may change without the policy.
        key: `${catalog.version}|${key}`,
        readsHeaders: policy.compiled.readsHeaders,
        spec: () => viewBindingSpec(product, policy, { shareId, partnerId: partner.id, partnerAttributes: partner.attributes }, sources.secret)
      }
    }
    return this.cached
  }
}
