#!/usr/bin/env node
/**
 * Benchmark harness (`npm run bench`). Runs every bench/*.bench.js (or the names given
 * on the command line) one after another, each in its own child process so one
 * benchmark's heap, JIT state and sockets cannot colour the next. A benchmark module
 * exports `async run({ quick, brokers, log })` and returns
 *   { name, description, unit, better, baseline: { label, samples }, candidate: { label, samples }, notes, ... }
 * or an array of such results (one file measuring several things side by side, e.g. two
 * candidates against one baseline); such a module also exports `results`, the names it
 * produces. Optional fields the harness renders: `target: { ratio, text }` (met or
 * missed is judged in the `better` direction), `cpu` (see updateReadme) and `summary`
 * (markdown lines shown under the table). The harness adds medians,
 * ratio = median(candidate) / median(baseline) and machine info, writes
 * bench/results/<name>.json per result and regenerates the table in bench/README.md.
 *
 *   node bench/run.js                     all benchmarks
 *   node bench/run.js stream-delivery     one benchmark: a file name without .bench.js, or a
 *                                         result name a file lists in `results` (runs that file)
 *   BENCH_QUICK=1 node bench/run.js       smoke mode: few records and samples; results go to
 *                                         bench/results/<name>.quick.json and never into the README
 */
import { execFileSync, fork } from 'node:child_process'
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { machineBusyBetween, machineCpu, median } from './lib/util.js'

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url))
const RESULTS_DIR = path.join(BENCH_DIR, 'results')
const README = path.join(BENCH_DIR, 'README.md')
const START = '<!-- bench:results:start -->'
const END = '<!-- bench:results:end -->'
const quick = /^(1|true|yes)$/i.test(process.env.BENCH_QUICK ?? '')

const log = (line) => { process.stderr.write(`${line}\n`) }


// Child mode: `node bench/run.js --child <file>` runs one benchmark and sends its result over IPC.
if (process.argv[2] === '--child') {
  const mod = await import(pathToFileURL(process.argv[3]).href)
  const result = await mod.run({ quick, brokers: process.env.STREAMSHARE_KAFKA_BROKERS, log })
  process.send(result, () => process.exit(0))
} else {
  await main()
}

