/**
 * Single-use tickets (CONTRACT §4) for browsers, which cannot set an Authorization
 * header on EventSource or WebSocket: `POST /v1/tickets` (with the header) returns a
 * ticket valid for 30 s, passed once as `?ticket=`.
 *
 * A ticket is self-contained and signed (HMAC with a key derived from the gateway
 * secret), so any instance can check it; it carries the token's identity (share,
 * partner, jti, scopes, token expiry), so revocation and expiry apply as to the
 * token. "Single use" is enforced by a used-ticket set that forgets tickets once
 * they expired — in Redis when configured (every instance sees the use), else per
 * instance.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { GatewayError } from '../errors.js'
import type { Principal } from './tokens.js'

const MAX_TICKET_LENGTH = 4096

interface TicketPayload {
  v: 1
  tid: string
  sub: string
  sid: string
  jti: string
  scope: string
  /** Token expiry and ticket expiry, ms since the epoch. */
  exp: number
  tex: number
  iat: number
}

export interface IssuedTicket { ticket: string, expires_at: string, expires_in: number }

/** Remembers used ticket ids until they expire; true if `tid` was not used before. */
export type TicketUseStore = (tid: string, expiresAt: number) => Promise<boolean>

export class TicketService {
  private readonly used = new Map<string, number>()

  constructor (private readonly key: Buffer, private readonly ttlMs: number, private readonly sharedUse?: TicketUseStore) {}

  private mac (payload: string): Buffer {
    return createHmac('sha256', this.key).update(payload).digest()
  }

  issue (principal: Principal): IssuedTicket {
    const now = Date.now()
    const tex = Math.min(now + this.ttlMs, principal.expiresAt)
    const payload: TicketPayload = {
      v: 1,
      tid: randomBytes(12).toString('base64url'),
      sub: principal.partnerId,
      sid: principal.shareId,
      jti: principal.jti,
      scope: [...principal.scopes].join(' '),
      exp: principal.expiresAt,
      tex,
      iat: principal.issuedAt
    }
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url')
    return { ticket: `${body}.${this.mac(body).toString('base64url')}`, expires_at: new Date(tex).toISOString(), expires_in: Math.round((tex - now) / 1000) }
  }

  /** Checks and consumes a ticket; throws token_invalid for anything but a fresh, unused one. */
  async redeem (ticket: string): Promise<Principal> {
    const invalid = new GatewayError('token_invalid', 'ticket is invalid, expired or already used')
    if (ticket.length > MAX_TICKET_LENGTH) throw invalid
    const dot = ticket.indexOf('.')
    if (dot <= 0) throw invalid
    const body = ticket.slice(0, dot)
    const mac = Buffer.from(ticket.slice(dot + 1), 'base64url')
    const expected = this.mac(body)
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) throw invalid
    let payload: TicketPayload
    try { payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as TicketPayload } catch { throw invalid }
    const now = Date.now()
    if (payload.v !== 1 || now >= payload.tex || now >= payload.exp) throw invalid
    this.forgetExpired(now)
    if (this.used.has(payload.tid)) throw invalid
    this.used.set(payload.tid, payload.tex)
    if (this.sharedUse !== undefined && !await this.sharedUse(payload.tid, payload.tex)) throw invalid
    return {
      partnerId: payload.sub,
      shareId: payload.sid,
      jti: payload.jti,
      scopes: new Set(payload.scope.split(' ').filter(s => s !== '')),
      issuedAt: payload.iat,
      expiresAt: payload.exp
    }
  }

  private forgetExpired (now: number): void {
    if (this.used.size < 1024) return
    for (const [tid, tex] of this.used) if (tex <= now) this.used.delete(tid)
  }
}
