/** Output helpers for the CLI: aligned tables for people, JSON for scripts. */

export function table (rows: Array<Record<string, unknown>>, columns: string[]): string {
  if (rows.length === 0) return '(none)'
  const cells = rows.map(r => columns.map(c => format(r[c])))
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map(row => (row[i] ?? '').length)))
  const line = (values: string[]): string => values.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ').trimEnd()
  return [line(columns.map(c => c.toUpperCase())), ...cells.map(line)].join('\n')
}

export function format (value: unknown): string {
  if (value === null || value === undefined) return '-'
  if (Array.isArray(value)) return value.map(format).join(', ')
  if (typeof value === 'object') return Object.entries(value).map(([k, v]) => `${k}=${format(v)}`).join(' ')
  return String(value)
}

/** Key/value lines for one object. */
export function details (obj: Record<string, unknown>, keys?: string[]): string {
  const entries = (keys ?? Object.keys(obj)).filter(k => obj[k] !== undefined).map(k => [k, format(obj[k])] as const)
  const width = Math.max(...entries.map(([k]) => k.length))
  return entries.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')
}
