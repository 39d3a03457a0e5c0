/**
 * A share's history window (CONTRACT §5): `none`, `all`, or an ISO 8601 duration
 * (`P7D`, `PT12H`, `P1Y2M`…). Months count 30 days and years 365, which is what a
 * retention window means in practice.
 */
const DURATION = /^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?!$)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/

const MS = { Y: 365 * 86400e3, M: 30 * 86400e3, W: 7 * 86400e3, D: 86400e3, h: 3600e3, m: 60e3, s: 1e3 }

export type HistoryWindow = { kind: 'none' } | { kind: 'all' } | { kind: 'duration', ms: number }

export function parseHistory (value: string): HistoryWindow | undefined {
  if (value === 'none') return { kind: 'none' }
  if (value === 'all') return { kind: 'all' }
  const m = DURATION.exec(value)
  if (m === null) return undefined
  const [, y, mo, w, d, h, mi, s] = m
  const ms = Number(y ?? 0) * MS.Y + Number(mo ?? 0) * MS.M + Number(w ?? 0) * MS.W + Number(d ?? 0) * MS.D +
    Number(h ?? 0) * MS.h + Number(mi ?? 0) * MS.m + Number(s ?? 0) * MS.s
  if (!Number.isFinite(ms) || ms <= 0 || ms > 100 * MS.Y) return undefined
  return { kind: 'duration', ms }
}
