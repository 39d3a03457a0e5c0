/**
 * The admin API over real HTTP against the real registry topic: CRUD, validation,
 * authentication, audit — and the attacks listed in the Shares issue.
 */
import t from 'tap'
import { request } from 'undici'
import { SignJWT, UnsecuredJWT, base64url } from 'jose'
import { testKafka } from '../helpers/kafka.js'
import { policiesWithTopics } from '../helpers/policies.js'
import { adminClient, startTestGateway, TEST_ADMIN_TOKEN, uniqueId } from '../helpers/gateway.js'
import { isStream, StreamClient } from '../helpers/stream-client.js'
import { DemoDataGenerator } from '../../src/dev/demo-data.js'

const kafka = testKafka()
t.teardown(async () => { await kafka.close() })
const topic = await kafka.createTopic('admin-orders', 1)
const policiesDir = await policiesWithTopics({ orders: topic })
const gw = await startTestGateway(t, { policiesDir })
const api = gw.adminApi

t.test('partners: create, list, show, update, delete', async t => {
  const id = uniqueId('acme')
  const created = await api('POST', '/admin/v1/partners', { id, name: 'ACME Logistics', contact: 'ops@acme.example', attributes: { region: 'eu-west' }, allowed_origins: ['https://app.acme.example'] })
  t.equal(created.status, 201)
  t.match(created.body, { id, name: 'ACME Logistics', attributes: { region: 'eu-west' }, allowed_origins: ['https://app.acme.example'] })
  t.equal((await api('POST', '/admin/v1/partners', { id, name: 'again', contact: 'x@y.z' })).status, 409, 'duplicate id')
  const list = await api('GET', '/admin/v1/partners')
  t.ok(list.body.partners.some((p: { id: string }) => p.id === id))
  const patched = await api('PATCH', `/admin/v1/partners/${id}`, { attributes: { region: 'us-east' } })
  t.equal(patched.status, 200)
  t.same(patched.body.attributes, { region: 'us-east' })
  const shown = await api('GET', `/admin/v1/partners/${id}`)
  t.equal(shown.body.name, 'ACME Logistics')
  t.same(shown.body.shares, [])
  t.equal((await api('DELETE', `/admin/v1/partners/${id}`)).status, 204)
  t.equal((await api('GET', `/admin/v1/partners/${id}`)).status, 404)
})

t.test('shares: create shows the token once; list, show with usage, patch, revoke', async t => {
  const partner = uniqueId('globex')
  await api('POST', '/admin/v1/partners', { id: partner, name: 'Globex', contact: 'data@globex.example', attributes: { region: 'eu-west' } })
  const created = await api('POST', '/admin/v1/shares', {
    partner,
    products: [{ product: 'orders', policy: 'partner-basic', access: ['read'] }],
    quota: { max_connections: 5, messages_per_second: 100 },
    history: 'P7D',
    expires_at: new Date(Date.now() + 7 * 86400e3).toISOString(),
    description: 'order feed for Globex'
  })
  t.equal(created.status, 201)
  t.equal(created.headers['cache-control'], 'no-store')
  const { share, token } = created.body
  t.match(share.id, /^sh_[0-9a-f]{20}$/)
  t.equal(share.status, 'active')
  t.same(share.quota, { max_connections: 5, messages_per_second: 100 })
  t.equal(token.token_type, 'Bearer')
  t.match(token.access_token, /^ey/)
  t.type(token.jti, 'string')
  const claims = JSON.parse(Buffer.from(token.access_token.split('.')[1], 'base64url').toString())
  t.match(claims, { sub: partner, sid: share.id, scope: 'read:orders', aud: 'streamshare', iss: 'http://localhost:8080' })

  // Usage shows an open stream.
  const stream = await StreamClient.open(gw.partnerUrl + '/v1/streams/orders', { token: token.access_token })
  t.ok(isStream(stream))
  const shown = await api('GET', `/admin/v1/shares/${share.id}`)
  t.equal(shown.status, 200)
  t.equal(shown.body.usage.connections, 1)
  t.equal(shown.body.tokens.length, 1)
  t.equal(shown.body.tokens[0].jti, token.jti)
  t.notMatch(JSON.stringify(shown.body), token.access_token, 'the token is never shown again')
  if (isStream(stream)) stream.close()

  const list = await api('GET', `/admin/v1/shares?partner=${partner}&status=active`)
  t.same(list.body.shares.map((s: { id: string }) => s.id), [share.id])
  t.same((await api('GET', `/admin/v1/shares?partner=${partner}&status=revoked`)).body.shares, [])

  const patched = await api('PATCH', `/admin/v1/shares/${share.id}`, { quota: { max_connections: 9 } })
  t.equal(patched.status, 200)
  t.same(patched.body.quota, { max_connections: 9 })

  t.equal((await api('DELETE', `/admin/v1/partners/${partner}`)).status, 409, 'partner with an active share cannot be deleted')
  const revoked = await api('POST', `/admin/v1/shares/${share.id}/revoke`, { reason: 'test' })
  t.equal(revoked.status, 200)
  t.equal(revoked.body.status, 'revoked')
  t.equal(revoked.body.revoke_reason, 'test')
  t.equal((await api('PATCH', `/admin/v1/shares/${share.id}`, { description: 'x' })).status, 409, 'a revoked share is final')
  t.equal((await api('DELETE', `/admin/v1/partners/${partner}`)).status, 204, 'deletable once nothing is active')
})

