import t, { type Test } from 'tap'
import { mkdtemp, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { ConfigError, loadConfig } from '../../src/config/config.js'

function fails (t: Test, env: Record<string, string>, variable: string, pattern?: RegExp): void {
  try {
    loadConfig(env, '/tmp')
    t.fail(`expected ${variable} to be refused`)
  } catch (err) {
    t.ok(err instanceof ConfigError, 'a ConfigError')
    t.equal((err as ConfigError).variable, variable)
    t.match((err as Error).message, new RegExp(`^${variable}: `), 'message starts with the variable')
    t.notMatch((err as Error).message, /\n/, 'one line')
    if (pattern !== undefined) t.match((err as Error).message, pattern)
  }
}

t.test('defaults follow the contract', async t => {
  const config = loadConfig({}, '/srv')
  t.same(config.kafka.brokers, ['localhost:9092'])
  t.equal(config.host, '0.0.0.0')
  t.equal(config.port, 8080)
  t.equal(config.adminHost, '127.0.0.1')
  t.equal(config.adminPort, 8081)
  t.equal(config.publicUrl, 'http://localhost:8080')
  t.equal(config.policiesDir, '/srv/policies')
  t.equal(config.logLevel, 'info')
  t.equal(config.adminToken, undefined)
  t.equal(config.tls, undefined)
  t.equal(config.heartbeatMs, 15000)
})

t.test('configuration is frozen', async t => {
  const config = loadConfig({ STREAMSHARE_KAFKA_BROKERS: 'a:1,b:2' })
  t.ok(Object.isFrozen(config))
  t.ok(Object.isFrozen(config.kafka))
  t.ok(Object.isFrozen(config.kafka.brokers))
  t.throws(() => { (config as { port: number }).port = 1 })
})

t.test('valid values are parsed', async t => {
  const config = loadConfig({
    STREAMSHARE_KAFKA_BROKERS: ' k1:9092 , [::1]:9093 ',
    STREAMSHARE_PORT: '9000',
    STREAMSHARE_PUBLIC_URL: 'https://data.example.com/',
    STREAMSHARE_LOG_LEVEL: 'DEBUG',
    STREAMSHARE_ADMIN_TOKEN: 'x'.repeat(32),
    STREAMSHARE_REDIS_URL: 'redis://127.0.0.1:6379/0',
    STREAMSHARE_KAFKA_SASL_MECHANISM: 'scram-sha-512',
    STREAMSHARE_KAFKA_SASL_USERNAME: 'gw',
    STREAMSHARE_KAFKA_SASL_PASSWORD: 'pw'
  })
  t.same(config.kafka.brokers, ['k1:9092', '[::1]:9093'])
  t.equal(config.port, 9000)
  t.equal(config.publicUrl, 'https://data.example.com', 'no trailing slash: iss compares exactly')
  t.equal(config.logLevel, 'debug')
  t.same(config.kafka.sasl, { mechanism: 'scram-sha-512', username: 'gw', password: 'pw' })
  t.equal(config.redisUrl, 'redis://127.0.0.1:6379/0')
})

t.test('bad values name the variable in one line', async t => {
  fails(t, { STREAMSHARE_PORT: 'abc' }, 'STREAMSHARE_PORT', /integer/)
  fails(t, { STREAMSHARE_PORT: '70000' }, 'STREAMSHARE_PORT', /between/)
  fails(t, { STREAMSHARE_ADMIN_PORT: '-1' }, 'STREAMSHARE_ADMIN_PORT')
  fails(t, { STREAMSHARE_KAFKA_BROKERS: 'nohost' }, 'STREAMSHARE_KAFKA_BROKERS', /host:port/)
  fails(t, { STREAMSHARE_KAFKA_BROKERS: ',' }, 'STREAMSHARE_KAFKA_BROKERS')
  fails(t, { STREAMSHARE_PUBLIC_URL: 'ftp://x' }, 'STREAMSHARE_PUBLIC_URL')
  fails(t, { STREAMSHARE_PUBLIC_URL: 'not a url' }, 'STREAMSHARE_PUBLIC_URL')
  fails(t, { STREAMSHARE_PUBLIC_URL: 'https://x.example/?a=1' }, 'STREAMSHARE_PUBLIC_URL')
  fails(t, { STREAMSHARE_LOG_LEVEL: 'loud' }, 'STREAMSHARE_LOG_LEVEL')
  fails(t, { STREAMSHARE_REDIS_URL: 'http://x' }, 'STREAMSHARE_REDIS_URL')
  fails(t, { STREAMSHARE_HOST: 'a b' }, 'STREAMSHARE_HOST')
  fails(t, { STREAMSHARE_TLS_CERT: '/nonexistent/cert.pem', STREAMSHARE_TLS_KEY: '/nonexistent/key.pem' }, 'STREAMSHARE_TLS_CERT', /cannot read/)
  fails(t, { STREAMSHARE_KAFKA_SASL_MECHANISM: 'plain' }, 'STREAMSHARE_KAFKA_SASL_USERNAME')
  fails(t, { STREAMSHARE_KAFKA_SASL_MECHANISM: 'kerberos', STREAMSHARE_KAFKA_SASL_USERNAME: 'u', STREAMSHARE_KAFKA_SASL_PASSWORD: 'p' }, 'STREAMSHARE_KAFKA_SASL_MECHANISM')
  fails(t, { STREAMSHARE_HEARTBEAT_MS: '5' }, 'STREAMSHARE_HEARTBEAT_MS')
})

t.test('a short admin token is refused without echoing it', async t => {
  const secret = 'short-secret-value'
  try {
    loadConfig({ STREAMSHARE_ADMIN_TOKEN: secret })
    t.fail('expected an error')
  } catch (err) {
    t.equal((err as ConfigError).variable, 'STREAMSHARE_ADMIN_TOKEN')
    t.notMatch((err as Error).message, secret)
    t.match((err as Error).message, /at least 32 characters/)
  }
})

t.test('production refuses to run on generated development keys', async t => {
  fails(t, { NODE_ENV: 'production' }, 'STREAMSHARE_SIGNING_KEYS')
  fails(t, { NODE_ENV: 'production', STREAMSHARE_SIGNING_KEYS: '/keys.json' }, 'STREAMSHARE_GATEWAY_SECRET')
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cfg-'))
  await writeFile(path.join(dir, 'keys.json'), '{}')
  const config = loadConfig({ NODE_ENV: 'production', STREAMSHARE_SIGNING_KEYS: 'keys.json', STREAMSHARE_GATEWAY_SECRET: 's'.repeat(40) }, dir)
  t.equal(config.signingKeysFile, path.join(dir, 'keys.json'))
  t.equal(config.production, true)
})

t.test('STREAMSHARE_TRUST_PROXY: named proxies only, never everyone or a hop count', async t => {
  t.equal(loadConfig({}, '/srv').trustProxy, undefined, 'off by default: the socket peer is the client')
  t.equal(loadConfig({ STREAMSHARE_TRUST_PROXY: 'false' }, '/srv').trustProxy, undefined)
  t.same(loadConfig({ STREAMSHARE_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,::1' }, '/srv').trustProxy, ['10.0.0.0/8', '127.0.0.1', '::1'])
  fails(t, { STREAMSHARE_TRUST_PROXY: '2' }, 'STREAMSHARE_TRUST_PROXY', /IP addresses or CIDR ranges/)
  fails(t, { STREAMSHARE_TRUST_PROXY: 'true' }, 'STREAMSHARE_TRUST_PROXY', /IP addresses or CIDR ranges/)
  fails(t, { STREAMSHARE_TRUST_PROXY: '10.0.0.0/33' }, 'STREAMSHARE_TRUST_PROXY')
  fails(t, { STREAMSHARE_TRUST_PROXY: 'lb.internal' }, 'STREAMSHARE_TRUST_PROXY')
})
