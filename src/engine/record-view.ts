/**
 * What one share receives for one decoded record, as the envelope's JSON up to its
 * cursor: the one computation behind the tap's cached views, inline replay and the
 * view workers (view-worker.ts).
 */
import type { PolicyView } from '../policy/index.js'
import { recordPrefix } from './messages.js'

export type RecordView =
  | { delivered: true, prefix: string }
  | { delivered: false, reason: 'filtered' | 'filter_error' }

export interface DecodedRecordFields {
  partition: number
  offset: number
  timestamp: number
  key: unknown
  value: unknown
  /** Header values as text, in a null-prototype object (recordHeaders()). */
  headers: Readonly<Record<string, string>>
}

export function viewRecord (productJson: string, record: DecodedRecordFields, view: PolicyView, policyVersion: string): RecordView {
  const outcome = view({ value: record.value, key: record.key, headers: record.headers })
  if (!outcome.delivered) return { delivered: false, reason: outcome.reason }
  return { delivered: true, prefix: recordPrefix(productJson, record.partition, record.offset, record.timestamp, outcome.key, outcome.value, outcome.headers, policyVersion) }
}
