/**
 * The admin operations on partners, shares and tokens: validation against the
 * catalog, the registry write (durable, read back), and the audit record. The admin
 * API and `streamshare dev` both call this; nothing else writes the registry.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { GatewayError, type FieldError } from '../errors.js'
import { scopeFor, type Access, type TokenService } from '../auth/tokens.js'
import type { Catalog } from '../catalog/types.js'
import type { AuditLog, AdminAuditEntry } from '../observability/audit.js'
import type { ShareRegistry } from './share-registry.js'
import { shareStatus, type Partner, type Share, type ShareGrant, type ShareQuota, type TokenRecord } from './types.js'
import { parseHistory } from './history.js'

/** Who asked, for the audit. */
export interface Actor {
  name: string
  requestId?: string
  remote?: string
}

export interface PartnerInput {
  id: string
  name: string
  contact: string
  attributes?: Record<string, string>
  allowed_origins?: string[]
}

export type PartnerPatch = Partial<Omit<PartnerInput, 'id'>>

export interface ShareInput {
  partner: string
  products: ShareGrant[]
  quota?: ShareQuota
  history?: string
  expires_at?: string | null
  description?: string
}

export type SharePatch = Partial<Pick<ShareInput, 'products' | 'quota' | 'expires_at' | 'description' | 'history'>>

export interface IssuedToken {
  access_token: string
  token_type: 'Bearer'
  expires_at: string
  jti: string
}

function badRequest (detail: string, errors: FieldError[]): GatewayError {
  return new GatewayError('bad_request', detail, { errors })
}

export class ShareService {
  constructor (
    private readonly registry: ShareRegistry,
    private readonly catalog: () => Catalog,
    private readonly tokens: TokenService,
    private readonly audit: AuditLog,
    private readonly defaultTokenTtlSeconds: number
  ) {}

  private requireLoaded (): void {
    if (!this.registry.loaded) throw new GatewayError('unavailable', 'the share registry is loading', { retryAfter: 5 })
  }

  private async record (actor: Actor, entry: Omit<AdminAuditEntry, 'kind' | 'actor' | 'request_id' | 'remote'>): Promise<void> {
    await this.audit.append({
      kind: 'admin',
      actor: actor.name,
      ...(actor.requestId === undefined ? {} : { request_id: actor.requestId }),
      ...(actor.remote === undefined ? {} : { remote: actor.remote }),
      ...entry
    })
  }

  // ---- partners -----------------------------------------------------------

  async createPartner (input: PartnerInput, actor: Actor): Promise<Partner> {
    this.requireLoaded()
    if (this.registry.partner(input.id) !== undefined) throw new GatewayError('conflict', `partner "${input.id}" already exists`)
    const now = new Date().toISOString()
    const partner: Partner = {
      id: input.id,
      name: input.name,
      contact: input.contact,
      attributes: { ...input.attributes },
      allowed_origins: [...(input.allowed_origins ?? [])],
      created_at: now,
      updated_at: now
    }
    await this.registry.put({ kind: 'partner', data: partner })
    await this.record(actor, { action: 'partner.create', target: partner.id, partner: partner.id })
    return partner
  }

  getPartner (id: string): Partner {
    const partner = this.registry.partner(id)
    if (partner === undefined) throw new GatewayError('not_found', `no partner "${id}"`)
    return partner
  }

  async updatePartner (id: string, patch: PartnerPatch, actor: Actor): Promise<Partner> {
    this.requireLoaded()
    const current = this.getPartner(id)
    const partner: Partner = {
      ...current,
      ...(patch.name === undefined ? {} : { name: patch.name }),
      ...(patch.contact === undefined ? {} : { contact: patch.contact }),
      ...(patch.attributes === undefined ? {} : { attributes: { ...patch.attributes } }),
      ...(patch.allowed_origins === undefined ? {} : { allowed_origins: [...patch.allowed_origins] }),
      updated_at: new Date().toISOString()
    }
    await this.registry.put({ kind: 'partner', data: partner })
    await this.record(actor, { action: 'partner.update', target: id, partner: id, detail: { fields: Object.keys(patch) } })
    return partner
  }

