/**
 * Prometheus metrics (prom-client), served at GET /metrics on the admin listener.
 * Names follow Prometheus conventions with the `streamshare_` prefix. Labels are
 * bounded: share ids, product names, transports, reasons and codes — never a
 * cursor, a client address, a token id or record data.
 *
 * Hot paths hold label children (looked up once per stream) and only increment.
 * The per-record ones do not even call prom-client: a prom-client child hashes its
 * label set on every inc/observe (about 1 µs each, three per delivery — a quarter of
 * the fan-out path), so deliveries, filtered and skipped records are tallied in plain
 * numbers shared by every stream of a label set and handed to prom-client when
 * Prometheus scrapes.
 * Gauges of the current state (open streams, lag, replay readers) are computed when
 * Prometheus scrapes, from the registries that already hold that state.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import type { StreamRegistry } from '../engine/stream-registry.js'
import type { TapManager } from '../engine/tap-manager.js'

/**
 * Per-record counts of one (share, product, transport), not yet scraped: delivered
 * messages and bytes, records a `where` filtered out or failed on, schema-skipped ones.
 */
export interface DeliveryTally { messages: number, bytes: number, filtered: number, filterErrors: number, skipped: number }

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const

/** One label set of a histogram, as plain bucket counts (non-cumulative; +Inf = count). */
export class HistogramSeries {
  readonly counts = new Float64Array(LATENCY_BUCKETS.length)
  sum = 0
  count = 0

  observe (value: number): void {
    this.sum += value
    this.count++
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (value <= (LATENCY_BUCKETS[i] as number)) { (this.counts[i] as number)++; return }
    }
  }
}

/**
 * A Prometheus histogram with one label, `transport`, registered with prom-client as a
 * custom metric (the registry only needs name, help, type and get()).
 */
class TransportHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  private readonly series = new Map<string, HistogramSeries>()

  constructor (readonly name: string, readonly help: string) {}

  of (transport: string): HistogramSeries {
    let series = this.series.get(transport)
    if (series === undefined) this.series.set(transport, series = new HistogramSeries())
    return series
  }

  reset (): void { this.series.clear() }

  get (): { name: string, help: string, type: string, aggregator: string, values: Array<{ labels: Record<string, string | number>, value: number, metricName: string }> } {
    const values: Array<{ labels: Record<string, string | number>, value: number, metricName: string }> = []
    for (const [transport, s] of this.series) {
      let cumulative = 0
      LATENCY_BUCKETS.forEach((le, i) => {
        cumulative += s.counts[i] as number
        values.push({ labels: { le, transport }, value: cumulative, metricName: `${this.name}_bucket` })
      })
      values.push({ labels: { le: '+Inf', transport }, value: s.count, metricName: `${this.name}_bucket` })
      values.push({ labels: { transport }, value: s.sum, metricName: `${this.name}_sum` })
      values.push({ labels: { transport }, value: s.count, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }
}

export class Metrics {
  readonly registry = new Registry()
  readonly deliveredMessages: Counter<'share' | 'product' | 'transport'>
  readonly deliveredBytes: Counter<'share' | 'product' | 'transport'>
  readonly filteredRecords: Counter<'share' | 'product' | 'outcome'>
  readonly skippedRecords: Counter<'share' | 'product'>
  readonly quarantinedRecords: Counter<'product' | 'reason'>
  readonly producedRecords: Counter<'share' | 'product'>
  readonly throttledSeconds: Counter<'share'>
  readonly refusedRequests: Counter<'share' | 'code'>
  readonly streamsClosed: Counter<'share' | 'transport' | 'reason'>
  /** Record → socket write latency per transport (see HistogramSeries). */
  private readonly deliveryLatency = new TransportHistogram('streamshare_delivery_latency_seconds', 'From the tap reading a record to writing it to a client socket')
  private readonly tallies = new Map<string, { labels: { share: string, product: string, transport: string }, tally: DeliveryTally }>()

  constructor () {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: 'streamshare_' })
    const flushTallies = (): void => { this.flushTallies() }
    this.deliveredMessages = new Counter({ name: 'streamshare_delivered_messages_total', help: 'Messages written to partner clients', labelNames: ['share', 'product', 'transport'], registers, collect: flushTallies })
    this.deliveredBytes = new Counter({ name: 'streamshare_delivered_bytes_total', help: 'Bytes written to partner clients', labelNames: ['share', 'product', 'transport'], registers, collect: flushTallies })
    this.filteredRecords = new Counter({ name: 'streamshare_filtered_records_total', help: 'Records a policy did not deliver (where false, or where failed)', labelNames: ['share', 'product', 'outcome'], registers, collect: flushTallies })
    this.skippedRecords = new Counter({ name: 'streamshare_skipped_records_total', help: 'Schema-invalid records announced as skipped to a share', labelNames: ['share', 'product'], registers, collect: flushTallies })
    this.quarantinedRecords = new Counter({ name: 'streamshare_quarantined_records_total', help: 'Records withheld by the schema check and copied to the quarantine topic', labelNames: ['product', 'reason'], registers })
    this.producedRecords = new Counter({ name: 'streamshare_produced_records_total', help: 'Records written by partners', labelNames: ['share', 'product'], registers })
    this.throttledSeconds = new Counter({ name: 'streamshare_quota_throttled_seconds_total', help: 'Time delivery waited for the share\'s messages/bytes per second quota', labelNames: ['share'], registers })
    this.refusedRequests = new Counter({ name: 'streamshare_refused_requests_total', help: 'Requests refused: authentication failures, revoked or expired access, quota and rate limits', labelNames: ['share', 'code'], registers })
    this.streamsClosed = new Counter({ name: 'streamshare_streams_closed_total', help: 'Streams ended, by reason (share_revoked, token_revoked, … are revocations)', labelNames: ['share', 'transport', 'reason'], registers })
    this.registry.registerMetric(this.deliveryLatency as unknown as Parameters<Registry['registerMetric']>[0])
  }

  /** The tally of one (share, product, transport): shared by its streams, plain increments. */
  deliveryTally (labels: { share: string, product: string, transport: string }): DeliveryTally {
    const key = `${labels.share}\u0000${labels.product}\u0000${labels.transport}`
    let entry = this.tallies.get(key)
    if (entry === undefined) this.tallies.set(key, entry = { labels: { ...labels }, tally: { messages: 0, bytes: 0, filtered: 0, filterErrors: 0, skipped: 0 } })
    return entry.tally
  }

  /** The latency series of a transport. */
  latency (transport: string): HistogramSeries { return this.deliveryLatency.of(transport) }

  private flushTallies (): void {
    for (const { labels, tally } of this.tallies.values()) {
      if (tally.messages > 0) { this.deliveredMessages.inc(labels, tally.messages); tally.messages = 0 }
      if (tally.bytes > 0) { this.deliveredBytes.inc(labels, tally.bytes); tally.bytes = 0 }
      const { share, product } = labels
      if (tally.filtered > 0) { this.filteredRecords.inc({ share, product, outcome: 'filtered' }, tally.filtered); tally.filtered = 0 }
      if (tally.filterErrors > 0) { this.filteredRecords.inc({ share, product, outcome: 'error' }, tally.filterErrors); tally.filterErrors = 0 }
      if (tally.skipped > 0) { this.skippedRecords.inc({ share, product }, tally.skipped); tally.skipped = 0 }
    }
  }

  /** State gauges, computed at scrape time from what the gateway already tracks. */
  watch (streams: StreamRegistry, taps: TapManager): void {
    const registers = [this.registry]
    // eslint-disable-next-line no-new
    new Gauge({
      name: 'streamshare_open_streams',
      help: 'Open streams by share and transport (WebSocket: connections and their subscriptions)',
      labelNames: ['share', 'transport'],
      registers,
      collect () {
        this.reset()
        const counts = new Map<string, number>()
        for (const s of streams.all()) {
          const key = `${s.shareId}\u0000${s.transport}`
          counts.set(key, (counts.get(key) ?? 0) + 1)
        }
        for (const [key, n] of counts) {
          const [share = '', transport = ''] = key.split('\u0000')
          this.set({ share, transport }, n)
        }
      }
    })
    // eslint-disable-next-line no-new
    new Gauge({
      name: 'streamshare_lag_records',
      help: 'Records between a share\'s slowest open stream of a product and the end of the topic',
      labelNames: ['share', 'product'],
      registers,
      collect () {
        this.reset()
        for (const share of streams.shareIds()) {
          for (const [product, lag] of Object.entries(streams.lagByProduct(share))) this.set({ share, product }, lag)
        }
      }
    })
    // eslint-disable-next-line no-new
    new Gauge({ name: 'streamshare_replay_readers', help: 'Private readers replaying history from Kafka', registers, collect () { this.set(taps.replayReaders) } })
    // eslint-disable-next-line no-new
    new Gauge({ name: 'streamshare_taps', help: 'Product topics this instance reads (one reader each)', registers, collect () { this.set(taps.tapCount) } })
  }
}
