/**
 * View workers: threads that compute replay views (decode, schema check, policy
 * view, envelope JSON) while the main thread reads Kafka and writes to clients.
 *
 * A replay is one subscription reading history as fast as its client takes it; on
 * the main thread alone, the per-record work (~20 µs of ~40) left the second core
 * idle. A batch is cut into chunks that are sent at once: the thread computes the
 * next chunk while the main thread writes the one before, in order. The main thread
 * still decides everything that orders or counts (positions, gaps, cursors,
 * quarantine, writes), so exact resume does not depend on a thread.
 *
 * A thread is started on first use; while it starts, and whenever it fails, batches
 * are computed on the main thread (same code, same answers), so a failed thread
 * costs speed, never records.
 */
import { Worker } from 'node:worker_threads'
import type { KafkaRecord } from '../kafka/types.js'
import type { Logger } from '../observability/logger.js'
import { headerText } from './record-decoder.js'
import { advancePosition, cursorPayload } from './cursor.js'
import {
  LAYOUT_KEY_LENGTH, LAYOUT_KEY_START, LAYOUT_PARTITION, LAYOUT_VALUE_LENGTH, LAYOUT_VALUE_START, LAYOUT_WORDS,
  NUMBER_OFFSET, NUMBER_TIMESTAMP, NUMBER_WORDS,
  type ViewBindingSpec, type ViewJob, type ViewJobResult, type ViewWorkerData
} from './view-worker-protocol.js'
import type { PartitionOffsets } from '../kafka/types.js'

/** Records per job: small enough that the first chunk's wait is short, large enough to amortise a message. */
export const VIEW_CHUNK_RECORDS = 64
/** Bindings a thread keeps compiled (one per share, policy version and partner change). */
const BINDINGS_PER_THREAD = 256
/** A job that takes longer than this means the thread is stuck: it is replaced. */
const JOB_TIMEOUT_MS = 10_000
export interface ViewWorkerPoolOptions {
  /** Threads (started on first use). */
  size: number
  /** The cursor MAC key (GatewaySecret.key('cursor')). */
  cursorKey: Buffer
  logger: Logger
  /** A thread that failed is not restarted sooner than this (default 5 s). */
  restartDelayMs?: number
}

/** A share binding as the pool sees it: a stable key, and how to describe it to a thread. */
export interface WorkerBinding {
  key: string
  /** False: the view does not depend on headers, so they are not sent (CompiledPolicy.readsHeaders). */
  readsHeaders: boolean
  spec: () => ViewBindingSpec
}

/** One chunk's outcome: undefined while it is computed, null when it failed (compute inline). */
export class ChunkViews {
  result: ViewJobResult | null | undefined
  readonly done: Promise<void>
  private settle!: () => void
  constructor () {
    this.done = new Promise<void>(resolve => { this.settle = resolve })
  }

  finish (result: ViewJobResult | null): void {
    if (this.result !== undefined) return
    this.result = result === null || result.error !== undefined ? null : result
    this.settle()
  }
}

/** A submitted batch: chunk i holds records [i*VIEW_CHUNK_RECORDS, (i+1)*VIEW_CHUNK_RECORDS). */
export interface BatchViews {
  bindingKey: string
  /**
   * cursorPayload() of the positions the cursors were signed from; undefined: not
   * signed. They are right only if the stream stands there when it delivers the batch.
   */
  signedFrom: Buffer | undefined
  chunks: ChunkViews[]
}

interface Pending { chunk: ChunkViews, sentAt: number }

class ViewThread {
  readonly worker: Worker
  online = false
  readonly pending = new Map<number, Pending>()
  /** Bindings this thread has compiled, oldest first (the thread forgets what the pool evicts). */
  readonly known = new Set<string>()
  private forget: string[] = []

  private readonly reported = new Set<string>()

