import t, { type Test } from 'tap'
import { SignJWT, UnsecuredJWT, generateKeyPair, exportJWK } from 'jose'
import { generateSigningJwk, SigningKeys, SigningKeyError } from '../../src/auth/signing-keys.js'
import { TokenService, bearerToken } from '../../src/auth/tokens.js'
import { GatewayError } from '../../src/errors.js'

const ISS = 'https://gw.example.com'
const active = await generateSigningJwk('ES256', 'active')
const keys = await SigningKeys.fromJwkSet({ keys: [active] })
const tokens = new TokenService(keys, ISS)

async function rejects (t: Test, token: string, code: string): Promise<void> {
  try {
    await tokens.verify(token)
    t.fail('token accepted')
  } catch (err) {
    t.equal(err instanceof GatewayError ? err.code : String(err), code)
  }
}

const base = { sid: 's1', scope: 'read:orders' }
function claims (): SignJWT {
  return new SignJWT(base).setIssuer(ISS).setAudience('streamshare').setSubject('p1').setJti('j1').setIssuedAt().setExpirationTime('5m')
}

t.test('mint then verify round-trips the contract claims', async t => {
  const minted = await tokens.mint({ partnerId: 'acme', shareId: 'sh_1', scopes: ['read:orders', 'write:returns'], ttlSeconds: 600 })
  const header = JSON.parse(Buffer.from(minted.accessToken.split('.')[0]!, 'base64url').toString())
  t.same(header, { alg: 'ES256', kid: active.kid, typ: 'at+jwt' })
  const p = await tokens.verify(minted.accessToken)
  t.equal(p.partnerId, 'acme')
  t.equal(p.shareId, 'sh_1')
  t.equal(p.jti, minted.jti)
  t.same([...p.scopes], ['read:orders', 'write:returns'])
  t.ok(Math.abs(p.expiresAt - minted.expiresAt.getTime()) < 1000)
  const payload = JSON.parse(Buffer.from(minted.accessToken.split('.')[1]!, 'base64url').toString())
  t.same(Object.keys(payload).sort(), ['aud', 'exp', 'iat', 'iss', 'jti', 'scope', 'sid', 'sub'])
})

t.test('refuses tokens that are not ours or not right', async t => {
  const key = keys.signingKey
  const hdr = { alg: 'ES256', kid: active.kid, typ: 'at+jwt' }
  await rejects(t, await claims().setProtectedHeader(hdr).setIssuer('https://evil.example').sign(key), 'token_invalid')
  await rejects(t, await claims().setProtectedHeader(hdr).setAudience('other').sign(key), 'token_invalid')
  await rejects(t, await claims().setProtectedHeader({ alg: 'ES256', kid: active.kid }).sign(key), 'token_invalid')
  await rejects(t, await claims().setProtectedHeader({ ...hdr, typ: 'JWT' }).sign(key), 'token_invalid')
  await rejects(t, await claims().setProtectedHeader({ ...hdr, kid: 'unknown' }).sign(key), 'token_invalid')
  await rejects(t, await claims().setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' }).sign(key), 'token_invalid')
  await rejects(t, await claims().setProtectedHeader(hdr).setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(key), 'token_expired')
  await rejects(t, await claims().setProtectedHeader(hdr).setNotBefore('10m').sign(key), 'token_invalid')
  await rejects(t, await new SignJWT({ scope: 'read:orders' }).setProtectedHeader(hdr).setIssuer(ISS).setAudience('streamshare').setSubject('p').setJti('j').setIssuedAt().setExpirationTime('5m').sign(key), 'token_invalid')
  await rejects(t, await new SignJWT({ ...base, scope: 'admin:*' }).setProtectedHeader(hdr).setIssuer(ISS).setAudience('streamshare').setSubject('p').setJti('j').setIssuedAt().setExpirationTime('5m').sign(key), 'token_invalid')
  // alg=none
  await rejects(t, new UnsecuredJWT(base).setIssuer(ISS).setAudience('streamshare').setSubject('p1').setJti('j').setIssuedAt().setExpirationTime('5m').encode(), 'token_invalid')
  // HS256 keyed with our public key (algorithm confusion)
  const pub = JSON.stringify(await exportJWK((await generateKeyPair('ES256')).publicKey))
  await rejects(t, await claims().setProtectedHeader({ alg: 'HS256', kid: active.kid, typ: 'at+jwt' }).sign(new TextEncoder().encode(pub)), 'token_invalid')
})

t.test('key material in the token header is never used to find a key', async t => {
  const attacker = await generateKeyPair('ES256', { extractable: true })
  const jwk = await exportJWK(attacker.publicKey)
  for (const extra of [{ jwk }, { jku: 'https://evil.example/jwks.json' }, { x5u: 'https://evil.example/cert' }]) {
    const token = await claims().setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: active.kid, ...extra }).sign(attacker.privateKey)
    await rejects(t, token, 'token_invalid')
  }
})