t.test('share validation against the catalog', async t => {
  const partner = uniqueId('initech')
  await api('POST', '/admin/v1/partners', { id: partner, name: 'Initech', contact: 'it@initech.example' })
  const cases: Array<[string, unknown, string]> = [
    ['unknown partner', { partner: 'nobody-here', products: [{ product: 'orders', policy: 'partner-basic', access: ['read'] }] }, '/partner'],
    ['unknown product', { partner, products: [{ product: 'payroll', policy: 'x', access: ['read'] }] }, '/products/0/product'],
    ['unknown policy', { partner, products: [{ product: 'orders', policy: 'everything', access: ['read'] }] }, '/products/0/policy'],
    ['write without write_schema', { partner, products: [{ product: 'orders', policy: 'partner-basic', access: ['read', 'write'] }] }, '/products/0/access'],
    ['past expiry', { partner, products: [{ product: 'orders', policy: 'partner-basic', access: ['read'] }], expires_at: '2001-01-01T00:00:00Z' }, '/expires_at'],
    ['bad history', { partner, products: [{ product: 'orders', policy: 'partner-basic', access: ['read'] }], history: 'forever' }, '/history']
  ]
  for (const [name, body, path] of cases) {
    const res = await api('POST', '/admin/v1/shares', body)
    t.equal(res.status, 400, name)
    t.equal(res.body.code, 'bad_request', name)
    t.ok(res.body.errors.some((e: { path: string }) => e.path === path), `${name}: error at ${path}: ${JSON.stringify(res.body.errors)}`)
  }
})

t.test('bodies: unknown fields, wrong types and __proto__ keys → 400', async t => {
  const bodies: Array<[string, string]> = [
    ['unknown field', JSON.stringify({ id: uniqueId('x'), name: 'n', contact: 'c', admin: true })],
    ['wrong type', JSON.stringify({ id: uniqueId('x'), name: 42, contact: 'c' })],
    ['string for an object', JSON.stringify({ id: uniqueId('x'), name: 'n', contact: 'c', attributes: 'region=eu' })],
    ['__proto__ key', `{"id":"${uniqueId('x')}","name":"n","contact":"c","__proto__":{"admin":true}}`],
    ['constructor.prototype', `{"id":"${uniqueId('x')}","name":"n","contact":"c","constructor":{"prototype":{"admin":true}}}`],
    ['bad id', JSON.stringify({ id: '../etc', name: 'n', contact: 'c' })],
    ['not JSON', '{"id": '],
    ['too many attributes', JSON.stringify({ id: uniqueId('x'), name: 'n', contact: 'c', attributes: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, 'v'])) })]
  ]
  for (const [name, body] of bodies) {
    const res = await request(gw.adminUrl + '/admin/v1/partners', { method: 'POST', body, headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' } })
    t.equal(res.statusCode, 400, name)
    t.match(res.headers['content-type'], /application\/problem\+json/)
    const problem = await res.body.json() as { code: string }
    t.equal(problem.code, 'bad_request', name)
  }
  const quota = await api('POST', '/admin/v1/shares', { partner: 'p', products: [{ product: 'orders', policy: 'partner-basic', access: ['read'] }], quota: { max_connections: '5' } })
  t.equal(quota.status, 400, 'a number as a string is not silently converted')
  const live = await request(gw.adminUrl + '/livez')
  t.equal(live.statusCode, 200, 'still serving')
  await live.body.dump()
})