  constructor (url: URL, workerData: ViewWorkerData, stats: ViewWorkerPool['stats'], logger: Logger, private readonly onExit: (thread: ViewThread, err: Error | undefined) => void) {
    // A thread holds the chunks in flight (each replay queues at most a few batches) and
    // at most BINDINGS_PER_THREAD compiled bindings; its heap is bounded all the same.
    this.worker = new Worker(url, { workerData, resourceLimits: { maxOldGenerationSizeMb: 256 } })
    this.worker.unref()
    this.worker.on('online', () => { this.online = true })
    this.worker.on('message', (result: ViewJobResult) => {
      const pending = this.pending.get(result.id)
      if (pending === undefined) return
      this.pending.delete(result.id)
      if (result.error === undefined) stats.records += result.kinds.length
      else {
        stats.failedChunks++
        // Once per thread and binding at most: every later chunk would say the same.
        if (this.reported.size < 100 && !this.reported.has(result.error)) {
          this.reported.add(result.error)
          logger.error({ error: result.error }, 'a view worker could not compute a batch; computing such batches here')
        }
      }
      pending.chunk.finish(result)
    })
    let failure: Error | undefined
    this.worker.on('error', (err) => { failure = err })
    this.worker.on('exit', () => {
      this.online = false
      for (const { chunk } of this.pending.values()) {
        stats.failedChunks++
        chunk.finish(null)
      }
      this.pending.clear()
      this.onExit(this, failure)
    })
  }

  send (job: ViewJob, binding: WorkerBinding, chunk: ChunkViews, transfer: ArrayBuffer[]): void {
    if (!this.known.has(binding.key)) {
      job.binding = binding.spec()
      this.known.add(binding.key)
      if (this.known.size > BINDINGS_PER_THREAD) {
        const oldest = this.known.values().next().value as string
        this.known.delete(oldest)
        this.forget.push(oldest)
      }
    }
    if (this.forget.length > 0) {
      job.forget = this.forget
      this.forget = []
    }
    this.pending.set(job.id, { chunk, sentAt: Date.now() })
    this.worker.postMessage(job, transfer)
  }

  /** True when the oldest job has waited past the timeout. */
  stuck (now: number): boolean {
    for (const { sentAt } of this.pending.values()) return now - sentAt > JOB_TIMEOUT_MS
    return false
  }
}

export class ViewWorkerPool {
  private readonly threads: ViewThread[] = []
  private nextJob = 1
  private nextThread = 0
  private lastFailure = -Infinity
  private closed = false
  private readonly watchdog: NodeJS.Timeout
  private readonly url: URL
  private readonly size: number
  private readonly cursorKey: Uint8Array
  private readonly logger: Logger
  private readonly restartDelayMs: number
  /** Records whose views a thread computed, and chunks that failed (computed on the main thread instead). */
  readonly stats = { records: 0, failedChunks: 0 }

  constructor (options: ViewWorkerPoolOptions) {
    this.size = options.size
    this.cursorKey = new Uint8Array(options.cursorKey)
    this.logger = options.logger
    this.restartDelayMs = options.restartDelayMs ?? 5_000
    // Under the test runner this module is TypeScript, loaded through a loader that
    // worker threads inherit: the thread's file is then TypeScript too.
    this.url = new URL(import.meta.url.endsWith('.ts') ? './view-worker.ts' : './view-worker.js', import.meta.url)
    this.watchdog = setInterval(() => { this.replaceStuck() }, JOB_TIMEOUT_MS / 2)
    this.watchdog.unref()
  }

  /** Starts the threads now rather than on first use (tests, benchmarks). */
  warm (): void {
    while (!this.closed && this.threads.length < this.size) this.start()
  }

  /** Threads running and able to take jobs now. */
  get ready (): number {
    let n = 0
    for (const t of this.threads) if (t.online) n++
    return n
  }

  /**
   * Starts computing the views of `records` (one reader batch) on a thread. Undefined
   * when no thread is ready: the caller computes them itself (a thread is started
   * for next time).
   */
  submit (binding: WorkerBinding, records: readonly KafkaRecord[], positions: PartitionOffsets | undefined): BatchViews | undefined {
    const thread = this.pick()
    if (thread === undefined) return undefined
    const chunks: ChunkViews[] = []
    // Each chunk's cursors are signed from where the stream stands before its first record.
    const at = positions === undefined ? undefined : new Map(positions)
    for (let from = 0; from < records.length; from += VIEW_CHUNK_RECORDS) {
      const to = Math.min(records.length, from + VIEW_CHUNK_RECORDS)
      const chunk = new ChunkViews()
      chunks.push(chunk)
      const { job, transfer } = encodeJob(this.nextJob++, binding, records, from, to, at === undefined ? undefined : positionPairs(at))
      try {
        thread.send(job, binding, chunk, transfer)
      } catch (err) {
        this.logger.warn({ err }, 'cannot send a batch to a view worker; computing it here')
        this.stats.failedChunks++
        chunk.finish(null)
      }
      if (at !== undefined) {
        for (let i = from; i < to; i++) {
          const { partition, offset } = records[i] as KafkaRecord
          advancePosition(at, partition, offset + 1)
        }
      }
    }
    return { bindingKey: binding.key, signedFrom: positions === undefined ? undefined : cursorPayload(positions), chunks }
  }

