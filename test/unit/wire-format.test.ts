import t from 'tap'
import { negotiateHttpStreamFormat, NDJSON, SSE } from '../../src/transports/wire-format.js'

t.test('format negotiation', async t => {
  t.equal(negotiateHttpStreamFormat('sse', 'application/x-ndjson'), SSE, '?format= wins')
  t.equal(negotiateHttpStreamFormat('ndjson', 'text/event-stream'), NDJSON)
  t.equal(negotiateHttpStreamFormat(undefined, undefined), NDJSON, 'no Accept')
  t.equal(negotiateHttpStreamFormat(undefined, '*/*'), NDJSON)
  t.equal(negotiateHttpStreamFormat(undefined, 'text/event-stream'), SSE)
  t.equal(negotiateHttpStreamFormat(undefined, 'application/x-ndjson'), NDJSON)
  t.equal(negotiateHttpStreamFormat(undefined, 'application/x-ndjson;q=0.5, text/event-stream'), SSE, 'by q-value')
  t.equal(negotiateHttpStreamFormat(undefined, 'text/event-stream;q=0, application/json'), undefined, 'plain JSON is not a stream format')
  t.equal(negotiateHttpStreamFormat(undefined, 'text/html'), undefined)
  t.equal(negotiateHttpStreamFormat(undefined, 'text/event-stream;q=0'), undefined, 'q=0 means not acceptable')
})

t.test('framing', async t => {
  const record = { type: 'record' as const, product: 'p', partition: 0, offset: 1, timestamp: 't', key: null, value: { a: 'line1\nline2' }, headers: {}, policy_version: 'v', cursor: 'c' }
  const json = JSON.stringify(record)
  const sse = SSE.frame(record, json, 'c')
  t.equal(sse, `id: c\nevent: record\ndata: ${json}\n\n`)
  t.equal(sse.split('\n').length, 5, 'a newline in a value never breaks the data line')
  t.equal(NDJSON.frame(record, json, 'c'), json + '\n')
  t.equal(NDJSON.heartbeat, '{"type":"heartbeat"}\n')
  t.match(SSE.preamble, /^retry: \d+\n\n$/)
  t.match(SSE.heartbeat, /^:/)
})
