/**
 * Produces demo records continuously (a few per second) to the shipped demo
 * products' topics. Used by `streamshare dev` and `streamshare demo produce`.
 */
import type { Catalog } from '../catalog/types.js'
import type { KafkaCluster } from '../kafka/cluster.js'
import type { TopicSpec } from '../kafka/types.js'
import type { Logger } from '../observability/logger.js'
import { DemoDataGenerator, type DemoRecord } from './demo-data.js'

export const DEMO_PRODUCTS = ['orders', 'shipments', 'inventory-levels'] as const
/** Products partners write to (no generated data): their topics are created for the demo too. */
export const DEMO_WRITABLE_PRODUCTS = ['returns'] as const

/** Topic layout of the demo products; inventory levels are compacted (latest per sku+warehouse). */
export function demoTopicSpecs (catalog: Catalog): TopicSpec[] {
  const specs: TopicSpec[] = []
  for (const name of [...DEMO_PRODUCTS, ...DEMO_WRITABLE_PRODUCTS]) {
    const product = catalog.products.get(name)
    if (product === undefined) continue
    specs.push(name === 'inventory-levels'
      ? { topic: product.topic, partitions: 2, config: { 'cleanup.policy': 'compact', 'min.cleanable.dirty.ratio': '0.1', 'segment.ms': '600000' } }
      : { topic: product.topic, partitions: 3 })
  }
  return specs
}

export interface DemoProducer { stop: () => Promise<void>, readonly produced: number }

export function startDemoProducer (kafka: KafkaCluster, catalog: Catalog, logger: Logger, options: { ratePerSecond?: number, seed?: number } = {}): DemoProducer {
  const generator = new DemoDataGenerator(options.seed ?? Date.now() % 100000)
  const rate = options.ratePerSecond ?? 4
  const topicOf = (name: string): string | undefined => catalog.products.get(name)?.topic
  let produced = 0
  let running = true
  let inFlight: Promise<void> = Promise.resolve()
  let failures = 0

  const send = async (name: string, record: DemoRecord | undefined): Promise<void> => {
    const topic = topicOf(name)
    if (topic === undefined || record === undefined) return
    await kafka.produce(topic, [{ key: record.key, value: JSON.stringify(record.value), headers: record.headers }])
    produced++
  }

  const tick = async (): Promise<void> => {
    // Roughly: one order, most of the time a shipment step, now and then a stock change.
    const roll = Math.random()
    try {
      if (roll < 0.4) await send('orders', generator.order())
      else if (roll < 0.8) {
        const step = generator.shipment()
        if (step === undefined) await send('orders', generator.order())
        else await send('shipments', step)
      }
      else await send('inventory-levels', generator.inventory())
      failures = 0
    } catch (err) {
      if (failures++ === 0) logger.warn({ err }, 'demo producer cannot produce (will keep trying)')
    }
  }

  const timer = setInterval(() => {
    if (!running) return
    inFlight = inFlight.then(tick)
  }, Math.max(10, Math.round(1000 / rate)))

  return {
    get produced () { return produced },
    async stop () {
      running = false
      clearInterval(timer)
      await inFlight
    }
  }
}