t.test('rotation: retired keys verify, only the active key signs', async t => {
  const old = await generateSigningJwk('ES256', 'active')
  const next = await generateSigningJwk('ES256', 'next')
  const before = new TokenService(await SigningKeys.fromJwkSet({ keys: [old, next] }), ISS)
  const oldToken = (await before.mint({ partnerId: 'p', shareId: 's', scopes: ['read:orders'], ttlSeconds: 60 })).accessToken
  t.equal(before.signingKeys.signingKid, old.kid, 'next is published but does not sign')
  t.equal(JSON.parse(before.signingKeys.jwksJson).keys.length, 2, 'both keys are published')
  const after = new TokenService(await SigningKeys.fromJwkSet({ keys: [{ ...old, status: 'retired' }, { ...next, status: 'active' }] }), ISS)
  t.equal(after.signingKeys.signingKid, next.kid)
  const p = await after.verify(oldToken)
  t.equal(p.shareId, 's', 'a token signed by the retired key still verifies')
  const newToken = (await after.mint({ partnerId: 'p', shareId: 's', scopes: [], ttlSeconds: 60 })).accessToken
  t.equal(JSON.parse(Buffer.from(newToken.split('.')[0]!, 'base64url').toString()).kid, next.kid)
  const dropped = new TokenService(await SigningKeys.fromJwkSet({ keys: [{ ...next, status: 'active' }] }), ISS)
  await t.rejects(dropped.verify(oldToken), { code: 'token_invalid' }, 'once removed, the old key verifies nothing')
})

t.test('key set validation', async t => {
  await t.rejects(SigningKeys.fromJwkSet({}), SigningKeyError)
  await t.rejects(SigningKeys.fromJwkSet({ keys: [{ ...active, d: undefined }] }), /not a private key/)
  await t.rejects(SigningKeys.fromJwkSet({ keys: [active, active] }), /duplicate kid/)
  await t.rejects(SigningKeys.fromJwkSet({ keys: [{ ...active, alg: 'RS256' }] }), /alg must be/)
  const second = await generateSigningJwk('ES256', 'active')
  await t.rejects(SigningKeys.fromJwkSet({ keys: [active, second] }), /more than one key is marked active/)
  const jwks = JSON.parse(keys.jwksJson) as { keys: Array<Record<string, unknown>> }
  t.equal(jwks.keys[0]!.d, undefined, 'the published set has no private part')
  t.equal(jwks.keys[0]!.status, undefined, 'nor our bookkeeping')
  const ed = await SigningKeys.fromJwkSet({ keys: [await generateSigningJwk('EdDSA')] })
  const edTokens = new TokenService(ed, ISS)
  const edToken = await edTokens.mint({ partnerId: 'p', shareId: 's', scopes: ['read:x'], ttlSeconds: 60 })
  t.equal((await edTokens.verify(edToken.accessToken)).shareId, 's', 'EdDSA keys work too')
})

t.test('bearer header parsing', async t => {
  t.equal(bearerToken('Bearer abc.def.ghi'), 'abc.def.ghi')
  t.equal(bearerToken('bearer abc'), 'abc')
  t.equal(bearerToken('Basic abc'), undefined)
  t.equal(bearerToken('Bearer'), undefined)
  t.equal(bearerToken(undefined), undefined)
  t.equal(bearerToken('Bearer a b'), undefined)
  await rejects(t, 'x'.repeat(9000), 'token_invalid')
})