  private pick (): ViewThread | undefined {
    if (this.closed || this.size === 0) return undefined
    if (this.threads.length < this.size && Date.now() - this.lastFailure >= this.restartDelayMs) this.start()
    // Round robin over the threads that are up; replays of different streams spread out.
    for (let i = 0; i < this.threads.length; i++) {
      const thread = this.threads[(this.nextThread + i) % this.threads.length] as ViewThread
      if (thread.online) {
        this.nextThread = (this.nextThread + i + 1) % this.threads.length
        return thread
      }
    }
    return undefined
  }

  private start (): void {
    try {
      this.threads.push(new ViewThread(this.url, { cursorKey: this.cursorKey }, this.stats, this.logger, (thread, err) => { this.exited(thread, err) }))
    } catch (err) {
      this.lastFailure = Date.now()
      this.logger.error({ err }, 'cannot start a view worker; views are computed on the main thread')
    }
  }

  private exited (thread: ViewThread, err: Error | undefined): void {
    const i = this.threads.indexOf(thread)
    if (i >= 0) this.threads.splice(i, 1)
    if (this.closed) return
    this.lastFailure = Date.now()
    this.logger.error({ err }, 'view worker stopped; its batches are computed on the main thread')
  }

  private replaceStuck (): void {
    const now = Date.now()
    for (const thread of this.threads) {
      if (thread.stuck(now)) {
        this.logger.error('view worker did not answer in time; replacing it')
        void thread.worker.terminate()
      }
    }
  }

  async close (): Promise<void> {
    this.closed = true
    clearInterval(this.watchdog)
    await Promise.allSettled(this.threads.map(async t => await t.worker.terminate()))
  }
}

/** Copies records [from, to) into one transferable buffer and a layout of where each lies. */
function encodeJob (id: number, binding: WorkerBinding, records: readonly KafkaRecord[], from: number, to: number, positions: Float64Array | undefined): { job: ViewJob, transfer: ArrayBuffer[] } {
  const count = to - from
  let total = 0
  for (let i = from; i < to; i++) {
    const record = records[i] as KafkaRecord
    total += (record.key?.length ?? 0) + (record.value?.length ?? 0)
  }
  const bytes = new Uint8Array(total)
  const layout = new Int32Array(count * LAYOUT_WORDS)
  const numbers = new Float64Array(count * NUMBER_WORDS)
  const headers: Array<string[] | undefined> = new Array(count)
  let at = 0
  for (let i = 0; i < count; i++) {
    const record = records[from + i] as KafkaRecord
    const l = i * LAYOUT_WORDS
    layout[l + LAYOUT_PARTITION] = record.partition
    layout[l + LAYOUT_KEY_START] = at
    if (record.key === null) layout[l + LAYOUT_KEY_LENGTH] = -1
    else {
      bytes.set(record.key, at)
      layout[l + LAYOUT_KEY_LENGTH] = record.key.length
      at += record.key.length
    }
    layout[l + LAYOUT_VALUE_START] = at
    if (record.value === null) layout[l + LAYOUT_VALUE_LENGTH] = -1
    else {
      bytes.set(record.value, at)
      layout[l + LAYOUT_VALUE_LENGTH] = record.value.length
      at += record.value.length
    }
    numbers[i * NUMBER_WORDS + NUMBER_OFFSET] = record.offset
    numbers[i * NUMBER_WORDS + NUMBER_TIMESTAMP] = record.timestamp
    if (binding.readsHeaders) headers[i] = headerPairs(record.headers)
  }
  return {
    job: { id, bindingKey: binding.key, count, positions, bytes: bytes.buffer, layout, numbers, headers },
    transfer: [bytes.buffer, layout.buffer, numbers.buffer]
  }
}

function positionPairs (positions: PartitionOffsets): Float64Array {
  const pairs = new Float64Array(positions.size * 2)
  let i = 0
  for (const [partition, next] of positions) { pairs[i++] = partition; pairs[i++] = next }
  return pairs
}

function headerPairs (raw: KafkaRecord['headers']): string[] | undefined {
  let pairs: string[] | undefined
  for (const name in raw) {
    const text = headerText(raw[name])
    if (text !== undefined) (pairs ??= []).push(name, text)
  }
  return pairs
}
