/**
 * Prometheus metrics (prom-client), served at GET /metrics on the admin listener.
 * Names follow Prometheus conventions with the `streamshare_` prefix. Labels are
 * bounded: share ids, product names, transports, reasons and codes — never a
 * cursor, a client address, a token id or record data.
 *
 * Hot paths hold label children (looked up once per stream) and only increment.
 * Gauges of the current state (open streams, lag, replay readers) are computed when
 * Prometheus scrapes, from the registries that already hold that state.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { StreamRegistry } from '../engine/stream-registry.js'
import type { TapManager } from '../engine/tap-manager.js'

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
  readonly deliveryLatency: Histogram<'transport'>

  constructor () {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: 'streamshare_' })
    this.deliveredMessages = new Counter({ name: 'streamshare_delivered_messages_total', help: 'Messages written to partner clients', labelNames: ['share', 'product', 'transport'], registers })
    this.deliveredBytes = new Counter({ name: 'streamshare_delivered_bytes_total', help: 'Bytes written to partner clients', labelNames: ['share', 'product', 'transport'], registers })
    this.filteredRecords = new Counter({ name: 'streamshare_filtered_records_total', help: 'Records a policy did not deliver (where false, or where failed)', labelNames: ['share', 'product', 'outcome'], registers })
    this.skippedRecords = new Counter({ name: 'streamshare_skipped_records_total', help: 'Schema-invalid records announced as skipped to a share', labelNames: ['share', 'product'], registers })
    this.quarantinedRecords = new Counter({ name: 'streamshare_quarantined_records_total', help: 'Records withheld by the schema check and copied to the quarantine topic', labelNames: ['product', 'reason'], registers })
    this.producedRecords = new Counter({ name: 'streamshare_produced_records_total', help: 'Records written by partners', labelNames: ['share', 'product'], registers })
    this.throttledSeconds = new Counter({ name: 'streamshare_quota_throttled_seconds_total', help: 'Time delivery waited for the share\'s messages/bytes per second quota', labelNames: ['share'], registers })
    this.refusedRequests = new Counter({ name: 'streamshare_refused_requests_total', help: 'Requests refused: authentication failures, revoked or expired access, quota and rate limits', labelNames: ['share', 'code'], registers })
    this.streamsClosed = new Counter({ name: 'streamshare_streams_closed_total', help: 'Streams ended, by reason (share_revoked, token_revoked, … are revocations)', labelNames: ['share', 'transport', 'reason'], registers })
    this.deliveryLatency = new Histogram({
      name: 'streamshare_delivery_latency_seconds',
      help: 'From the tap reading a record to writing it to a client socket',
      labelNames: ['transport'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers
    })
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
        const lags = new Map<string, number>()
        for (const s of streams.all()) {
          const lag = s.lag()
          if (lag === undefined || s.product === undefined) continue
          const key = `${s.shareId}\u0000${s.product}`
          lags.set(key, Math.max(lags.get(key) ?? 0, lag))
        }
        for (const [key, lag] of lags) {
          const [share = '', product = ''] = key.split('\u0000')
          this.set({ share, product }, lag)
        }
      }
    })
    // eslint-disable-next-line no-new
    new Gauge({ name: 'streamshare_replay_readers', help: 'Private readers replaying history from Kafka', registers, collect () { this.set(taps.replayReaders) } })
    // eslint-disable-next-line no-new
    new Gauge({ name: 'streamshare_taps', help: 'Product topics this instance reads (one reader each)', registers, collect () { this.set(taps.tapCount) } })
  }
}
