/**
 * Partner-side HTTP stream clients for the benchmarks (undici), parsing what goes over
 * the wire the way a partner's client would.
 */
import { request } from 'undici'
import { procCpuUs, withTimeout } from './util.js'

/**
 * Incremental SSE parser (text/event-stream): feed it decoded text, it calls
 * `onEvent(type, data, id)` per complete event. Comments (heartbeats) and `retry:`
 * are skipped.
 */
export class SseParser {
  constructor (onEvent) {
    this.onEvent = onEvent
    this.buffer = ''
  }

  feed (text) {
    let buffer = this.buffer + text
    let start = 0
    let end
    while ((end = buffer.indexOf('\n\n', start)) !== -1) {
      const block = buffer.slice(start, end)
      start = end + 2
      let type = 'message'
      let data
      let id
      for (const line of block.split('\n')) {
        if (line.startsWith('data: ')) data = data === undefined ? line.slice(6) : `${data}\n${line.slice(6)}`
        else if (line.startsWith('event: ')) type = line.slice(7)
        else if (line.startsWith('id: ')) id = line.slice(4)
      }
      if (data !== undefined) this.onEvent(type, data, id)
    }
    this.buffer = start === 0 ? buffer : buffer.slice(start)
  }
}

/** Incremental NDJSON parser: `onMessage(parsed)` per line. */
export class NdjsonParser {
  constructor (onMessage) {
    this.onMessage = onMessage
    this.buffer = ''
  }

  feed (text) {
    const buffer = this.buffer + text
    let start = 0
    let nl
    while ((nl = buffer.indexOf('\n', start)) !== -1) {
      const line = buffer.slice(start, nl)
      start = nl + 1
      if (line !== '') this.onMessage(JSON.parse(line))
    }
    this.buffer = start === 0 ? buffer : buffer.slice(start)
  }
}

export const ACCEPT = { sse: 'text/event-stream', ndjson: 'application/x-ndjson' }

/** Opens a stream; throws with the problem body unless the gateway answers 200. */
export async function openStream (url, token, format, dispatcher) {
  const res = await request(url, { headers: { authorization: `Bearer ${token}`, accept: ACCEPT[format] }, ...(dispatcher === undefined ? {} : { dispatcher }) })
  if (res.statusCode !== 200) throw new Error(`stream refused: ${res.statusCode} ${await res.body.text()}`)
  return res
}

/**
 * Throughput client: reads a stream (`format` sse or ndjson), JSON-parses every
 * message, until `total` records. Timed from sending the request to the last record
 * parsed. Also returns the gateway's and this process's CPU per record.
 */
export async function readThroughGateway (url, token, total, { format, gatewayPid, timeoutMs = 120_000 }) {
  const gw0 = procCpuUs(gatewayPid)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const res = await openStream(url, token, format)
  res.body.setEncoding('utf8') // decodes UTF-8 across chunk boundaries (names like "Müller")
  let count = 0
  let other = 0
  let firstMs
  let checksum = 0
  let finished
  const read = new Promise((resolve, reject) => {
    finished = resolve
    const onMessage = (message) => {
      if (message.type !== 'record') { if (message.type !== 'heartbeat') other++; return }
      checksum += message.value.total
      firstMs ??= performance.now() - t0
      if (++count === total) resolve(performance.now() - t0)
    }
    const parser = format === 'sse'
      ? new SseParser((_type, data) => { onMessage(JSON.parse(data)) })
      : new NdjsonParser(onMessage)
    res.body.on('data', (chunk) => { if (count < total) parser.feed(chunk) })
    res.body.on('end', () => reject(new Error(`stream ended after ${count} records`)))
    res.body.on('error', (err) => { if (count < total) reject(err) })
  })
  let elapsed
  let cpu
  try {
    elapsed = await withTimeout(read, () => `gateway read of ${total} records (got ${count}, ${other} non-record messages)`, timeoutMs)
    cpu = process.cpuUsage(cpu0)
  } finally {
    finished?.()
    res.body.destroy() // the client leaves; the gateway stops the stream
  }
  const gatewayUs = procCpuUs(gatewayPid) - gw0
  if (other > 0) throw new Error(`${other} records were not delivered as records (schema?)`)
  if (!(checksum > 0)) throw new Error('candidate parsed nothing')
  const clientUs = cpu.user + cpu.system
  return {
    rate: total / (elapsed / 1000),
    elapsedMs: elapsed,
    firstMs,
    cpuUsPerRecord: (gatewayUs + clientUs) / total,
    gatewayCpuUsPerRecord: gatewayUs / total,
    clientCpuUsPerRecord: clientUs / total
  }
}

const RECORD_EVENT = Buffer.from('event: record\n')

/** Occurrences of `pattern` in `buf`. */
function countIn (buf, pattern) {
  let n = 0
  let at = 0
  while ((at = buf.indexOf(pattern, at)) !== -1) { n++; at += pattern.length }
  return n
}

/**
 * A cheap SSE subscriber for fan-out: counts `event: record` frames in the raw bytes
 * (also across chunk boundaries) without parsing them, so one client process can keep
 * up with many streams. `count`, `bytes`, `ended`, `error` are live fields.
 */
export class CountingSseStream {
  constructor (res) {
    this.res = res
    this.count = 0
    this.bytes = 0
    this.ended = false
    this.error = undefined
    this.tail = Buffer.alloc(0)
    this.waiter = undefined
    res.body.on('data', (chunk) => { this.onChunk(chunk) })
    res.body.on('end', () => { this.ended = true; this.wake() })
    res.body.on('error', (err) => { this.error ??= err; this.ended = true; this.wake() })
  }

  static async open (url, token, dispatcher) {
    return new CountingSseStream(await openStream(url, token, 'sse', dispatcher))
  }

  onChunk (chunk) {
    this.bytes += chunk.length
    const k = RECORD_EVENT.length - 1
    // A frame marker split across the previous chunk and this one.
    if (this.tail.length > 0) this.count += countIn(Buffer.concat([this.tail, chunk.subarray(0, k)]), RECORD_EVENT)
    this.count += countIn(chunk, RECORD_EVENT)
    this.tail = chunk.length >= k ? Buffer.from(chunk.subarray(chunk.length - k)) : Buffer.concat([this.tail, chunk]).subarray(-k)
    if (this.waiter !== undefined && this.count >= this.waiter.n) this.wake()
  }

  wake () {
    const w = this.waiter
    this.waiter = undefined
    w?.resolve()
  }

  /** Resolves when `n` records have arrived or the stream ended. */
  async waitFor (n) {
    if (this.count >= n || this.ended) return
    await new Promise(resolve => { this.waiter = { n, resolve } })
  }

  close () { this.res.body.destroy() }
}