async function main () {
  const wanted = process.argv.slice(2).map(n => n.replace(/\.bench\.js$/, ''))
  const available = (await readdir(BENCH_DIR)).filter(f => f.endsWith('.bench.js')).map(f => f.replace(/\.bench\.js$/, '')).sort()
  // A result name of a multi-result file selects that file.
  const producedBy = new Map()
  if (wanted.some(n => !available.includes(n))) {
    for (const file of available) {
      const mod = await import(pathToFileURL(path.join(BENCH_DIR, `${file}.bench.js`)).href)
      for (const r of mod.results ?? []) producedBy.set(r, file)
    }
  }
  const unknown = wanted.filter(n => !available.includes(n) && !producedBy.has(n))
  if (unknown.length > 0) throw new Error(`no such benchmark: ${unknown.join(', ')} (have: ${[...available, ...producedBy.keys()].join(', ')})`)
  const names = wanted.length > 0 ? [...new Set(wanted.map(n => available.includes(n) ? n : producedBy.get(n)))] : available

  // Same rule as the tests: an explicit cluster is used as is, otherwise the local broker
  // is started (or one already on :9092 reused) and stopped only if we started it.
  let kafka
  if (process.env.STREAMSHARE_KAFKA_BROKERS === undefined || process.env.STREAMSHARE_KAFKA_BROKERS === '') {
    const { startLocalKafka, LOCAL_KAFKA_BROKERS } = await import('../dist/dev/local-kafka.js')
    kafka = await startLocalKafka(log)
    process.env.STREAMSHARE_KAFKA_BROKERS = LOCAL_KAFKA_BROKERS
    log(`bench: ${kafka.started ? 'started' : 'reusing'} the local Kafka broker at ${LOCAL_KAFKA_BROKERS}`)
  }

  await mkdir(RESULTS_DIR, { recursive: true })
  let failed = 0
  try {
    for (const name of names) {
      log(`bench: ${name}${quick ? ' (quick)' : ''} ...`)
      try {
        // Nothing of ours runs now but the (idle) broker: busy cores mean something else shares the machine.
        let busyBefore = await machineBusy()
        // A full run waits (BENCH_QUIET_WAIT_S, default 300 s) for other processes to finish.
        const quietWaitS = Number(process.env.BENCH_QUIET_WAIT_S ?? (quick ? 0 : 300))
        for (const until = Date.now() + quietWaitS * 1000; busyBefore > 0.2 && Date.now() < until; busyBefore = await machineBusy(5000)) {
          log(`bench: ${(busyBefore * 100).toFixed(0)}% of the CPU is busy with other processes; waiting for a quiet machine before ${name} ...`)
        }
        if (busyBefore > 0.2) log(`bench: warning: ${(busyBefore * 100).toFixed(0)}% of the CPU was busy before ${name} started (other processes): results will be noisy`)
        const started = Date.now()
        const raw = await runChild(path.join(BENCH_DIR, `${name}.bench.js`))
        const durationMs = Date.now() - started
        const load = { busyBefore: Math.round(busyBefore * 1000) / 1000, loadAverageAfter: os.loadavg() }
        for (const one of Array.isArray(raw) ? raw : [raw]) {
          const result = finish(one, durationMs, name, load)
          const file = path.join(RESULTS_DIR, `${result.name}${quick ? '.quick' : ''}.json`)
          await writeFile(file, JSON.stringify(result, null, 2) + '\n')
          log(`bench: ${result.name}: baseline ${fmt(result.baseline.median)} vs candidate ${fmt(result.candidate.median)} ${result.unit}; ` +
            `ratio ${result.ratio.toFixed(3)} (${result.better} is better${result.target === undefined ? '' : `; target ${targetText(result)}`}); ` +
            `${(result.machine.durationMs / 1000).toFixed(0)} s → ${path.relative(process.cwd(), file)}`)
        }
      } catch (err) {
        failed++
        log(`bench: ${name} FAILED: ${err.stack ?? err}`)
      }
    }
    if (!quick) await updateReadme()
  } finally {
    await kafka?.stop()
  }
  if (failed > 0) process.exitCode = 1
}

function runChild (file) {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--child', file], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    let result
    child.on('message', (m) => { result = m })
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      if (result !== undefined && code === 0) resolve(result)
      else reject(new Error(`benchmark process exited with ${signal ?? code} and no result`))
    })
  })
}

function finish (raw, durationMs, file, load) {
  const baseline = { ...raw.baseline, median: median(raw.baseline.samples) }
  const candidate = { ...raw.candidate, median: median(raw.candidate.samples) }
  const better = raw.better ?? 'higher'
  const ratio = candidate.median / baseline.median
  const cpus = os.cpus()
  return {
    name: raw.name,
    description: raw.description,
    unit: raw.unit,
    better,
    ratio,
    ratioDefinition: `median(candidate) / median(baseline) of ${raw.unit}; ${better} is better for the candidate`,
    // A ratio target is judged here; any other target (e.g. an absolute overhead) comes with its own `met`.
    ...(raw.target === undefined ? {} : { target: { ...raw.target, met: raw.target.ratio === undefined ? raw.target.met : better === 'lower' ? ratio <= raw.target.ratio : ratio >= raw.target.ratio } }),
    baseline,
    candidate,
    ...Object.fromEntries(Object.entries(raw).filter(([k]) => !['name', 'description', 'unit', 'better', 'target', 'baseline', 'candidate'].includes(k))),
    benchFile: `bench/${file}.bench.js`,
    machine: {
      date: new Date().toISOString(),
      node: process.version,
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      cpuModel: cpus[0]?.model ?? 'unknown',
      cores: cpus.length,
      memoryGb: Math.round(os.totalmem() / 2 ** 30),
      kafkaBrokers: process.env.STREAMSHARE_KAFKA_BROKERS,
      quick,
      durationMs,
      // busyBefore: share of all cores busy during 1 s right before the benchmark (only the idle broker of
      // ours running): well above ~0.05 means other processes shared the machine.
      load
    },
    source: gitState()
  }
}

