/**
 * Diagnostics preload for the bench gateway (node --import): records GC pauses and
 * event-loop delay inside the gateway process and writes them to
 * $BENCH_GATEWAY_PROBE_OUT when it exits. Enabled by BENCH_GATEWAY_PROBE=<file> in the
 * bench process (see lib/gateway.js). Changes nothing in the gateway's code.
 */
import { writeFileSync } from 'node:fs'
import { monitorEventLoopDelay, PerformanceObserver, constants } from 'node:perf_hooks'

const out = process.env.BENCH_GATEWAY_PROBE_OUT
const loop = monitorEventLoopDelay({ resolution: 5 })
loop.enable()
const gcs = []
const kinds = { [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major', [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor', [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb' }
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push({ at: Math.round(performance.timeOrigin + e.startTime), ms: Math.round(e.duration * 100) / 100, kind: kinds[e.detail?.kind] ?? String(e.detail?.kind) })
}).observe({ entryTypes: ['gc'] })
// Event-loop stalls over 20 ms, with wall-clock time, to line up with client-side latencies.
const stalls = []
let last = performance.now()
setInterval(() => {
  const now = performance.now()
  if (now - last > 30) stalls.push({ at: Math.round(performance.timeOrigin + now), ms: Math.round(now - last - 10) })
  last = now
}, 10).unref()
process.on('exit', () => {
  const ms = (ns) => Math.round(ns / 1e4) / 100
  writeFileSync(out, JSON.stringify({
    loopDelay: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max), count: loop.count },
    gcs,
    stalls
  }))
})
