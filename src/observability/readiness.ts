/**
 * Readiness (CONTRACT §5 /readyz): Kafka reachable, registry loaded and current,
 * policies loaded, not shutting down. Kafka is probed in the background on a
 * timer, so probes from a load balancer never turn into load on the brokers.
 */
import type { KafkaCluster } from '../kafka/cluster.js'
import type { Logger } from './logger.js'

export interface CheckResult { ok: boolean, detail?: string }

/**
 * Failed Kafka probes in a row before Kafka counts as unreachable. One slow answer
 * on a CPU-saturated instance (the probe has a 3 s timeout) must not refuse every
 * new stream with 503; two in a row (5–10 s) is an outage.
 */
export const KAFKA_FAILURES_TO_UNREADY = 2

export interface ReadinessReport {
  ready: boolean
  checks: Record<string, CheckResult>
}

export class Readiness {
  private kafkaOk = false
  private kafkaDetail = 'not probed yet'
  private kafkaFailures = 0
  private probing: Promise<boolean> | undefined
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

  /** Probes Kafka once (a probe already running is shared, never stacked). */
  async probeKafka (): Promise<boolean> {
    this.probing ??= this.probe().finally(() => { this.probing = undefined })
    return await this.probing
  }

  private async probe (): Promise<boolean> {
    try {
      await this.kafka.ping(Math.min(3000, this.intervalMs))
      if (!this.kafkaOk) this.logger.info('Kafka is reachable')
      this.kafkaOk = true
      this.kafkaFailures = 0
      this.kafkaDetail = 'reachable'
    } catch (err) {
      this.kafkaFailures++
      // Before the first success there is nothing to keep: not ready until Kafka answers.
      if (this.kafkaOk && this.kafkaFailures < KAFKA_FAILURES_TO_UNREADY) {
        this.logger.warn({ err }, 'Kafka probe failed; one more failure in a row makes the instance unready')
      } else {
        if (this.kafkaOk) this.logger.warn({ err }, 'Kafka is not reachable')
        this.kafkaOk = false
        // No broker address in the detail: it is served to anyone who asks /readyz.
        this.kafkaDetail = 'not reachable'
      }
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
