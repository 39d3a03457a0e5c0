/**
 * `streamshare dev` (= `npm run dev`): local Kafka, demo topics and data, the
 * gateway, a demo token and copy-paste curl commands. Ctrl-C stops all it started.
 */
import path from 'node:path'
import { startGateway } from '../gateway.js'
import { loadCatalog } from '../catalog/load.js'
import { KafkaCluster } from '../kafka/cluster.js'
import { createLogger } from '../observability/logger.js'
import { demoTopicSpecs, startDemoProducer, DEMO_PRODUCTS } from '../dev/demo-producer.js'
import { LOCAL_KAFKA_BROKERS, startLocalKafka, type LocalKafka } from '../dev/local-kafka.js'
import { configOrExit } from './serve.js'
import { loadOrCreateDevSecret } from '../auth/gateway-secret.js'
import type { ShareService } from '../registry/share-service.js'
import type { ShareRegistry } from '../registry/share-registry.js'
import type { ShareGrant } from '../registry/types.js'

const out = (line = ''): void => { process.stdout.write(line + '\n') }

export async function dev (): Promise<void> {
  const env = { ...process.env }
  env.STREAMSHARE_LOG_LEVEL ??= 'warn'
  let localKafka: LocalKafka | undefined
  if (env.STREAMSHARE_KAFKA_BROKERS === undefined || env.STREAMSHARE_KAFKA_BROKERS === '') {
    out('▸ starting the local Kafka broker (first run downloads it with Maven)…')
    localKafka = await startLocalKafka(line => { process.stderr.write(`  ${line}\n`) })
    env.STREAMSHARE_KAFKA_BROKERS = LOCAL_KAFKA_BROKERS
  }
  // A development admin token, generated once (like the dev keys), so the CLI works.
  env.STREAMSHARE_ADMIN_TOKEN ??= await loadOrCreateDevSecret(path.resolve(env.STREAMSHARE_DEV_STATE_DIR ?? '.streamshare'), 'admin-token')
  const config = configOrExit(env)
  const logger = createLogger(config.logLevel)

  const catalog = await loadCatalog(config.policiesDir)
  const demoKafka = new KafkaCluster(config.kafka, logger.child({ component: 'demo' }), 'demo')
  out('▸ creating demo topics…')
  await demoKafka.ensureTopics(demoTopicSpecs(catalog))

  out('▸ starting the gateway…')
  const gateway = await startGateway(config, { logger, waitForRegistry: true })
  const producer = startDemoProducer(demoKafka, catalog, logger, { ratePerSecond: 4 })
  const products = DEMO_PRODUCTS.filter(p => catalog.products.has(p))
  const { shareId, token } = await demoShare(gateway.ctx.registry, gateway.ctx.shares)
  const base = gateway.partnerUrl.replace('127.0.0.1', 'localhost')

  out()
  out(`streamshare is running: partner API ${base}, admin ${gateway.adminUrl}`)
  out(`demo data: ${products.join(', ')} (a few records per second)`)
  out()
  out(`A token for the demo share ${shareId} of partner "${DEMO_PARTNER}" (valid 24 h):`)
  out()
  out(`  export TOKEN='${token}'`)
  out()
  out('Live orders as NDJSON:')
  out(`  curl -N -H "Authorization: Bearer $TOKEN" '${base}/v1/streams/orders?from=earliest'`)
  out()
  out('Live shipments as Server-Sent Events:')
  out(`  curl -N -H "Authorization: Bearer $TOKEN" -H 'Accept: text/event-stream' '${base}/v1/streams/shipments'`)
  out()
  out('Inventory levels, resuming from a cursor (copy "cursor" from any record):')
  out(`  curl -N -H "Authorization: Bearer $TOKEN" '${base}/v1/streams/inventory-levels?from=<cursor>'`)
  out()
  out('Write a return request (the share may write "returns"), then read it back:')
  out(`  curl -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' '${base}/v1/streams/returns/records' \\`)
  out(`    -d '{"key":"r-1","value":{"return_id":"r-1","order_id":"o-104161","reason":"damaged","items":[{"sku":"SKU-1003","quantity":1}],"requested_at":"${new Date().toISOString()}"}}'`)
  out(`  curl -H "Authorization: Bearer $TOKEN" '${base}/v1/streams/returns/records?from=earliest&wait_ms=1000'`)
  out()
  out('The admin API and CLI (the admin token is kept in .streamshare/admin-token):')
  out()
  out(`  export STREAMSHARE_ADMIN_TOKEN='${config.adminToken ?? ''}'`)
  out(`  node dist/cli/main.js share show ${shareId} --admin-url ${gateway.adminUrl}`)
  out(`  node dist/cli/main.js share revoke ${shareId} --reason 'demo over'   # ends the streams above at once`)
  out()
  out(localKafka?.started === true
    ? 'Ctrl-C stops the gateway, the demo producer and the local Kafka broker.'
    : 'Ctrl-C stops the gateway and the demo producer.')

  let stopping = false
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return
    stopping = true
    out(`\n▸ ${signal}: stopping…`)
    await producer.stop()
    await gateway.close()
    await demoKafka.close()
    if (localKafka?.started === true) {
      out('▸ stopping the local Kafka broker…')
      await localKafka.stop()
    }
    out('▸ stopped')
    process.exit(0)
  }
  process.once('SIGINT', () => { void stop('SIGINT') })
  process.once('SIGTERM', () => { void stop('SIGTERM') })
}

const DEMO_PARTNER = 'demo-partner'
const DEMO_DESCRIPTION = 'streamshare dev demo share'
const DEV_ACTOR = { name: 'dev' }

/**
 * The demo partner and share, through the registry like any admin would create
 * them; reused across runs (a new token each time).
 */
async function demoShare (registry: ShareRegistry, shares: ShareService): Promise<{ shareId: string, token: string }> {
  if (registry.partner(DEMO_PARTNER) === undefined) {
    await shares.createPartner({
      id: DEMO_PARTNER,
      name: 'Demo Fulfilment B.V.',
      contact: 'integration@demo-partner.example',
      attributes: { region: 'eu-west', supplier_id: 'sup-01' },
      allowed_origins: ['http://localhost:5173']
    }, DEV_ACTOR)
  }
  const products: ShareGrant[] = [
    { product: 'orders', policy: 'partner-basic', access: ['read'] },
    { product: 'shipments', policy: 'carrier-tracking', access: ['read'] },
    { product: 'inventory-levels', policy: 'marketplace-availability', access: ['read'] },
    { product: 'returns', policy: 'own-returns', access: ['read', 'write'] }
  ]
  const existing = registry.allShares().find(s => s.partner === DEMO_PARTNER && s.description === DEMO_DESCRIPTION && s.status === 'active' &&
    (s.expires_at === null || Date.parse(s.expires_at) > Date.now() + 86400e3))
  if (existing !== undefined) {
    // A share from an earlier run: bring its grants up to date, then a fresh token.
    if (JSON.stringify(existing.products) !== JSON.stringify(products)) await shares.updateShare(existing.id, { products }, DEV_ACTOR)
    const token = await shares.mintToken(existing.id, DEV_ACTOR, 24 * 3600)
    return { shareId: existing.id, token: token.access_token }
  }
  const { share, token } = await shares.createShare({
    partner: DEMO_PARTNER,
    description: DEMO_DESCRIPTION,
    history: 'P7D',
    products,
    quota: { max_connections: 10, messages_per_second: 1000 }
  }, DEV_ACTOR, 24 * 3600)
  return { shareId: share.id, token: token.access_token }
}
