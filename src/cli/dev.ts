/**
 * `streamshare dev` (= `npm run dev`): local Kafka, demo topics and data, the
 * gateway, a demo token and copy-paste curl commands. Ctrl-C stops all it started.
 */
import { startGateway } from '../gateway.js'
import { loadCatalog } from '../catalog/load.js'
import { KafkaCluster } from '../kafka/cluster.js'
import { createLogger } from '../observability/logger.js'
import { demoTopicSpecs, startDemoProducer, DEMO_PRODUCTS } from '../dev/demo-producer.js'
import { LOCAL_KAFKA_BROKERS, startLocalKafka, type LocalKafka } from '../dev/local-kafka.js'
import { configOrExit } from './serve.js'

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
  const config = configOrExit(env)
  const logger = createLogger(config.logLevel)

  const catalog = await loadCatalog(config.policiesDir)
  const demoKafka = new KafkaCluster(config.kafka, logger.child({ component: 'demo' }), 'demo')
  out('▸ creating demo topics…')
  await demoKafka.ensureTopics(demoTopicSpecs(catalog))

  out('▸ starting the gateway…')
  const gateway = await startGateway(config, { logger })
  const producer = startDemoProducer(demoKafka, catalog, logger, { ratePerSecond: 4 })
  const products = DEMO_PRODUCTS.filter(p => catalog.products.has(p))
  const token = await gateway.ctx.tokens.mint({
    partnerId: 'demo-partner',
    shareId: 'demo-share',
    scopes: products.map(p => `read:${p}`),
    ttlSeconds: 24 * 3600
  })
  const base = gateway.partnerUrl.replace('127.0.0.1', 'localhost')

  out()
  out(`streamshare is running: partner API ${base}, admin ${gateway.adminUrl}`)
  out(`demo data: ${products.join(', ')} (a few records per second)`)
  out()
  out('A demo token for share "demo-share" (valid 24 h):')
  out()
  out(`  export TOKEN='${token.accessToken}'`)
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
