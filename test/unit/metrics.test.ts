/**
 * The per-delivery metrics are tallied outside prom-client (see metrics.ts): what
 * Prometheus scrapes must still be an ordinary counter and a well-formed histogram.
 */
import t from 'tap'
import { Metrics } from '../../src/observability/metrics.js'

function sample (text: string, line: string): number | undefined {
  const found = text.split('\n').find(l => l.startsWith(line + ' '))
  return found === undefined ? undefined : Number(found.slice(line.length + 1))
}

t.test('delivery tallies reach the counters on every scrape, cumulatively', async t => {
  const metrics = new Metrics()
  const labels = { share: 's1', product: 'orders', transport: 'sse' }
  const tally = metrics.deliveryTally(labels)
  t.equal(metrics.deliveryTally({ ...labels }), tally, 'streams of one label set share a tally')
  tally.messages += 3
  tally.bytes += 300
  let text = await metrics.registry.metrics()
  t.equal(sample(text, 'streamshare_delivered_messages_total{share="s1",product="orders",transport="sse"}'), 3)
  t.equal(sample(text, 'streamshare_delivered_bytes_total{share="s1",product="orders",transport="sse"}'), 300)
  text = await metrics.registry.metrics()
  t.equal(sample(text, 'streamshare_delivered_messages_total{share="s1",product="orders",transport="sse"}'), 3, 'a second scrape does not count twice')
  tally.messages += 2
  text = await metrics.registry.metrics()
  t.equal(sample(text, 'streamshare_delivered_messages_total{share="s1",product="orders",transport="sse"}'), 5)
  // Filtered and skipped records: tallied per transport, counted per share and product.
  tally.filtered += 4
  tally.filterErrors += 1
  metrics.deliveryTally({ ...labels, transport: 'ws' }).filtered += 2
  tally.skipped += 3
  text = await metrics.registry.metrics()
  t.equal(sample(text, 'streamshare_filtered_records_total{share="s1",product="orders",outcome="filtered"}'), 6)
  t.equal(sample(text, 'streamshare_filtered_records_total{share="s1",product="orders",outcome="error"}'), 1)
  t.equal(sample(text, 'streamshare_skipped_records_total{share="s1",product="orders"}'), 3)
})

t.test('the latency histogram has cumulative buckets, +Inf = count, and a sum', async t => {
  const metrics = new Metrics()
  const sse = metrics.latency('sse')
  t.equal(metrics.latency('sse'), sse)
  sse.observe(0.0003)
  sse.observe(0.003)
  sse.observe(0.003)
  sse.observe(10)
  metrics.latency('ws').observe(0.2)
  const text = await metrics.registry.metrics()
  t.match(text, /# TYPE streamshare_delivery_latency_seconds histogram/)
  const bucket = (le: string, transport = 'sse'): number | undefined => sample(text, `streamshare_delivery_latency_seconds_bucket{le="${le}",transport="${transport}"}`)
  t.equal(bucket('0.0005'), 1)
  t.equal(bucket('0.0025'), 1)
  t.equal(bucket('0.005'), 3)
  t.equal(bucket('5'), 3, '10 s is above the last bound')
  t.equal(bucket('+Inf'), 4)
  t.equal(sample(text, 'streamshare_delivery_latency_seconds_count{transport="sse"}'), 4)
  t.ok(Math.abs((sample(text, 'streamshare_delivery_latency_seconds_sum{transport="sse"}') ?? 0) - 10.0063) < 1e-9)
  t.equal(bucket('0.25', 'ws'), 1)
  t.equal(bucket('0.1', 'ws'), 0)
})
