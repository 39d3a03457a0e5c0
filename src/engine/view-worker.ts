/**
 * A view worker thread: decodes, schema-checks and applies a share's policy view to
 * replay batches, and returns each record's envelope prefix (view-workers.ts). It
 * compiles the product schema and the policy itself, from the same sources and with
 * the same code as the catalog, so its answers are the main thread's.
 */
import { parentPort, workerData } from 'node:worker_threads'
import type { ValidateFunction } from 'ajv/dist/2020.js'
import { productSchemaAjv } from '../catalog/schema-ajv.js'
import { compilePolicy, type PolicyView } from '../policy/index.js'
import type { KeyFormat } from '../catalog/types.js'
import { NO_HEADERS, decodeRecord } from './record-decoder.js'
import { viewRecord } from './record-view.js'
import { flat } from './messages.js'
import { CursorCodec, advancePosition, cursorPayload } from './cursor.js'
import type { PartitionOffsets } from '../kafka/types.js'
import {
  LAYOUT_KEY_LENGTH, LAYOUT_KEY_START, LAYOUT_PARTITION, LAYOUT_VALUE_LENGTH, LAYOUT_VALUE_START, LAYOUT_WORDS,
  NUMBER_OFFSET, NUMBER_TIMESTAMP, NUMBER_WORDS,
  VIEW_FILTERED, VIEW_FILTER_ERROR, VIEW_RECORD, VIEW_SKIPPED_KEY_NOT_JSON, VIEW_SKIPPED_NOT_JSON, VIEW_SKIPPED_SCHEMA,
  type ViewBindingSpec, type ViewJob, type ViewJobResult, type ViewWorkerData
} from './view-worker-protocol.js'

const cursors = new CursorCodec(Buffer.from((workerData as ViewWorkerData).cursorKey))

interface Binding {
  shareId: string
  productName: string
  product: { keyFormat: KeyFormat, validate: ValidateFunction }
  productJson: string
  view: PolicyView
  version: string
}

const bindings = new Map<string, Binding>()

function bind (spec: ViewBindingSpec): Binding {
  const { product, policy } = spec
  const validate = productSchemaAjv().compile(product.schema)
  const compiled = compilePolicy(policy, { schema: product.schema, schemaFile: product.schemaFile, keyFormat: product.keyFormat })
  // The catalog compiled the same policy without problems; anything else is a bug.
  if (!compiled.ok) throw new Error(`policy ${policy.name} does not compile in the view worker: ${compiled.problems.map(p => p.message).join('; ')}`)
  return {
    shareId: spec.shareId,
    productName: product.name,
    product: { keyFormat: product.keyFormat, validate },
    productJson: JSON.stringify(product.name),
    view: compiled.policy.bind({ shareId: spec.shareId, hashKey: spec.hashKey, partnerAttributes: spec.partnerAttributes, partnerId: spec.partnerId }),
    version: policy.version
  }
}

/** Header texts as recordHeaders() gives them: a null-prototype object (a header may be named __proto__). */
function headersOf (pairs: string[] | undefined): Readonly<Record<string, string>> {
  if (pairs === undefined) return NO_HEADERS
  const headers = Object.create(null) as Record<string, string>
  for (let i = 0; i < pairs.length; i += 2) headers[pairs[i] as string] = pairs[i + 1] as string
  return headers
}

const SKIPPED_KIND = { not_json: VIEW_SKIPPED_NOT_JSON, schema: VIEW_SKIPPED_SCHEMA, key_not_json: VIEW_SKIPPED_KEY_NOT_JSON } as const

function run (job: ViewJob): ViewJobResult {
  for (const key of job.forget ?? []) bindings.delete(key)
  let binding = bindings.get(job.bindingKey)
  if (binding === undefined) {
    if (job.binding === undefined) throw new Error(`unknown view binding ${job.bindingKey}`)
    binding = bind(job.binding)
    bindings.set(job.bindingKey, binding)
  }
  const bytes = Buffer.from(job.bytes)
  const { layout, numbers, count } = job
  const kinds = new Uint8Array(count)
  const ends = new Int32Array(count)
  let text = ''
  let positions: PartitionOffsets | undefined
  if (job.positions !== undefined) {
    positions = new Map()
    for (let i = 0; i < job.positions.length; i += 2) positions.set(job.positions[i] as number, job.positions[i + 1] as number)
  }
  for (let i = 0; i < count; i++) {
    const l = i * LAYOUT_WORDS
    const n = i * NUMBER_WORDS
    const keyLength = layout[l + LAYOUT_KEY_LENGTH] as number
    const valueLength = layout[l + LAYOUT_VALUE_LENGTH] as number
    const keyStart = layout[l + LAYOUT_KEY_START] as number
    const valueStart = layout[l + LAYOUT_VALUE_START] as number
    const record = {
      partition: layout[l + LAYOUT_PARTITION] as number,
      offset: numbers[n + NUMBER_OFFSET] as number,
      timestamp: numbers[n + NUMBER_TIMESTAMP] as number,
      key: keyLength < 0 ? null : bytes.subarray(keyStart, keyStart + keyLength),
      value: valueLength < 0 ? null : bytes.subarray(valueStart, valueStart + valueLength),
      headers: headersOf(job.headers[i])
    }
    // The stream's position right after this record, as Subscription.positions will be
    // (records below it are skipped there and do not move it).
    if (positions !== undefined) advancePosition(positions, record.partition, record.offset + 1)
    const decoded = decodeRecord(binding.product, record)
    if (!decoded.ok) {
      kinds[i] = SKIPPED_KIND[decoded.reason]
      text += decoded.detail
    } else {
      const view = viewRecord(binding.productJson, { partition: record.partition, offset: record.offset, timestamp: record.timestamp, key: decoded.key, value: decoded.value, headers: record.headers }, binding.view, binding.version)
      if (view.delivered) {
        kinds[i] = VIEW_RECORD
        text += positions === undefined ? view.prefix : view.prefix + cursors.seal(binding.shareId, binding.productName, cursorPayload(positions)) + '"}'
      } else kinds[i] = view.reason === 'filtered' ? VIEW_FILTERED : VIEW_FILTER_ERROR
    }
    ends[i] = text.length
  }
  return { id: job.id, kinds, text: flat(text), ends }
}

const port = parentPort
if (port === null) throw new Error('view-worker.ts runs as a worker thread')
port.on('message', (job: ViewJob) => {
  let result: ViewJobResult
  try {
    result = run(job)
  } catch (err) {
    result = { id: job.id, kinds: new Uint8Array(0), text: '', ends: new Int32Array(0), error: (err as Error).message }
  }
  port.postMessage(result, [result.kinds.buffer as ArrayBuffer, result.ends.buffer as ArrayBuffer])
})
