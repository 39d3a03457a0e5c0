/**
 * The least any Kafka → SSE gateway can do, as a yardstick for stream-throughput: a
 * child process with an HTTP server that, per GET, starts a kafkajs consumer (fresh
 * group, from the beginning, the baseline's consumer settings, no commits) and writes
 * every record as an SSE event whose data is `{"type":"record","partition":…,
 * "offset":…,"value":` + the record's value bytes as they are + `}`. No parse, no
 * schema check, no policy, no cursor, no authentication: nothing a real gateway could
 * skip is left but the Kafka consumer and the HTTP write. Its throughput is a
 * ceiling for any gateway on the same machine with the same client.
 *
 * With `--check <policies dir>` it also does the one thing the Stream engine issue
 * makes every gateway do per record: JSON.parse the value and check it against the
 * product schema (the gateway's own compiled ajv validator for `orders`), still
 * sending the value's text unchanged.
 *
 * Usage: node bench/lib/minimal-proxy.js <brokers> <topic> [--check <policies dir>];
 * prints `port=<n>` when listening.
 */
import http from 'node:http'
import { randomBytes } from 'node:crypto'
import kafkajs from 'kafkajs'
import { CONSUMER_OPTIONS } from './kafka.js'

const [brokers, topic, flag, policiesDir] = process.argv.slice(2)
let validate
if (flag === '--check') {
  const { loadCatalog } = await import('../../dist/catalog/load.js')
  validate = (await loadCatalog(policiesDir)).products.get('orders').validate
}
const kafka = new kafkajs.Kafka({ clientId: 'streamshare-bench-minimal-proxy', brokers: brokers.split(','), logLevel: kafkajs.logLevel.NOTHING })

const server = http.createServer((req, res) => {
  // The bench names the group (?group=…) so it can delete it afterwards.
  const groupId = new URL(req.url, 'http://proxy').searchParams.get('group') ?? `streamshare-bench.minimal-proxy.${randomBytes(6).toString('hex')}`
  const consumer = kafka.consumer({ groupId, ...CONSUMER_OPTIONS })
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' })
  let closed = false
  res.on('close', () => { closed = true; consumer.disconnect().catch(() => {}) })
  consumer.connect()
    .then(() => consumer.subscribe({ topics: [topic], fromBeginning: true }))
    .then(() => consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (closed) return
        let out = ''
        for (const m of batch.messages) {
          const text = m.value.toString('utf8')
          if (validate !== undefined && !validate(JSON.parse(text))) throw new Error(`offset ${m.offset} fails the schema`)
          out += `event: record\ndata: {"type":"record","partition":${batch.partition},"offset":${m.offset},"value":${text}}\n\n`
        }
        // Backpressure like the gateway: wait for the socket to drain before the next batch.
        if (!res.write(out)) await new Promise(resolve => res.once('drain', resolve))
      }
    }))
    .catch(() => res.destroy())
})
server.listen(0, '127.0.0.1', () => { process.stdout.write(`port=${server.address().port}\n`) })
process.on('SIGTERM', () => { server.close(); process.exit(0) })
