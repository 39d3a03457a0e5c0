/**
 * The local single-node broker (deploy/kafka): started for `streamshare dev` and the
 * test run when no STREAMSHARE_KAFKA_BROKERS is given. The scripts do the work; this
 * only runs them and reports whether a broker was started (and so must be stopped).
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** The package root, from dist/dev/ or src/dev/. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const LOCAL_KAFKA_DIR = path.join(PACKAGE_ROOT, 'deploy', 'kafka')
export const LOCAL_KAFKA_BROKERS = 'localhost:9092'

export interface LocalKafka {
  /** True when this call started the broker; false when one was already running. */
  started: boolean
  stop: () => Promise<void>
}

export async function startLocalKafka (log: (line: string) => void = () => {}): Promise<LocalKafka> {
  const child = run(path.join(LOCAL_KAFKA_DIR, 'start.sh'), [], { maxBuffer: 16 * 1024 * 1024, timeout: 15 * 60 * 1000 })
  child.child.stderr?.on('data', (chunk: Buffer) => { for (const line of chunk.toString().split('\n')) if (line !== '') log(line) })
  const { stdout } = await child
  const last = stdout.trim().split('\n').pop() ?? ''
  const started = last.startsWith('started')
  return {
    started,
    stop: async () => { if (started) await stopLocalKafka() }
  }
}

export async function stopLocalKafka (): Promise<void> {
  await run(path.join(LOCAL_KAFKA_DIR, 'stop.sh'), [], { timeout: 60 * 1000 })
}
