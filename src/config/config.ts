/**
 * Gateway configuration, read from the environment once at start, validated and
 * frozen (CONTRACT §2). A bad value throws a ConfigError naming the variable; the
 * entry point prints that one line and exits non-zero.
 */
import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import path from 'node:path'
import { isIP } from 'node:net'
import { availableParallelism } from 'node:os'

export class ConfigError extends Error {
  readonly variable: string
  constructor (variable: string, problem: string) {
    super(`${variable}: ${problem}`)
    this.name = 'ConfigError'
    this.variable = variable
  }
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
export type SaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512'

export interface KafkaConfig {
  brokers: string[]
  clientId: string
  ssl: boolean
  /** PEM contents, already read from the files named in the environment. */
  sslCa?: string
  sslCert?: string
  sslKey?: string
  sasl?: { mechanism: SaslMechanism, username: string, password: string }
  connectionTimeoutMs: number
  requestTimeoutMs: number
  /** How often readers refresh topic metadata (how soon new partitions are seen). */
  metadataMaxAgeMs: number
}

export interface TlsConfig {
  cert: string
  key: string
  clientCa?: string
}

export interface Config {
  kafka: KafkaConfig
  host: string
  port: number
  adminHost: string
  adminPort: number
  publicUrl: string
  policiesDir: string
  /** Path of the JWK Set with private signing keys; undefined = dev keys in devStateDir. */
  signingKeysFile?: string
  /** Folder for generated development state (signing keys, gateway secret). */
  devStateDir: string
  /** Secret that keys cursor MACs and per-share hashes; undefined = dev secret in devStateDir. */
  gatewaySecret?: string
  adminToken?: string
  tls?: TlsConfig
  redisUrl?: string
  logLevel: LogLevel
  /** Refuse generated dev keys and secrets (NODE_ENV=production). */
  production: boolean
  heartbeatMs: number
  shutdownGraceMs: number
  /** Pause between failing readiness and closing streams, so load balancers stop routing first. */
  shutdownDelayMs: number
  tokenTtlSeconds: number
  /** Upper bound on one stream's queued-but-unsent bytes before it is cut. */
  streamMaxBufferedBytes: number
  /** A client whose socket buffer stays full (it reads nothing) this long is cut. */
  streamStallTimeoutMs: number
  /** Registry feed silent longer than this → not ready, new streams refused (fail closed). */
  registryMaxSilenceMs: number
  /** Reload the policies folder when its files change (besides SIGHUP). */
  watchPolicies: boolean
  /** Per product topic: how many recent records (and bytes) the tap keeps for subscribers. */
  ringMaxRecords: number
  ringMaxBytes: number
  /** A tap with no subscriber stops after this long. */
  tapIdleMs: number
  /** Private replay readers (streams starting before the ring) per share and per instance. */
  replayPerShare: number
  replayPerInstance: number
  /** Threads that compute replay views next to the main thread (0: none). */
  viewWorkers: number
  /** Partner produce: body of one request, and one record's encoded value. */
  produceMaxBodyBytes: number
  produceMaxRecordBytes: number
  /** WebSocket: largest client message (1009 above), ping interval, subscriptions per connection. */
  wsMaxPayloadBytes: number
  wsPingMs: number
  wsMaxSubscriptions: number
  /** Publishes of one connection waiting for Kafka; more get 429 quota_exceeded. */
  wsMaxInflightPublishes: number
  /** How long a browser ticket (POST /v1/tickets) stays valid. */
  ticketTtlMs: number
  /** Pre-authentication limits per client IP, per minute. */
  ipAuthFailuresPerMinute: number
  ipConnectionsPerMinute: number
  ipTicketsPerMinute: number
  /** requests_per_minute for shares that set none. */
  defaultRequestsPerMinute: number
  /** HTTP hardening: header and request timeouts, header size, keep-alive. */
  httpHeadersTimeoutMs: number
  httpRequestTimeoutMs: number
  httpMaxHeaderBytes: number
  httpKeepAliveTimeoutMs: number
  /** A WebSocket connection without any subscription for this long is closed. */
  wsIdleTimeoutMs: number
  /**
   * Proxies whose X-Forwarded-For is believed for the client IP (per-IP limits, logs):
   * their addresses/CIDRs. Undefined = the socket's peer is the client.
   */
  trustProxy?: string[]
}

type Env = Record<string, string | undefined>

function text (env: Env, name: string): string | undefined {
  const raw = env[name]
  if (raw === undefined) return undefined
  const value = raw.trim()
  return value === '' ? undefined : value
}

function integer (env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = text(env, name)
  if (raw === undefined) return fallback
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(name, `must be an integer, got "${raw}"`)
  const value = Number(raw)
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`)
  return value
}

function port (env: Env, name: string, fallback: number): number {
  return integer(env, name, fallback, 0, 65535)
}

function bool (env: Env, name: string, fallback: boolean): boolean {
  const raw = text(env, name)
  if (raw === undefined) return fallback
  if (/^(1|true|yes|on)$/i.test(raw)) return true
  if (/^(0|false|no|off)$/i.test(raw)) return false
  throw new ConfigError(name, `must be true or false, got "${raw}"`)
}

function oneOf<T extends string> (env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const raw = text(env, name)
  if (raw === undefined) return fallback
  const lower = raw.toLowerCase() as T
  if (!allowed.includes(lower)) throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${raw}"`)
  return lower
}