  async deletePartner (id: string, actor: Actor): Promise<void> {
    this.requireLoaded()
    this.getPartner(id)
    const active = this.registry.allShares().filter(s => s.partner === id && shareStatus(s) === 'active')
    if (active.length > 0) {
      throw new GatewayError('conflict', `partner "${id}" has ${active.length} active share(s); revoke them first`)
    }
    await this.registry.remove('partner', id)
    await this.record(actor, { action: 'partner.delete', target: id, partner: id })
  }

  // ---- shares -------------------------------------------------------------

  /** Checks products/policies/access against the catalog; returns normalised grants. */
  private checkGrants (grants: ShareGrant[], path = '/products'): ShareGrant[] {
    const catalog = this.catalog()
    const errors: FieldError[] = []
    const seen = new Set<string>()
    grants.forEach((g, i) => {
      const product = catalog.products.get(g.product)
      if (product === undefined) { errors.push({ path: `${path}/${i}/product`, message: 'unknown product' }); return }
      if (seen.has(g.product)) errors.push({ path: `${path}/${i}/product`, message: 'product listed twice' })
      seen.add(g.product)
      if (!product.policies.has(g.policy)) errors.push({ path: `${path}/${i}/policy`, message: `unknown policy for product ${g.product}` })
      if (g.access.includes('write') && product.validateWrite === undefined) {
        errors.push({ path: `${path}/${i}/access`, message: `product ${g.product} has no write_schema and is never writable` })
      }
    })
    if (errors.length > 0) throw badRequest('the share does not match the catalog', errors)
    return grants.map(g => ({ product: g.product, policy: g.policy, access: [...new Set(g.access)].sort() as Access[] }))
  }

  private checkExpiry (expiresAt: string | null | undefined): string | null {
    if (expiresAt === undefined || expiresAt === null) return null
    const at = Date.parse(expiresAt)
    if (Number.isNaN(at)) throw badRequest('expires_at is not a date-time', [{ path: '/expires_at', message: 'must be an RFC 3339 date-time' }])
    if (at <= Date.now()) throw badRequest('expires_at is in the past', [{ path: '/expires_at', message: 'must be in the future' }])
    return new Date(at).toISOString()
  }

  private checkHistory (history: string | undefined): string {
    const value = history ?? 'none'
    if (parseHistory(value) === undefined) throw badRequest('history is invalid', [{ path: '/history', message: 'must be none, all or an ISO 8601 duration such as P7D' }])
    return value
  }

  async createShare (input: ShareInput, actor: Actor, tokenTtlSeconds?: number): Promise<{ share: Share, token: IssuedToken }> {
    this.requireLoaded()
    const partner = this.registry.partner(input.partner)
    if (partner === undefined) throw badRequest('unknown partner', [{ path: '/partner', message: 'no such partner' }])
    const now = new Date().toISOString()
    const share: Share = {
      id: `sh_${randomBytes(10).toString('hex')}`,
      partner: partner.id,
      products: this.checkGrants(input.products),
      quota: { ...input.quota },
      history: this.checkHistory(input.history),
      expires_at: this.checkExpiry(input.expires_at),
      description: input.description ?? '',
      status: 'active',
      revoked_at: null,
      revoke_reason: null,
      created_at: now,
      updated_at: now
    }
    await this.registry.put({ kind: 'share', data: share })
    await this.record(actor, { action: 'share.create', target: share.id, share: share.id, partner: share.partner, detail: { products: share.products, quota: share.quota, history: share.history, expires_at: share.expires_at } })
    const token = await this.mintToken(share.id, actor, tokenTtlSeconds)
    return { share, token }
  }

  getShare (id: string): Share {
    const share = this.registry.share(id)
    if (share === undefined) throw new GatewayError('not_found', `no share "${id}"`)
    return share
  }

