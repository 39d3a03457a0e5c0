// tap --before: make sure a Kafka broker is there for the whole test run.
// With STREAMSHARE_KAFKA_BROKERS set, the tests use that cluster and nothing starts.
// Otherwise the local broker (deploy/kafka) starts once, or one already on 9092 is
// reused; a marker file tells kafka-down.mjs to stop only what this run started.
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const marker = path.join(root, '.tap', 'kafka-started-by-tests')
// Fresh gateway logs for the after-run secret scan.
rmSync(path.join(root, '.tap', 'gateway-logs'), { recursive: true, force: true })

if (process.env.STREAMSHARE_KAFKA_BROKERS) {
  console.error(`tests: using Kafka at ${process.env.STREAMSHARE_KAFKA_BROKERS}`)
} else {
  rmSync(marker, { force: true })
  const out = execFileSync(path.join(root, 'deploy', 'kafka', 'start.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  const last = out.trim().split('\n').pop() ?? ''
  if (last.startsWith('started')) {
    mkdirSync(path.dirname(marker), { recursive: true })
    writeFileSync(marker, last + '\n')
    console.error('tests: started the local Kafka broker; it stops after the run')
  } else {
    console.error('tests: reusing the Kafka broker on localhost:9092')
  }
}
