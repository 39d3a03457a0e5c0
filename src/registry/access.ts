/**
 * Decides whether a verified token may use a product now (CONTRACT §4, §8): the
 * share must exist, be active and unexpired; the token must be one the registry
 * issued for that share and not revoked; the product must be in the share and the
 * token's scope must grant the access. A product outside the share looks exactly
 * like a product that does not exist.
 */
import { GatewayError } from '../errors.js'
import { scopeFor, type Access, type Principal } from '../auth/tokens.js'
import type { Catalog, Product } from '../catalog/types.js'
import type { ShareRegistry } from './share-registry.js'
import { shareStatus, type Partner, type Share, type ShareGrant, type TokenRecord } from './types.js'

export interface ShareAccess {
  share: Share
  partner: Partner
  token: TokenRecord
}

export interface ProductAccess extends ShareAccess {
  product: Product
  grant: ShareGrant
}

const UNKNOWN_PRODUCT = 'no such product in this share'

export function productUnknown (): GatewayError {
  return new GatewayError('product_unknown', UNKNOWN_PRODUCT)
}

/** The share and token behind a principal, checked for revocation and expiry. */
export async function authorizeShare (registry: ShareRegistry, principal: Principal): Promise<ShareAccess> {
  if (!registry.current) throw new GatewayError('unavailable', 'the share registry is not current', { retryAfter: 5 })
  let share = registry.share(principal.shareId)
  let token = registry.token(principal.jti)
  if (share === undefined || token === undefined) {
    // Another instance may have issued it a moment ago: catch up once, then decide.
    try { await registry.syncToLatest() } catch { /* decide on what we have */ }
    share = registry.share(principal.shareId)
    token = registry.token(principal.jti)
  }
  if (share === undefined || token === undefined || token.share !== share.id || share.partner !== principal.partnerId) {
    throw new GatewayError('token_invalid', 'token is not known to this gateway')
  }
  const partner = registry.partner(share.partner)
  if (partner === undefined) throw new GatewayError('share_revoked', 'the partner of this share no longer exists')
  if (token.revoked_at !== null) throw new GatewayError('share_revoked', 'this token has been revoked')
  const status = shareStatus(share)
  if (status === 'revoked') throw new GatewayError('share_revoked', 'this share has been revoked')
  if (status === 'expired') throw new GatewayError('share_expired', 'this share has expired')
  return { share, partner, token }
}

/** authorizeShare, plus: the product is in the share and the token grants `access` to it. */
export async function authorizeProduct (registry: ShareRegistry, catalog: Catalog, principal: Principal, productName: string, access: Access): Promise<ProductAccess> {
  const shareAccess = await authorizeShare(registry, principal)
  const grant = shareAccess.share.products.find(g => g.product === productName)
  const product = catalog.products.get(productName)
  if (grant === undefined || product === undefined) throw productUnknown()
  if (!grant.access.includes(access) || !principal.scopes.has(scopeFor(access, productName))) {
    throw new GatewayError('scope_missing', `this token does not grant ${scopeFor(access, productName)}`)
  }
  return { ...shareAccess, product, grant }
}
