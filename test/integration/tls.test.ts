/**
 * HTTPS and mutual TLS on the partner listener, with certificates made by
 * certs/generate.sh: a real gateway, a real broker, real TLS handshakes.
 */
import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { Server as TlsServer, TLSSocket } from 'node:tls'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { Agent, request, type Dispatcher } from 'undici'
import { ConfigError, loadConfig } from '../../src/config/config.js'
import { PartnerOrders } from '../helpers/records.js'
import { startTestGateway } from '../helpers/gateway.js'
import { testKafka } from '../helpers/kafka.js'
import { policiesWithTopics, REPO_ROOT } from '../helpers/policies.js'
import { isStream, StreamClient } from '../helpers/stream-client.js'

const run = promisify(execFile)
const GENERATE = path.join(REPO_ROOT, 'certs', 'generate.sh')

interface CertSet { dir: string, ca: string, clientCert: string, clientKey: string }

interface Teardown { teardown: (fn: () => Promise<void> | void) => void }

/** A fresh temp dir, removed when the test ends (it holds private keys). */
async function tempDir (tt: Teardown, prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix))
  tt.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** Runs certs/generate.sh into a fresh temp dir and reads back what a client needs. */
async function generateCerts (tt: Teardown): Promise<CertSet> {
  const dir = await tempDir(tt, 'streamshare-certs-')
  await run(GENERATE, [dir])
  return {
    dir,
    ca: await readFile(path.join(dir, 'ca.crt'), 'utf8'),
    clientCert: await readFile(path.join(dir, 'client.crt'), 'utf8'),
    clientKey: await readFile(path.join(dir, 'client.key'), 'utf8')
  }
}

/** An undici Agent with TLS options, closed when the test ends. */
function agent (tt: Teardown, connect: Agent.Options['connect']): Agent {
  const a = new Agent({ connect })
  tt.teardown(async () => { await a.close() })
  return a
}

/** GET that resolves to the status and body, or rejects when the connection fails. */
async function get (url: string, dispatcher?: Dispatcher): Promise<{ status: number, body: string }> {
  const res = await request(url, dispatcher === undefined ? {} : { dispatcher })
  return { status: res.statusCode, body: await res.body.text() }
}

const certs = await generateCerts(t)
const tlsEnv = {
  STREAMSHARE_TLS_CERT: path.join(certs.dir, 'server.crt'),
  STREAMSHARE_TLS_KEY: path.join(certs.dir, 'server.key')
}

const kafka = testKafka()
t.teardown(async () => { await kafka.close() })
const ordersTopic = await kafka.createTopic('tls-orders', 1)
const policiesDir = await policiesWithTopics({ orders: ordersTopic })

t.test('the script makes key files readable by the owner only, and reuses what exists', async t => {
  for (const name of ['ca.key', 'server.key', 'client.key']) {
    const { mode } = await stat(path.join(certs.dir, name))
    t.equal((mode & 0o777).toString(8), '600', name)
  }
  const before = await readFile(path.join(certs.dir, 'server.crt'), 'utf8')
  const { stdout } = await run(GENERATE, [certs.dir])
  t.match(stdout, /reusing/)
  t.match(stdout, /STREAMSHARE_TLS_CLIENT_CA=/)
  t.equal(await readFile(path.join(certs.dir, 'server.crt'), 'utf8'), before, 'not regenerated without --force')
})

