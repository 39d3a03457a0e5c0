/**
 * The policy view a share currently has on a product. Bound once and cached; it is
 * rebound when the policies folder is reloaded, the share is changed (e.g. a new
 * policy by PATCH) or the partner's attributes change — so open streams apply a new
 * policy version from the next record on, without reconnecting.
 */
import { bindPolicy, type PolicyView } from '../policy/index.js'
import type { GatewaySecret } from '../auth/gateway-secret.js'
import type { Catalog, PolicyDefinition } from '../catalog/types.js'
import type { ShareRegistry } from '../registry/share-registry.js'

export interface ActiveView {
  policy: PolicyDefinition
  view: PolicyView
  /**
   * Identifies this binding (share, policy version, partner attributes): records' views
   * are cached under it and reused by every subscription with the same binding.
   */
  key: string
}

export interface ViewSources {
  catalog: () => Catalog
  registry: ShareRegistry
  secret: GatewaySecret
}

export class ShareViewResolver {
  private cacheKey = ''
  private cached: ActiveView | undefined

  constructor (private readonly sources: ViewSources, readonly shareId: string, readonly product: string) {}

  /** HOT PATH (once per batch): three lookups and a string compare when nothing changed. */
  current (): ActiveView | undefined {
    const catalog = this.sources.catalog()
    const share = this.sources.registry.share(this.shareId)
    const partner = share === undefined ? undefined : this.sources.registry.partner(share.partner)
    const key = `${catalog.version}|${share?.updated_at ?? ''}|${partner?.updated_at ?? ''}`
    if (key === this.cacheKey) return this.cached
    this.cacheKey = key
    this.cached = undefined
    const grant = share?.products.find(g => g.product === this.product)
    const policy = grant === undefined ? undefined : catalog.products.get(this.product)?.policies.get(grant.policy)
    if (policy === undefined || partner === undefined) return undefined
    this.cached = {
      policy,
      view: bindPolicy(policy.compiled, { shareId: this.shareId, secret: this.sources.secret, partnerAttributes: partner.attributes, partnerId: partner.id }),
      key: `${this.shareId}|${policy.version}|${partner.updated_at}`
    }
    return this.cached
  }
}
