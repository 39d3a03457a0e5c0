/**
 * Partner access tokens (CONTRACT §4): minting and verification.
 *
 * Verification pins the algorithms, checks iss/aud/exp/nbf with a small clock
 * tolerance, requires `typ: at+jwt`, and looks `kid` up only in our own key set:
 * jku, x5u, jwk and x5c header parameters are never used to find a key.
 */
import { randomUUID } from 'node:crypto'
import { errors as joseErrors, jwtVerify, SignJWT, type JWTHeaderParameters } from 'jose'
import { GatewayError } from '../errors.js'
import { SIGNING_ALGORITHMS, type SigningKeys } from './signing-keys.js'

export const TOKEN_AUDIENCE = 'streamshare'
export const TOKEN_TYPE = 'at+jwt'
const CLOCK_TOLERANCE_SECONDS = 5
/** A JWT larger than this is refused before any parsing. */
export const MAX_TOKEN_LENGTH = 8192

export type Access = 'read' | 'write'

/** Who is calling, as proven by a verified token. */
export interface Principal {
  partnerId: string
  shareId: string
  jti: string
  /** `read:<product>` / `write:<product>` as granted in the token. */
  scopes: ReadonlySet<string>
  issuedAt: number
  /** Milliseconds since the epoch. */
  expiresAt: number
}

export interface MintRequest {
  partnerId: string
  shareId: string
  scopes: string[]
  /** Lifetime in seconds. */
  ttlSeconds: number
  /** Absolute expiry; wins over ttlSeconds when earlier (a token never outlives its share). */
  notAfter?: Date
  jti?: string
}

export interface MintedToken {
  accessToken: string
  jti: string
  expiresAt: Date
}

export const SCOPE_PATTERN = /^(read|write):[a-z0-9][a-z0-9-]{0,62}$/

export function scopeFor (access: Access, product: string): string {
  return `${access}:${product}`
}

export class TokenService {
  constructor (private keys: SigningKeys, private readonly issuer: string) {}

  get signingKeys (): SigningKeys { return this.keys }

  /** Swaps the key set (rotation): later mints and verifications use the new one. */
  replaceKeys (keys: SigningKeys): void { this.keys = keys }

  async mint (request: MintRequest): Promise<MintedToken> {
    for (const scope of request.scopes) {
      if (!SCOPE_PATTERN.test(scope)) throw new Error(`invalid scope "${scope}"`)
    }
    const jti = request.jti ?? randomUUID()
    const now = Math.floor(Date.now() / 1000)
    let exp = now + request.ttlSeconds
    if (request.notAfter !== undefined) exp = Math.min(exp, Math.floor(request.notAfter.getTime() / 1000))
    const accessToken = await new SignJWT({ sid: request.shareId, scope: request.scopes.join(' ') })
      .setProtectedHeader({ alg: this.keys.signingAlg, kid: this.keys.signingKid, typ: TOKEN_TYPE })
      .setIssuer(this.issuer)
      .setAudience(TOKEN_AUDIENCE)
      .setSubject(request.partnerId)
      .setJti(jti)
      .setIssuedAt(now)
      .setExpirationTime(exp)
      .sign(this.keys.signingKey)
    return { accessToken, jti, expiresAt: new Date(exp * 1000) }
  }

  /** Verifies a bearer token; throws GatewayError token_invalid / token_expired. */
  async verify (token: string): Promise<Principal> {
    if (token.length > MAX_TOKEN_LENGTH) throw new GatewayError('token_invalid', 'token is too large')
    let payload
    try {
      const result = await jwtVerify(token, (header: JWTHeaderParameters) => {
        const key = this.keys.verificationKey(header.kid, header.alg)
        if (key === undefined) throw new joseErrors.JWKSNoMatchingKey()
        return key
      }, {
        algorithms: [...SIGNING_ALGORITHMS],
        issuer: this.issuer,
        audience: TOKEN_AUDIENCE,
        typ: TOKEN_TYPE,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp', 'iat', 'sub', 'jti']
      })
      payload = result.payload
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new GatewayError('token_expired', 'token has expired')
      throw new GatewayError('token_invalid', describeJoseError(err))
    }
    const { sub, jti, iat, exp } = payload
    // The clock tolerance is for iat/nbf skew between instances; expiry is exact, the
    // same instant the stream guard ends open streams.
    if (Date.now() >= (exp as number) * 1000) throw new GatewayError('token_expired', 'token has expired')
    const sid = payload.sid
    const scope = payload.scope
    if (typeof sid !== 'string' || sid === '') throw new GatewayError('token_invalid', 'token has no share id (sid)')
    if (typeof scope !== 'string') throw new GatewayError('token_invalid', 'token has no scope')
    const scopes = new Set(scope.split(' ').filter(s => s !== ''))
    for (const s of scopes) {
      if (!SCOPE_PATTERN.test(s)) throw new GatewayError('token_invalid', 'token scope is malformed')
    }
    return {
      partnerId: sub as string,
      shareId: sid,
      jti: jti as string,
      scopes,
      issuedAt: (iat as number) * 1000,
      expiresAt: (exp as number) * 1000
    }
  }
}

/** A short, safe reason: never echoes the token or its claims. */
function describeJoseError (err: unknown): string {
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'token is not signed by a key of this gateway'
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature is invalid'
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `token claim "${err.claim}" is invalid`
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'token algorithm is not allowed'
  if (err instanceof joseErrors.JWTInvalid || err instanceof joseErrors.JWSInvalid) return 'token is malformed'
  return 'token is invalid'
}

/** Extracts the bearer token from an Authorization header value. */
export function bearerToken (header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  const match = /^Bearer[ ]+([A-Za-z0-9\-_.~+/]+=*)[ ]*$/i.exec(header)
  return match?.[1]
}