  async updateShare (id: string, patch: SharePatch, actor: Actor): Promise<Share> {
    this.requireLoaded()
    const current = this.getShare(id)
    if (current.status === 'revoked') throw new GatewayError('conflict', 'a revoked share cannot be changed')
    const share: Share = {
      ...current,
      ...(patch.products === undefined ? {} : { products: this.checkGrants(patch.products) }),
      ...(patch.quota === undefined ? {} : { quota: { ...patch.quota } }),
      ...(patch.history === undefined ? {} : { history: this.checkHistory(patch.history) }),
      ...(patch.expires_at === undefined ? {} : { expires_at: this.checkExpiry(patch.expires_at) }),
      ...(patch.description === undefined ? {} : { description: patch.description }),
      updated_at: new Date().toISOString()
    }
    await this.registry.put({ kind: 'share', data: share })
    await this.record(actor, { action: 'share.update', target: id, share: id, partner: share.partner, detail: { fields: Object.keys(patch), ...patch } })
    return share
  }

  /** Durable once this returns: the record is in Kafka and read back here. */
  async revokeShare (id: string, reason: string, actor: Actor): Promise<Share> {
    this.requireLoaded()
    const current = this.getShare(id)
    if (current.status === 'revoked') return current
    const now = new Date().toISOString()
    const share: Share = { ...current, status: 'revoked', revoked_at: now, revoke_reason: reason, updated_at: now }
    await this.registry.put({ kind: 'share', data: share })
    await this.record(actor, { action: 'share.revoke', target: id, share: id, partner: share.partner, detail: { reason } })
    return share
  }

  // ---- tokens -------------------------------------------------------------

  /** Mints a token for an active share: scopes from its grants, expiry capped by the share's. */
  async mintToken (shareId: string, actor: Actor, ttlSeconds?: number): Promise<IssuedToken> {
    this.requireLoaded()
    const share = this.getShare(shareId)
    const status = shareStatus(share)
    if (status !== 'active') throw new GatewayError('conflict', `share is ${status}`)
    const ttl = ttlSeconds ?? this.defaultTokenTtlSeconds
    const scopes = share.products.flatMap(g => g.access.map(a => scopeFor(a, g.product)))
    const jti = randomUUID()
    const minted = await this.tokens.mint({
      partnerId: share.partner,
      shareId: share.id,
      scopes,
      ttlSeconds: ttl,
      ...(share.expires_at === null ? {} : { notAfter: new Date(share.expires_at) }),
      jti
    })
    const record: TokenRecord = {
      jti,
      share: share.id,
      partner: share.partner,
      scopes,
      issued_at: new Date().toISOString(),
      expires_at: minted.expiresAt.toISOString(),
      revoked_at: null,
      revoke_reason: null
    }
    // The token is usable only once its record is in the registry (read back here).
    await this.registry.put({ kind: 'token', data: record })
    await this.record(actor, { action: 'token.create', target: jti, share: share.id, partner: share.partner, detail: { expires_at: record.expires_at, scopes } })
    return { access_token: minted.accessToken, token_type: 'Bearer', expires_at: record.expires_at, jti }
  }

  tokensOf (shareId: string): TokenRecord[] {
    this.getShare(shareId)
    return this.registry.tokensOfShare(shareId).sort((a, b) => a.issued_at.localeCompare(b.issued_at))
  }

  async revokeToken (shareId: string, jti: string, reason: string, actor: Actor): Promise<TokenRecord> {
    this.requireLoaded()
    this.getShare(shareId)
    const current = this.registry.token(jti)
    if (current === undefined || current.share !== shareId) throw new GatewayError('not_found', `no token "${jti}" in share "${shareId}"`)
    if (current.revoked_at !== null) return current
    const record: TokenRecord = { ...current, revoked_at: new Date().toISOString(), revoke_reason: reason }
    await this.registry.put({ kind: 'token', data: record })
    await this.record(actor, { action: 'token.revoke', target: jti, share: shareId, partner: current.partner, detail: { reason } })
    return record
  }
}
