#!/usr/bin/env node
/**
 * Summarises a V8 .cpuprofile (from a gateway run with BENCH_GATEWAY_CPU_PROF=<dir>):
 * self time per function and per package/module, and inclusive time of selected
 * functions. Diagnostics only; not run by the harness.
 *
 *   node bench/lib/profile.js <file.cpuprofile> [top=30] [inclusive-name-regex]
 */
import { readFileSync } from 'node:fs'

const [file, topArg, inclusiveArg] = process.argv.slice(2)
if (file === undefined) { console.error('usage: node bench/lib/profile.js <file.cpuprofile> [top] [inclusive-regex]'); process.exit(2) }
const top = Number(topArg ?? 30)
const profile = JSON.parse(readFileSync(file, 'utf8'))
const nodes = new Map(profile.nodes.map(n => [n.id, n]))
const parent = new Map()
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

// Self time per node from the sample list and time deltas (µs).
const self = new Map()
let total = 0
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i + 1] ?? 0
  self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt)
  total += dt
}

const where = (cf) => {
  const url = cf.url.replace(/^file:\/\//, '')
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (m !== null) return m[1]
  if (url.includes('/dist/')) return 'streamshare:' + url.slice(url.indexOf('/dist/') + 6)
  if (url.startsWith('node:')) return url
  return url === '' ? '(native/vm)' : url
}
const byFn = new Map()
const byModule = new Map()
for (const [id, us] of self) {
  const cf = nodes.get(id).callFrame
  const fn = `${cf.functionName || '(anonymous)'} ${where(cf)}${cf.lineNumber >= 0 ? `:${cf.lineNumber + 1}` : ''}`
  byFn.set(fn, (byFn.get(fn) ?? 0) + us)
  const mod = where(cf).replace(/^streamshare:([^/]+)\/.*/, 'streamshare:$1')
  byModule.set(mod, (byModule.get(mod) ?? 0) + us)
}
const pct = (us) => `${(us / 1000).toFixed(0).padStart(7)} ms ${(100 * us / total).toFixed(1).padStart(5)}%`
console.log(`total sampled: ${(total / 1000).toFixed(0)} ms`)
console.log('\nself time by module/package:')
for (const [k, v] of [...byModule].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(v)}  ${k}`)
console.log('\nself time by function:')
for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(v)}  ${k}`)

if (inclusiveArg !== undefined) {
  // Inclusive time: a sample counts once for every distinct matching function on its stack.
  const re = new RegExp(inclusiveArg)
  const incl = new Map()
  for (const [id, us] of self) {
    const seen = new Set()
    for (let n = id; n !== undefined; n = parent.get(n)) {
      const cf = nodes.get(n).callFrame
      const name = `${cf.functionName || '(anonymous)'} ${where(cf)}${cf.lineNumber >= 0 ? `:${cf.lineNumber + 1}` : ''}`
      if (re.test(name) && !seen.has(name)) { seen.add(name); incl.set(name, (incl.get(name) ?? 0) + us) }
    }
  }
  console.log(`\ninclusive time of functions matching /${inclusiveArg}/:`)
  for (const [k, v] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(v)}  ${k}`)
}

// BUSY=<ms>: stretches where the gateway's main thread was busy (no idle sample) for at least
// that long, and what ran in them; and gaps between samples of at least that long (the thread
// was not sampled: descheduled by the OS, or a stop-the-world pause).
const busyMs = Number(process.env.BUSY ?? 0)
if (busyMs > 0) {
  const idleIds = new Set(profile.nodes.filter(n => n.callFrame.functionName === '(idle)').map(n => n.id))
  const stretches = []
  const gaps = []
  let cur
  let t = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0
    t += dt
    if (dt >= busyMs * 1000) gaps.push({ at: t, ms: dt / 1000 })
    const id = profile.samples[i]
    if (idleIds.has(id)) { if (cur !== undefined && cur.us >= busyMs * 1000) stretches.push(cur); cur = undefined; continue }
    cur ??= { start: t, us: 0, fns: new Map() }
    const dtNext = profile.timeDeltas[i + 1] ?? 0
    cur.us += dtNext
    // Attribute to the innermost streamshare/kafkajs/node frame with a name, else the leaf.
    let n = id
    let label
    for (; n !== undefined; n = parent.get(n)) {
      const cf = nodes.get(n).callFrame
      const w = where(cf)
      if (w.startsWith('streamshare:') || w === 'kafkajs') { label = `${cf.functionName || '(anon)'} ${w}:${cf.lineNumber + 1}`; break }
    }
    label ??= (() => { const cf = nodes.get(id).callFrame; return `${cf.functionName || '(anon)'} ${where(cf)}` })()
    cur.fns.set(label, (cur.fns.get(label) ?? 0) + dtNext)
  }
  console.log(`\nbusy stretches ≥ ${busyMs} ms: ${stretches.length}, total ${(stretches.reduce((a, s) => a + s.us, 0) / 1000).toFixed(0)} ms; sampling gaps ≥ ${busyMs} ms: ${gaps.length}, total ${gaps.reduce((a, g) => a + g.ms, 0).toFixed(0)} ms`)
  const agg = new Map()
  for (const s of stretches) for (const [k, v] of s.fns) agg.set(k, (agg.get(k) ?? 0) + v)
  console.log('what ran in the busy stretches (by innermost streamshare/kafkajs frame):')
  for (const [k, v] of [...agg].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${(v / 1000).toFixed(0).padStart(7)} ms  ${k}`)
  console.log('longest stretches (ms):', stretches.map(s => Math.round(s.us / 1000)).sort((a, b) => b - a).slice(0, 20).join(' '))
}
