/**
 * Demo records shaped to pass the shipped `orders/partner-basic` policy for a test
 * partner (attribute region=eu-west): region eu-west, status confirmed.
 */
import { DemoDataGenerator, type DemoRecord } from '../../src/dev/demo-data.js'

export class PartnerOrders {
  private readonly demo: DemoDataGenerator
  constructor (seed = 1) { this.demo = new DemoDataGenerator(seed) }

  next (): DemoRecord & { value: Record<string, any> } {
    const order = this.demo.order()
    return { ...order, value: { ...order.value, region: 'eu-west', status: 'confirmed' } }
  }

  /** As a record for KafkaCluster.produce. */
  record (partition?: number): { key: string, value: string, partition?: number, order: Record<string, any> } {
    const order = this.next()
    return { key: order.key, value: JSON.stringify(order.value), order: order.value, ...(partition === undefined ? {} : { partition }) }
  }
}