t.test('admin authentication: partner tokens and bad secrets get 401 on every admin route', async t => {
  const { token, shareId } = await gw.share(['orders'])
  const routes: Array<['GET' | 'POST' | 'PATCH' | 'DELETE', string, unknown?]> = [
    ['GET', '/admin/v1/partners'], ['POST', '/admin/v1/partners', { id: 'x', name: 'x', contact: 'x' }],
    ['GET', '/admin/v1/partners/x'], ['PATCH', '/admin/v1/partners/x', { name: 'y' }], ['DELETE', '/admin/v1/partners/x'],
    ['GET', '/admin/v1/shares'], ['POST', '/admin/v1/shares', {}], ['GET', `/admin/v1/shares/${shareId}`],
    ['PATCH', `/admin/v1/shares/${shareId}`, { description: 'x' }], ['POST', `/admin/v1/shares/${shareId}/revoke`, {}],
    ['POST', `/admin/v1/shares/${shareId}/tokens`, {}], ['GET', `/admin/v1/shares/${shareId}/tokens`],
    ['DELETE', `/admin/v1/shares/${shareId}/tokens/00000000-0000-0000-0000-000000000000`],
    ['GET', '/admin/v1/products'], ['GET', '/admin/v1/audit']
  ]
  for (const credential of [token, TEST_ADMIN_TOKEN.slice(0, -1) + 'x', '']) {
    const client = adminClient(gw.adminUrl, credential)
    for (const [method, path, body] of routes) {
      const res = await client(method, path, body)
      t.equal(res.status, 401, `${method} ${path}`)
      t.match(res.body.code, /^token_(missing|invalid)$/)
      t.match(res.headers['www-authenticate'], /error="invalid_token"/)
    }
  }
  // And the admin secret is not a partner token.
  const res = await request(gw.partnerUrl + '/v1/streams/orders', { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })
  t.equal(res.statusCode, 401)
  t.equal((await res.body.json() as { code: string }).code, 'token_invalid')
  t.equal((await api('GET', `/admin/v1/shares/${shareId}`)).status, 200, 'the share still exists: nothing was changed')
})

t.test('without STREAMSHARE_ADMIN_TOKEN every admin call is 401', async t => {
  const closed = await startTestGateway(t, { policiesDir, env: { STREAMSHARE_ADMIN_TOKEN: '' } })
  const res = await adminClient(closed.adminUrl)('GET', '/admin/v1/partners')
  t.equal(res.status, 401)
  t.match(res.body.detail, /STREAMSHARE_ADMIN_TOKEN is not set/)
})