/** Reads a file named by a variable; the message never includes the file's contents. */
function fileContents (env: Env, name: string, cwd: string): string | undefined {
  const file = text(env, name)
  if (file === undefined) return undefined
  try {
    return readFileSync(path.resolve(cwd, file), 'utf8')
  } catch (err) {
    throw new ConfigError(name, `cannot read file "${file}": ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
  }
}

function host (env: Env, name: string, fallback: string): string {
  const value = text(env, name) ?? fallback
  if (!/^[A-Za-z0-9.:_-]+$/.test(value)) throw new ConfigError(name, `must be a host name or IP address, got "${value}"`)
  return value
}

function brokers (env: Env, name: string): string[] {
  const raw = text(env, name) ?? 'localhost:9092'
  const list = raw.split(',').map(s => s.trim()).filter(s => s !== '')
  if (list.length === 0) throw new ConfigError(name, 'must list at least one host:port')
  for (const broker of list) {
    const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(broker)
    if (match === null || Number(match[2]) < 1 || Number(match[2]) > 65535) {
      throw new ConfigError(name, `"${broker}" is not host:port`)
    }
  }
  return list
}

function publicUrl (env: Env, name: string): string {
  const raw = text(env, name) ?? 'http://localhost:8080'
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError(name, `must be an absolute http(s) URL, got "${raw}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(name, `must be http or https, got "${url.protocol}"`)
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new ConfigError(name, 'must not carry credentials, a query or a fragment')
  }
  // The issuer is compared byte for byte, so normalise once: no trailing slash.
  return url.href.replace(/\/+$/, '')
}

function secret (env: Env, name: string, minLength: number): string | undefined {
  const value = text(env, name)
  if (value === undefined) return undefined
  // Never echo a secret, not even in part.
  if (value.length < minLength) throw new ConfigError(name, `must be at least ${minLength} characters (got ${value.length})`)
  return value
}

function kafkaConfig (env: Env, cwd: string): KafkaConfig {
  const sslCa = fileContents(env, 'STREAMSHARE_KAFKA_SSL_CA_FILE', cwd)
  const sslCert = fileContents(env, 'STREAMSHARE_KAFKA_SSL_CERT_FILE', cwd)
  const sslKey = fileContents(env, 'STREAMSHARE_KAFKA_SSL_KEY_FILE', cwd)
  if ((sslCert === undefined) !== (sslKey === undefined)) {
    throw new ConfigError(sslCert === undefined ? 'STREAMSHARE_KAFKA_SSL_CERT_FILE' : 'STREAMSHARE_KAFKA_SSL_KEY_FILE',
      'client certificate and key must be set together')
  }
  const ssl = bool(env, 'STREAMSHARE_KAFKA_SSL', sslCa !== undefined || sslCert !== undefined)
  const mechanism = text(env, 'STREAMSHARE_KAFKA_SASL_MECHANISM')
  let sasl: KafkaConfig['sasl']
  if (mechanism !== undefined) {
    const m = oneOf(env, 'STREAMSHARE_KAFKA_SASL_MECHANISM', 'plain', ['plain', 'scram-sha-256', 'scram-sha-512'] as const)
    const username = text(env, 'STREAMSHARE_KAFKA_SASL_USERNAME')
    if (username === undefined) throw new ConfigError('STREAMSHARE_KAFKA_SASL_USERNAME', 'required when STREAMSHARE_KAFKA_SASL_MECHANISM is set')
    const password = text(env, 'STREAMSHARE_KAFKA_SASL_PASSWORD') ?? fileContents(env, 'STREAMSHARE_KAFKA_SASL_PASSWORD_FILE', cwd)?.trim()
    if (password === undefined) throw new ConfigError('STREAMSHARE_KAFKA_SASL_PASSWORD', 'required when STREAMSHARE_KAFKA_SASL_MECHANISM is set (or _PASSWORD_FILE)')
    sasl = { mechanism: m, username, password }
  }
  const config: KafkaConfig = {
    brokers: brokers(env, 'STREAMSHARE_KAFKA_BROKERS'),
    clientId: text(env, 'STREAMSHARE_KAFKA_CLIENT_ID') ?? 'streamshare',
    ssl,
    connectionTimeoutMs: integer(env, 'STREAMSHARE_KAFKA_CONNECTION_TIMEOUT_MS', 3000, 100, 60000),
    requestTimeoutMs: integer(env, 'STREAMSHARE_KAFKA_REQUEST_TIMEOUT_MS', 30000, 1000, 300000),
    metadataMaxAgeMs: integer(env, 'STREAMSHARE_KAFKA_METADATA_MAX_AGE_MS', 30000, 1000, 3600000)
  }
  if (sslCa !== undefined) config.sslCa = sslCa
  if (sslCert !== undefined) config.sslCert = sslCert
  if (sslKey !== undefined) config.sslKey = sslKey
  if (sasl !== undefined) config.sasl = sasl
  return config
}

function tlsConfig (env: Env, cwd: string): TlsConfig | undefined {
  const cert = fileContents(env, 'STREAMSHARE_TLS_CERT', cwd)
  const key = fileContents(env, 'STREAMSHARE_TLS_KEY', cwd)
  const clientCa = fileContents(env, 'STREAMSHARE_TLS_CLIENT_CA', cwd)
  if (cert === undefined && key === undefined) {
    if (clientCa !== undefined) throw new ConfigError('STREAMSHARE_TLS_CLIENT_CA', 'needs STREAMSHARE_TLS_CERT and STREAMSHARE_TLS_KEY')
    return undefined
  }
  if (cert === undefined) throw new ConfigError('STREAMSHARE_TLS_CERT', 'must be set together with STREAMSHARE_TLS_KEY')
  if (key === undefined) throw new ConfigError('STREAMSHARE_TLS_KEY', 'must be set together with STREAMSHARE_TLS_CERT')
  if (!cert.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError('STREAMSHARE_TLS_CERT', 'file is not a PEM certificate')
  if (!/-----BEGIN (EC |RSA )?PRIVATE KEY-----/.test(key)) throw new ConfigError('STREAMSHARE_TLS_KEY', 'file is not a PEM private key')
  if (clientCa !== undefined && !clientCa.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigError('STREAMSHARE_TLS_CLIENT_CA', 'file is not a PEM certificate')
  }
  try {
    // Catches a key that does not belong to the certificate now, not at listen time.
    createSecureContext({ cert, key, ...(clientCa === undefined ? {} : { ca: clientCa }) })
  } catch (err) {
    throw new ConfigError('STREAMSHARE_TLS_KEY', `does not match STREAMSHARE_TLS_CERT or cannot be used (${(err as Error).message.split('\n')[0] ?? 'error'})`)
  }
  return clientCa === undefined ? { cert, key } : { cert, key, clientCa }
}

/**
 * Only named proxies. Never "trust everyone", nor a hop count (which trusts whatever
 * peer is nearest): a client reaching the listener directly could then pick its own
 * IP with X-Forwarded-For and walk past the per-IP limits (fastify refuses hop counts
 * for the same reason).
 */
function trustProxy (env: Env, name: string): string[] | undefined {
  const raw = text(env, name)
  if (raw === undefined || /^(false|no|off)$/i.test(raw)) return undefined
  const entries = raw.split(',').map(e => e.trim()).filter(e => e !== '')
  for (const entry of entries) {
    const [address = '', prefix, extra] = entry.split('/')
    const family = isIP(address)
    const maxPrefix = family === 6 ? 128 : 32
    const prefixOk = prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= maxPrefix)
    if (family === 0 || !prefixOk || extra !== undefined) {
      throw new ConfigError(name, `must be a comma-separated list of proxy IP addresses or CIDR ranges, got "${entry}"`)
    }
  }
  return entries
}

function redisUrl (env: Env, name: string): string | undefined {
  const raw = text(env, name)
  if (raw === undefined) return undefined
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError(name, 'must be a redis:// or rediss:// URL')
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new ConfigError(name, 'must be a redis:// or rediss:// URL')
  return raw
}

/**
 * Builds the frozen configuration. `cwd` resolves relative paths (policies, key files),
 * so tests can load a config for a temporary folder without changing directory.
 */
export function loadConfig (env: Env = process.env, cwd: string = process.cwd()): Readonly<Config> {
  const production = text(env, 'NODE_ENV') === 'production'
  const config: Config = {
    kafka: kafkaConfig(env, cwd),
    host: host(env, 'STREAMSHARE_HOST', '0.0.0.0'),
    port: port(env, 'STREAMSHARE_PORT', 8080),
    adminHost: host(env, 'STREAMSHARE_ADMIN_HOST', '127.0.0.1'),
    adminPort: port(env, 'STREAMSHARE_ADMIN_PORT', 8081),
    publicUrl: publicUrl(env, 'STREAMSHARE_PUBLIC_URL'),
    policiesDir: path.resolve(cwd, text(env, 'STREAMSHARE_POLICIES_DIR') ?? './policies'),
    devStateDir: path.resolve(cwd, text(env, 'STREAMSHARE_DEV_STATE_DIR') ?? './.streamshare'),
    logLevel: oneOf(env, 'STREAMSHARE_LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
    production,
    heartbeatMs: integer(env, 'STREAMSHARE_HEARTBEAT_MS', 15000, 100, 300000),
    shutdownGraceMs: integer(env, 'STREAMSHARE_SHUTDOWN_GRACE_MS', 10000, 100, 120000),
    shutdownDelayMs: integer(env, 'STREAMSHARE_SHUTDOWN_DELAY_MS', 0, 0, 60000),
    tokenTtlSeconds: integer(env, 'STREAMSHARE_TOKEN_TTL_SECONDS', 86400, 60, 31536000),
    streamMaxBufferedBytes: integer(env, 'STREAMSHARE_STREAM_MAX_BUFFERED_BYTES', 8 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
    streamStallTimeoutMs: integer(env, 'STREAMSHARE_STREAM_STALL_TIMEOUT_MS', 30000, 100, 3_600_000),
    registryMaxSilenceMs: integer(env, 'STREAMSHARE_REGISTRY_MAX_SILENCE_MS', 30000, 1000, 600000),
    watchPolicies: bool(env, 'STREAMSHARE_POLICIES_WATCH', true),
    ringMaxRecords: integer(env, 'STREAMSHARE_RING_MAX_RECORDS', 20000, 1, 10_000_000),
    ringMaxBytes: integer(env, 'STREAMSHARE_RING_MAX_BYTES', 64 * 1024 * 1024, 1024, 16 * 1024 * 1024 * 1024),
    tapIdleMs: integer(env, 'STREAMSHARE_TAP_IDLE_MS', 60000, 0, 3_600_000),
    replayPerShare: integer(env, 'STREAMSHARE_REPLAY_MAX_PER_SHARE', 4, 0, 10000),
    replayPerInstance: integer(env, 'STREAMSHARE_REPLAY_MAX_PER_INSTANCE', 64, 0, 100000),
    // Threads only where cores are to spare besides the main thread and the process's
    // own helpers (GC, I/O): on 2 cores a thread measured no faster and cost ~30% more
    // CPU per record (README, "Replay reads ahead"). At most 4.
    viewWorkers: integer(env, 'STREAMSHARE_VIEW_WORKERS', Math.max(0, Math.min(4, availableParallelism() - 2)), 0, 64),
    produceMaxBodyBytes: integer(env, 'STREAMSHARE_PRODUCE_MAX_BODY_BYTES', 1024 * 1024, 1024, 64 * 1024 * 1024),
    produceMaxRecordBytes: integer(env, 'STREAMSHARE_PRODUCE_MAX_RECORD_BYTES', 256 * 1024, 256, 16 * 1024 * 1024),
    wsMaxPayloadBytes: integer(env, 'STREAMSHARE_WS_MAX_PAYLOAD_BYTES', 64 * 1024, 1024, 16 * 1024 * 1024),
    wsPingMs: integer(env, 'STREAMSHARE_WS_PING_MS', 30000, 100, 600000),
    wsMaxSubscriptions: integer(env, 'STREAMSHARE_WS_MAX_SUBSCRIPTIONS', 100, 1, 10000),
    wsMaxInflightPublishes: integer(env, 'STREAMSHARE_WS_MAX_INFLIGHT_PUBLISHES', 64, 1, 10000),
    ticketTtlMs: integer(env, 'STREAMSHARE_TICKET_TTL_MS', 30000, 1000, 300000),
    ipAuthFailuresPerMinute: integer(env, 'STREAMSHARE_IP_AUTH_FAILURES_PER_MINUTE', 30, 1, 1_000_000),
    ipConnectionsPerMinute: integer(env, 'STREAMSHARE_IP_CONNECTIONS_PER_MINUTE', 300, 1, 1_000_000),
    ipTicketsPerMinute: integer(env, 'STREAMSHARE_IP_TICKETS_PER_MINUTE', 120, 1, 1_000_000),
    defaultRequestsPerMinute: integer(env, 'STREAMSHARE_DEFAULT_REQUESTS_PER_MINUTE', 600, 1, 10_000_000),
    httpHeadersTimeoutMs: integer(env, 'STREAMSHARE_HTTP_HEADERS_TIMEOUT_MS', 10000, 500, 120000),
    httpRequestTimeoutMs: integer(env, 'STREAMSHARE_HTTP_REQUEST_TIMEOUT_MS', 30000, 1000, 600000),
    httpMaxHeaderBytes: integer(env, 'STREAMSHARE_HTTP_MAX_HEADER_BYTES', 16384, 1024, 1024 * 1024),
    httpKeepAliveTimeoutMs: integer(env, 'STREAMSHARE_HTTP_KEEP_ALIVE_TIMEOUT_MS', 5000, 100, 600000),
    wsIdleTimeoutMs: integer(env, 'STREAMSHARE_WS_IDLE_TIMEOUT_MS', 300000, 1000, 86_400_000)
  }
  const signingKeysFile = text(env, 'STREAMSHARE_SIGNING_KEYS')
  if (signingKeysFile !== undefined) config.signingKeysFile = path.resolve(cwd, signingKeysFile)
  else if (production) throw new ConfigError('STREAMSHARE_SIGNING_KEYS', 'required when NODE_ENV=production (dev keys are never generated in production)')
  const gatewaySecret = secret(env, 'STREAMSHARE_GATEWAY_SECRET', 32)
  if (gatewaySecret !== undefined) config.gatewaySecret = gatewaySecret
  else if (production) throw new ConfigError('STREAMSHARE_GATEWAY_SECRET', 'required when NODE_ENV=production (at least 32 characters)')
  const adminToken = secret(env, 'STREAMSHARE_ADMIN_TOKEN', 32)
  if (adminToken !== undefined) config.adminToken = adminToken
  const tls = tlsConfig(env, cwd)
  if (tls !== undefined) config.tls = tls
  const redis = redisUrl(env, 'STREAMSHARE_REDIS_URL')
  if (redis !== undefined) config.redisUrl = redis
  const proxies = trustProxy(env, 'STREAMSHARE_TRUST_PROXY')
  if (proxies !== undefined) config.trustProxy = proxies
  return deepFreeze(config)
}

function deepFreeze<T> (value: T): Readonly<T> {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}