/** Which code was measured: the commit, and whether src/ had uncommitted changes. */
function gitState () {
  try {
    const git = (...args) => execFileSync('git', args, { cwd: BENCH_DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    return { commit: git('rev-parse', 'HEAD'), srcDirty: git('status', '--porcelain', '--', '../src') !== '' }
  } catch {
    return { commit: 'unknown', srcDirty: null }
  }
}

/** Share of all cores busy over `ms` (Linux /proc/stat; NaN elsewhere). */
async function machineBusy (ms = 1000) {
  try {
    const a = machineCpu()
    await new Promise(resolve => setTimeout(resolve, ms))
    return machineBusyBetween(a, machineCpu())
  } catch { return NaN }
}

/** "≥ 0.8: met" / "≤ 0.1: missed", or for a target that is not a ratio "<its text>: met". */
function targetText (r) {
  if (r.target.ratio === undefined) return `${r.target.text}: ${r.target.met ? 'met' : 'missed'}`
  return `${r.better === 'lower' ? '≤' : '≥'} ${r.target.ratio}: ${r.target.met ? 'met' : 'missed'}`
}

function fmt (n) {
  if (!Number.isFinite(n)) return String(n)
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toPrecision(3)
}

/** Rebuilds the table between the markers from every full (non-quick) result file. */
async function updateReadme () {
  const files = (await readdir(RESULTS_DIR)).filter(f => f.endsWith('.json') && !f.endsWith('.quick.json')).sort()
  const rows = []
  const cpuLines = []
  const summaryLines = []
  for (const f of files) {
    const r = JSON.parse(await readFile(path.join(RESULTS_DIR, f), 'utf8'))
    // Secondary figure some benchmarks report: CPU per unit of work (lower is better).
    if (r.cpu !== undefined) {
      cpuLines.push(`- ${r.name}, ${r.cpu.unit}: baseline ${fmt(r.cpu.baseline)}, candidate ${fmt(r.cpu.candidate)}` +
        `${r.cpu.candidateGateway === undefined ? '' : ` (gateway ${fmt(r.cpu.candidateGateway)} + client ${fmt(r.cpu.candidateClient)})`}` +
        ` → **${r.cpu.ratio.toFixed(2)}×** (lower is better)`)
    }
    // Further lines a benchmark wants under the table (e.g. several subscriber counts, latency percentiles).
    for (const line of r.summary ?? []) summaryLines.push(`- ${r.name}: ${line}`)
    rows.push(`| ${r.name} | ${r.description} | ${r.baseline.label}: ${fmt(r.baseline.median)} ${r.unit} | ` +
      `${r.candidate.label}: ${fmt(r.candidate.median)} ${r.unit} | **${r.ratio.toFixed(r.ratio < 0.1 ? 3 : 2)}×** (${r.better} is better` +
      `${r.target === undefined ? '' : `; target ${targetText(r)}`}) | ${r.machine.date.slice(0, 10)} |`)
  }
  const table = [
    '| Benchmark | What | Baseline (median) | Candidate (median) | Ratio candidate/baseline | Date |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    ...(cpuLines.length === 0 ? [] : ['', ...cpuLines]),
    ...(summaryLines.length === 0 ? [] : ['', ...summaryLines])
  ].join('\n')
  const text = await readFile(README, 'utf8')
  const a = text.indexOf(START)
  const b = text.indexOf(END)
  if (a === -1 || b === -1 || b < a) throw new Error(`bench/README.md lacks the ${START} … ${END} markers`)
  await writeFile(README, `${text.slice(0, a + START.length)}\n${table}\n${text.slice(b)}`)
  log(`bench: updated ${path.relative(process.cwd(), README)} (${rows.length} row(s))`)
}