t.test('with a certificate and key, the partner listener speaks HTTPS', async t => {
  const gw = await startTestGateway(t, { policiesDir, env: tlsEnv })
  t.match(gw.partnerUrl, /^https:\/\//)
  const trusting = agent(t, { ca: certs.ca })

  t.test('/livez and the JWKS over HTTPS, verified against the dev CA', async t => {
    const live = await get(gw.partnerUrl + '/livez', trusting)
    t.equal(live.status, 200)
    t.same(JSON.parse(live.body), { status: 'live' })
    const jwks = await request(gw.partnerUrl + '/.well-known/jwks.json', { dispatcher: trusting })
    t.equal(jwks.statusCode, 200)
    t.match(jwks.headers['content-type'], /^application\/jwk-set\+json/)
    const body = await jwks.body.json() as { keys: Array<Record<string, unknown>> }
    t.ok(body.keys.length >= 1)
    for (const key of body.keys) t.equal(key.d, undefined, 'public keys only')
  })

  t.test('an NDJSON stream delivers a record produced after connecting', async t => {
    const token = (await gw.share(['orders'])).token
    const stream = await StreamClient.open(gw.partnerUrl + '/v1/streams/orders', { token, format: 'ndjson', dispatcher: trusting })
    if (!isStream(stream)) throw new Error(`expected a stream, got ${stream.status}: ${JSON.stringify(stream.problem)}`)
    try {
      t.equal(stream.status, 200)
      t.match(stream.headers['content-type'], /^application\/x-ndjson/)
      const order = new PartnerOrders(1).next()
      await kafka.produceRaw(ordersTopic, [{ key: order.key, value: JSON.stringify(order.value) }])
      const [m] = await stream.waitFor(1)
      t.equal(m!.data.type, 'record')
      t.equal(m!.data.key, order.key)
      t.equal(m!.data.value.order_id, order.value.order_id)
    } finally {
      stream.close()
    }
  })

  t.test('a client that does not trust the dev CA is refused by its own verification', async t => {
    await t.rejects(get(gw.partnerUrl + '/livez', agent(t, {})))
  })

  t.test('plain HTTP to the TLS port gets no 200', async t => {
    const plainUrl = gw.partnerUrl.replace(/^https:/, 'http:')
    let outcome: { status: number, body: string } | Error
    try {
      outcome = await get(plainUrl + '/livez')
    } catch (err) {
      outcome = err as Error
    }
    if (outcome instanceof Error) {
      t.pass(`connection failed: ${outcome.message}`)
    } else {
      t.not(outcome.status, 200)
      t.notMatch(outcome.body, /"status":"live"/)
    }
  })
})

t.test('with a client CA, the partner listener requires a client certificate (mTLS)', async t => {
  const other = await generateCerts(t)
  const gw = await startTestGateway(t, {
    policiesDir,
    env: { ...tlsEnv, STREAMSHARE_TLS_CLIENT_CA: path.join(certs.dir, 'ca.crt') }
  })
  t.match(gw.partnerUrl, /^https:\/\//)
  const withClientCert = agent(t, { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey })

  t.test('a client certificate signed by the CA is accepted', async t => {
    const live = await get(gw.partnerUrl + '/livez', withClientCert)
    t.equal(live.status, 200)
    t.same(JSON.parse(live.body), { status: 'live' })
  })

  t.test('the client certificate does not replace the token', async t => {
    const res = await request(gw.partnerUrl + '/v1/streams/orders', { dispatcher: withClientCert })
    t.equal(res.statusCode, 401)
    t.equal((await res.body.json() as { code: string }).code, 'token_missing')
    const token = (await gw.share(['orders'])).token
    const stream = await StreamClient.open(gw.partnerUrl + '/v1/streams/orders', { token, format: 'ndjson', dispatcher: withClientCert })
    if (!isStream(stream)) throw new Error(`expected a stream, got ${stream.status}: ${JSON.stringify(stream.problem)}`)
    try {
      t.equal(stream.status, 200, 'certificate + token → stream')
    } finally {
      stream.close()
    }
  })

  // The TLS server hands a connection to HTTP with 'secureConnection'; a refused one
  // ends in 'tlsClientError' instead. Only our partner's certificate may ever get through.
  const server = gw.partner.server as unknown as TlsServer
  const partnerFingerprint = new X509Certificate(certs.clientCert).fingerprint256
  const reachedHttp: string[] = []
  server.on('secureConnection', (socket: TLSSocket) => {
    reachedHttp.push(socket.authorized ? socket.getPeerCertificate().fingerprint256 ?? 'no certificate' : 'unauthorized')
  })
  async function refused (t: Test, dispatcher: Dispatcher, name: string): Promise<NodeJS.ErrnoException> {
    const serverError = once(server, 'tlsClientError') as Promise<[NodeJS.ErrnoException]>
    await t.rejects(get(gw.partnerUrl + '/livez', dispatcher), `${name}: the request rejects`)
    const [err] = await serverError
    t.same(reachedHttp.filter(f => f !== partnerFingerprint), [], `${name}: no other connection reached HTTP`)
    return err
  }

  t.test('a client without a certificate is refused at the handshake', async t => {
    const err13 = await refused(t, agent(t, { ca: certs.ca }), 'TLS 1.3')
    t.equal(err13.code, 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE', 'the server saw no certificate')
    // With TLS 1.2 the refusal is an alert inside the handshake proper.
    const err12 = await refused(t, agent(t, { ca: certs.ca, maxVersion: 'TLSv1.2' }), 'TLS 1.2')
    t.equal(err12.code, 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE', 'the server saw no certificate')
  })

  t.test('a client certificate signed by another CA is refused', async t => {
    await refused(t, agent(t, { ca: certs.ca, cert: other.clientCert, key: other.clientKey }), 'foreign CA')
    await refused(t, agent(t, { ca: certs.ca, cert: other.clientCert, key: other.clientKey, maxVersion: 'TLSv1.2' }), 'foreign CA, TLS 1.2')
  })
})

t.test('bad TLS settings are a ConfigError naming the variable', async t => {
  const dir = await tempDir(t, 'streamshare-badtls-')
  const notPem = path.join(dir, 'not-a-cert.txt')
  await writeFile(notPem, 'this is not a certificate\n')
  const keyPath = tlsEnv.STREAMSHARE_TLS_KEY
  const certPath = tlsEnv.STREAMSHARE_TLS_CERT

  const cases: Array<[string, Record<string, string>, string]> = [
    ['certificate file is not PEM', { STREAMSHARE_TLS_CERT: notPem, STREAMSHARE_TLS_KEY: keyPath }, 'STREAMSHARE_TLS_CERT'],
    ['key file is not PEM', { STREAMSHARE_TLS_CERT: certPath, STREAMSHARE_TLS_KEY: notPem }, 'STREAMSHARE_TLS_KEY'],
    ['certificate file is missing', { STREAMSHARE_TLS_CERT: path.join(dir, 'nope.crt'), STREAMSHARE_TLS_KEY: keyPath }, 'STREAMSHARE_TLS_CERT'],
    ['only the certificate', { STREAMSHARE_TLS_CERT: certPath }, 'STREAMSHARE_TLS_KEY'],
    ['only the key', { STREAMSHARE_TLS_KEY: keyPath }, 'STREAMSHARE_TLS_CERT'],
    ['client CA without certificate and key', { STREAMSHARE_TLS_CLIENT_CA: path.join(certs.dir, 'ca.crt') }, 'STREAMSHARE_TLS_CLIENT_CA'],
    ['client CA is not PEM', { ...tlsEnv, STREAMSHARE_TLS_CLIENT_CA: notPem }, 'STREAMSHARE_TLS_CLIENT_CA'],
    ['key does not belong to the certificate', { STREAMSHARE_TLS_CERT: certPath, STREAMSHARE_TLS_KEY: path.join(certs.dir, 'client.key') }, 'STREAMSHARE_TLS_KEY']
  ]
  for (const [name, env, variable] of cases) {
    let error: unknown
    try {
      loadConfig(env)
    } catch (err) {
      error = err
    }
    t.ok(error instanceof ConfigError, `${name}: throws ConfigError`)
    t.equal((error as ConfigError).variable, variable, `${name}: names ${variable}`)
    t.notMatch((error as Error).message, /not a certificate/, `${name}: file contents are not echoed`)
  }

  const ok = loadConfig({ ...tlsEnv, STREAMSHARE_TLS_CLIENT_CA: path.join(certs.dir, 'ca.crt') })
  t.match(ok.tls, { cert: /BEGIN CERTIFICATE/, key: /BEGIN PRIVATE KEY/, clientCa: /BEGIN CERTIFICATE/ }, 'generated files load')
})