t.test('token attacks on the partner API: exact status and code, never 500', async t => {
  const { token, shareId, jti, partnerId } = await gw.share(['orders'])
  const keys = gw.ctx.tokens.signingKeys
  const now = Math.floor(Date.now() / 1000)
  const claims = { iss: 'http://localhost:8080', aud: 'streamshare', sub: partnerId, sid: shareId, jti, scope: 'read:orders', iat: now, exp: now + 600 }
  const sign = async (payload: Record<string, unknown>, header: Record<string, unknown> = { alg: 'ES256', kid: keys.signingKid, typ: 'at+jwt' }): Promise<string> =>
    await new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(keys.signingKey)
  const [h, p] = token.split('.')
  const widened = `${h}.${base64url.encode(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), scope: 'read:orders read:shipments' }))}.${token.split('.')[2]}`
  const cases: Array<[string, string, number, string]> = [
    ['alg none', new UnsecuredJWT(claims).encode(), 401, 'token_invalid'],
    ['HS256 keyed with the public JWK', await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: keys.signingKid, typ: 'at+jwt' }).sign(new TextEncoder().encode(keys.jwksJson)), 401, 'token_invalid'],
    ['expired', await sign({ ...claims, iat: now - 7200, exp: now - 3600 }), 401, 'token_expired'],
    ['not yet valid', await sign({ ...claims, nbf: now + 3600 }), 401, 'token_invalid'],
    ['wrong iss', await sign({ ...claims, iss: 'https://evil.example' }), 401, 'token_invalid'],
    ['wrong aud', await sign({ ...claims, aud: 'another-api' }), 401, 'token_invalid'],
    ['unknown kid', await sign(claims, { alg: 'ES256', kid: 'no-such-key', typ: 'at+jwt' }), 401, 'token_invalid'],
    ['path-like kid', await sign(claims, { alg: 'ES256', kid: '../../../../etc/passwd', typ: 'at+jwt' }), 401, 'token_invalid'],
    ['tampered payload (scope widened)', widened, 401, 'token_invalid'],
    ['8 KB of garbage', 'A'.repeat(8192), 401, 'token_invalid'],
    ['unknown share', await sign({ ...claims, sid: 'sh_00000000000000000000' }), 401, 'token_invalid'],
    ['unknown jti', await sign({ ...claims, jti: '00000000-0000-0000-0000-000000000000' }), 401, 'token_invalid'],
    ['other partner', await sign({ ...claims, sub: 'someone-else' }), 401, 'token_invalid']
  ]
  for (const [name, bad, status, code] of cases) {
    const res = await request(gw.partnerUrl + '/v1/streams/orders', { headers: { authorization: `Bearer ${bad}` } })
    t.equal(res.statusCode, status, name)
    const body = await res.body.json() as { code: string, detail: string }
    t.equal(body.code, code, name)
  }
  const ok = await StreamClient.open(gw.partnerUrl + '/v1/streams/orders', { token })
  t.ok(isStream(ok), 'the real token still works: the process kept serving')
  if (isStream(ok)) ok.close()
})

t.test('products: the catalog with full schemas and policies', async t => {
  const res = await api('GET', '/admin/v1/products')
  t.equal(res.status, 200)
  const orders = res.body.products.find((p: { name: string }) => p.name === 'orders')
  t.equal(orders.topic, topic)
  t.equal(orders.schema.type, 'object')
  t.ok(orders.policies.some((p: { name: string, version: string }) => p.name === 'partner-basic' && /^[0-9a-f]{12}$/.test(p.version)))
})

t.test('audit: admin actions and stream sessions, without secrets', async t => {
  const since = new Date(Date.now() - 1000).toISOString()
  const { shareId, token } = await gw.share(['orders'])
  const stream = await StreamClient.open(gw.partnerUrl + '/v1/streams/orders', { token })
  if (!isStream(stream)) throw new Error('no stream')
  const order = new DemoDataGenerator(2).order()
  await kafka.produceRaw(topic, [{ key: order.key, value: JSON.stringify({ ...order.value, region: 'eu-west', status: 'confirmed' }) }])
  await stream.waitFor(1)
  stream.close()
  await api('POST', `/admin/v1/shares/${shareId}/revoke`, { reason: 'audit test' })

  let records: Array<Record<string, any>> = []
  for (let i = 0; i < 50; i++) {
    records = (await api('GET', `/admin/v1/audit?since=${encodeURIComponent(since)}&share=${shareId}`)).body.records
    if (records.some(r => r.kind === 'stream' && r.action === 'close')) break
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  const actions = records.map(r => `${r.kind}:${r.action}`)
  t.ok(actions.includes('admin:share.create'), actions.join(','))
  t.ok(actions.includes('admin:token.create'))
  t.ok(actions.includes('admin:share.revoke'))
  t.ok(actions.includes('stream:open'))
  const close = records.find(r => r.kind === 'stream' && r.action === 'close')!
  t.match(close, { share: shareId, product: 'orders', transport: 'ndjson', reason: 'client_closed', delivered: 1, policy: 'partner-basic' })
  t.match(close.policy_version, /^[0-9a-f]{12}$/)
  t.same(Object.values(close.offsets as Record<string, { first: number, last: number }>).map(o => o.first === o.last), [true])
  t.ok(records.every(r => r.share === shareId), 'filtered by share')
  const text = JSON.stringify(records)
  t.notMatch(text, token, 'no token in the audit')
  t.notMatch(text, TEST_ADMIN_TOKEN, 'no admin secret in the audit')
  t.notMatch(text, (order.value.customer as { email: string }).email, 'no record data in the audit')
})
