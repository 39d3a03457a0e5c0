/**
 * Limits before authentication, per client IP (Quotas issue §2): failed
 * authentications, connection attempts and ticket requests. Refusing these cheaply
 * (429 before any token is verified) makes token guessing and connection floods
 * expensive for the attacker, not for us.
 */
import { GatewayError } from '../errors.js'
import type { WindowCounter } from './counters.js'

export interface IpLimits {
  /** Failed authentications per IP per minute, after which every request is refused. */
  authFailuresPerMinute: number
  /** Stream and WebSocket connection attempts per IP per minute. */
  connectionsPerMinute: number
  /** Ticket requests per IP per minute. */
  ticketsPerMinute: number
}

const MINUTE = 60_000

export type PreAuthKind = 'request' | 'connection' | 'ticket'

export class IpGuard {
  constructor (private readonly counter: WindowCounter, private readonly limits: IpLimits) {}

  private refuse (what: string): GatewayError {
    return new GatewayError('rate_limited', `too many ${what} from this address; retry later`, { retryAfter: 60 })
  }

  /** Throws rate_limited (429, Retry-After) when this IP is over a pre-authentication limit. */
  async check (ip: string, kind: PreAuthKind): Promise<void> {
    if (await this.counter.count(`fail:${ip}`) >= this.limits.authFailuresPerMinute) throw this.refuse('failed authentications')
    if (kind === 'connection' && await this.counter.hit(`conn:${ip}`, MINUTE) > this.limits.connectionsPerMinute) throw this.refuse('connection attempts')
    if (kind === 'ticket' && await this.counter.hit(`ticket:${ip}`, MINUTE) > this.limits.ticketsPerMinute) throw this.refuse('ticket requests')
  }

  async authFailed (ip: string): Promise<void> {
    await this.counter.hit(`fail:${ip}`, MINUTE)
  }
}
