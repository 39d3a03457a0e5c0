/** `streamshare demo produce`: demo records to the demo products' topics until stopped. */
import { parseArgs } from 'node:util'
import { loadCatalog } from '../catalog/load.js'
import { KafkaCluster } from '../kafka/cluster.js'
import { createLogger } from '../observability/logger.js'
import { demoTopicSpecs, startDemoProducer } from '../dev/demo-producer.js'
import { configOrExit } from './serve.js'

export async function demoCommand (args: string[]): Promise<number | undefined> {
  const [sub, ...rest] = args
  if (sub !== 'produce') {
    process.stderr.write('usage: streamshare demo produce [--rate N]\n')
    return 2
  }
  const { values } = parseArgs({ args: rest, options: { rate: { type: 'string', default: '4' } } })
  const rate = Number(values.rate)
  if (!Number.isFinite(rate) || rate <= 0 || rate > 10000) {
    process.stderr.write('--rate must be a number of records per second (0-10000)\n')
    return 2
  }
  const config = configOrExit()
  const logger = createLogger(config.logLevel)
  const catalog = await loadCatalog(config.policiesDir)
  const kafka = new KafkaCluster(config.kafka, logger, 'demo')
  await kafka.ensureTopics(demoTopicSpecs(catalog))
  const producer = startDemoProducer(kafka, catalog, logger, { ratePerSecond: rate })
  logger.info({ rate }, 'producing demo records')
  const stop = async (): Promise<void> => {
    await producer.stop()
    await kafka.close()
    logger.info({ produced: producer.produced }, 'demo producer stopped')
    process.exit(0)
  }
  process.once('SIGINT', () => { void stop() })
  process.once('SIGTERM', () => { void stop() })
  return undefined
}
