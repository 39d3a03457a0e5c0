/**
 * Readiness (CONTRACT §5 /readyz): Kafka reachable, registry loaded and current,
 * policies loaded, not shutting down. Kafka is probed in the background on a
 * timer, so probes from a load balancer never turn into load on the brokers.
 */
import type { KafkaCluster } from '../kafka/cluster.js'
import type { Logger } from './logger.js'

export interface CheckResult { ok: boolean, detail?: string }

export interface ReadinessReport {
  ready: boolean
  checks: Record<string, CheckResult>
}

export class Readiness {
  private kafkaOk = false
  private kafkaDetail = 'not probed yet'
  private shuttingDown = false
  private timer: NodeJS.Timeout | undefined
  private readonly checks = new Map<string, () => CheckResult>()

  constructor (private readonly kafka: KafkaCluster, private readonly logger: Logger, private readonly intervalMs = 5000) {}

  /** Adds a named condition, evaluated on every report (it must be cheap). */
  addCheck (name: string, check: () => CheckResult): void { this.checks.set(name, check) }

  /** Readiness fails first on shutdown, so load balancers stop sending before streams end. */
  markShuttingDown (): void { this.shuttingDown = true }

  get shutting (): boolean { return this.shuttingDown }

  get acceptingStreams (): boolean { return this.report().ready }

  async probeKafka (): Promise<boolean> {
    try {
      await this.kafka.ping(Math.min(3000, this.intervalMs))
      if (!this.kafkaOk) this.logger.info('Kafka is reachable')
      this.kafkaOk = true
      this.kafkaDetail = 'reachable'
    } catch (err) {
      if (this.kafkaOk) this.logger.warn({ err }, 'Kafka is not reachable')
      this.kafkaOk = false
      // No broker address in the detail: it is served to anyone who asks /readyz.
      this.kafkaDetail = 'not reachable'
    }
    return this.kafkaOk
  }

  start (): void {
    this.timer = setInterval(() => { void this.probeKafka() }, this.intervalMs)
    this.timer.unref()
  }

  stop (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
  }

  report (): ReadinessReport {
    const checks: ReadinessReport['checks'] = { kafka: { ok: this.kafkaOk, detail: this.kafkaDetail } }
    for (const [name, check] of this.checks) checks[name] = check()
    checks.lifecycle = { ok: !this.shuttingDown, detail: this.shuttingDown ? 'shutting down' : 'running' }
    return { ready: Object.values(checks).every(c => c.ok), checks }
  }
}
