/**
 * policy-view: the cost of a full compiled policy per record.
 *
 * Baseline: JSON.parse + JSON.stringify of a demo order (the least any gateway does
 * with a record: decode it and encode it again).
 * Candidate: JSON.parse + the `orders/partner-basic` view (a CEL `where` over the
 * record and the partner's attributes, an HMAC `hash`, `mask`, `truncate`,
 * `generalize`, `[*]` paths, a header allow-list) + JSON.stringify of its output.
 * Both run in this process over the same 2,000 distinct records (distinct customer
 * ids, so the per-share hash cache mostly misses, as in production), interleaved
 * pass by pass within each sample.
 * Target (Policies issue): candidate cost ≤ 1.5× baseline, i.e. ratio ≥ 0.67.
 */
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadCatalog } from '../dist/catalog/load.js'
import { GatewaySecret } from '../dist/auth/gateway-secret.js'
import { bindPolicy } from '../dist/policy/index.js'
import { DemoDataGenerator } from '../dist/dev/demo-data.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

export async function run ({ quick, log }) {
  const catalog = await loadCatalog(path.join(ROOT, 'policies'))
  const policy = catalog.products.get('orders').policies.get('partner-basic')
  const view = bindPolicy(policy.compiled, { shareId: 'sh_bench', secret: new GatewaySecret('bench-secret-bench-secret-bench-secret'), partnerAttributes: { region: 'eu-west' }, partnerId: 'p_bench' })
  const demo = new DemoDataGenerator(99)
  // All in the partner's region and not test orders, so every record is fully processed.
  const texts = Array.from({ length: 2000 }, () => JSON.stringify({ ...demo.order().value, region: 'eu-west', status: 'confirmed' }))
  const headers = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }
  const rounds = quick ? 4 : 20
  const samples = quick ? 2 : 9
  let sink = 0

  // One pass over every record; returns nanoseconds.
  const baselinePass = () => {
    const start = process.hrtime.bigint()
    for (const text of texts) sink += JSON.stringify(JSON.parse(text)).length
    return Number(process.hrtime.bigint() - start)
  }
  const candidatePass = () => {
    const start = process.hrtime.bigint()
    for (const text of texts) {
      const out = view({ value: JSON.parse(text), key: null, headers })
      if (out.delivered) sink += JSON.stringify(out.value).length
    }
    return Number(process.hrtime.bigint() - start)
  }
  // A sample interleaves the two pass by pass (a pass is ~20 ms), alternating which
  // goes first, so both see the same machine: on this shared 2-core VM the speed
  // drifts by ±20% within seconds, and whole-sample alternation let that drift
  // into the ratio (0.51–0.68 for the same code in one session).
  const sample = () => {
    let baseNs = 0
    let candNs = 0
    for (let r = 0; r < rounds; r++) {
      if (r % 2 === 0) { baseNs += baselinePass(); candNs += candidatePass() } else { candNs += candidatePass(); baseNs += baselinePass() }
    }
    const perSecond = ns => (rounds * texts.length) / (ns / 1e9)
    return [perSecond(baseNs), perSecond(candNs)]
  }

  // Sanity: the view delivers every record (otherwise we would time a filter that says no).
  const delivered = texts.filter(text => view({ value: JSON.parse(text), key: null, headers }).delivered).length
  if (delivered !== texts.length) throw new Error(`only ${delivered} of ${texts.length} records delivered`)

  sample() // warm-up: JIT both paths
  const base = []
  const cand = []
  for (let i = 0; i < samples; i++) {
    const [b, c] = sample()
    base.push(b)
    cand.push(c)
    log(`  sample ${i + 1}/${samples}: baseline ${Math.round(b)} rec/s, policy ${Math.round(c)} rec/s (ratio ${(c / b).toFixed(3)})`)
  }
  if (sink === 0) throw new Error('nothing measured')
  return {
    name: 'policy-view',
    description: 'orders/partner-basic view (where + hash + mask + truncate + generalize + [*]) per demo order, in process',
    unit: 'records/s',
    better: 'higher',
    target: { ratio: 0.67, text: 'the full policy costs ≤ 1.5× the baseline (Policies issue)' },
    baseline: { label: 'JSON.parse + JSON.stringify', samples: base },
    candidate: { label: 'JSON.parse + compiled view + JSON.stringify', samples: cand },
    params: { records: texts.length, rounds, samples, avgBytes: Math.round(texts.reduce((n, t) => n + t.length, 0) / texts.length) },
    notes: [
      'Target from the Policies issue: the full policy costs at most 1.5x the baseline, i.e. ratio >= 0.67.',
      'The view includes a CEL filter reading partner attributes, so it is bound per share (not shared across shares).',
      'Distinct customer ids: the 512-entry per-binding hash cache mostly misses, as with real traffic.'
    ]
  }
}
