/**
 * Readiness logic only: the Kafka probe's answers are scripted here (the probe
 * against a real broker is covered by the integration tests' /readyz checks).
 */
import t from 'tap'
import { Readiness } from '../../src/observability/readiness.js'
import type { KafkaCluster } from '../../src/kafka/cluster.js'
import { createLogger } from '../../src/observability/logger.js'

function scripted (answers: boolean[]): { kafka: KafkaCluster, calls: () => number } {
  let calls = 0
  const kafka = {
    ping: async () => {
      const ok = answers[calls++] ?? true
      await new Promise(resolve => setTimeout(resolve, 10))
      if (!ok) throw new Error('timeout')
    }
  } as unknown as KafkaCluster
  return { kafka, calls: () => calls }
}

t.test('Kafka counts as unreachable only after two failed probes in a row', async t => {
  const { kafka } = scripted([true, false, true, false, false, true])
  const readiness = new Readiness(kafka, createLogger('silent'))
  const states: boolean[] = []
  for (let i = 0; i < 6; i++) {
    await readiness.probeKafka()
    states.push(readiness.report().ready)
  }
  t.same(states, [true, true, true, true, false, true])
  t.equal(readiness.report().checks.kafka?.detail, 'reachable')
})

t.test('not ready before the first successful probe', async t => {
  const { kafka } = scripted([false, true])
  const readiness = new Readiness(kafka, createLogger('silent'))
  t.equal(await readiness.probeKafka(), false)
  t.equal(readiness.report().ready, false)
  t.equal(await readiness.probeKafka(), true)
})

t.test('concurrent probes share one ping', async t => {
  const { kafka, calls } = scripted([true])
  const readiness = new Readiness(kafka, createLogger('silent'))
  await Promise.all([readiness.probeKafka(), readiness.probeKafka(), readiness.probeKafka()])
  t.equal(calls(), 1)
})
