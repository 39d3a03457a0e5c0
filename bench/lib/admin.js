/**
 * Admin API calls some benchmarks need beyond bench/lib/gateway.js: reading a share, a
 * quota PATCH, and reading counters from the admin listener's Prometheus /metrics (and,
 * re-exported from gateway.js, a share created with a quota and its id, for PATCH and
 * metric labels).
 */
import { request } from 'undici'
import { adminCall } from './gateway.js'

/**
 * createShareWithQuota (a share with an optional quota; returns { id, token, share })
 * lives in bench/lib/gateway.js beside createShare and issueShareToken, which use it.
 */
export { createShareWithQuota } from './gateway.js'

/** The share as the admin API shows it (quota, usage, updated_at). */
export async function getShare (adminUrl, adminToken, id) {
  const s = await adminCall(adminUrl, adminToken, 'GET', `/admin/v1/shares/${id}`)
  if (s.status !== 200) throw new Error(`share ${id}: ${s.status} ${JSON.stringify(s.body)}`)
  return s.body
}

/**
 * Replaces a share's quota (PATCH, applies to open streams) and waits until the
 * gateway's registry shows it; returns the share.
 */
export async function patchShareQuota (adminUrl, adminToken, id, quota) {
  const s = await adminCall(adminUrl, adminToken, 'PATCH', `/admin/v1/shares/${id}`, { quota })
  if (s.status !== 200) throw new Error(`patch share ${id}: ${s.status} ${JSON.stringify(s.body)}`)
  for (let i = 0; i < 100; i++) {
    const share = await getShare(adminUrl, adminToken, id)
    if (Object.entries(quota).every(([k, v]) => share.quota?.[k] === v)) return share
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`share ${id}: the quota PATCH did not show within 10 s`)
}

/** The admin listener's Prometheus text (GET /metrics). */
export async function scrapeMetrics (adminUrl) {
  const res = await request(`${adminUrl}/metrics`)
  const text = await res.body.text()
  if (res.statusCode !== 200) throw new Error(`/metrics: ${res.statusCode} ${text.slice(0, 200)}`)
  return text
}

/**
 * The value of one sample in Prometheus text: metric `name` whose labels include all
 * of `labels` (summed over the matching series); 0 when there is none yet.
 */
export function metricValue (text, name, labels = {}) {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line)
    if (m === null || m[1] !== name) continue
    const have = Object.fromEntries([...(m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map(x => [x[1], x[2]]))
    if (Object.entries(labels).every(([k, v]) => have[k] === String(v))) sum += Number(m[4])
  }
  return sum
}
