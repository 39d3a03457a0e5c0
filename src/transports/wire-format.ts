/**
 * Wire formats of the HTTP streams (CONTRACT §5, "Transports"). A message is
 * serialised to JSON once; a format only frames those bytes.
 */
import type { StreamMessage } from '../engine/messages.js'

type Typed = Pick<StreamMessage, 'type'>

export type HttpStreamFormatName = 'sse' | 'ndjson'

export interface HttpStreamFormat {
  name: HttpStreamFormatName
  contentType: string
  /** Written once, right after the headers. */
  preamble: string
  heartbeat: string
  /** Frames a message whose JSON is already built; `id` is the resume cursor, if any. */
  frame: (message: Typed, json: string, id: string | undefined) => string
}

/** Browsers reconnect an EventSource after this many ms; with Last-Event-ID they resume exactly. */
export const SSE_RETRY_MS = 3000

export const SSE: HttpStreamFormat = {
  name: 'sse',
  contentType: 'text/event-stream; charset=utf-8',
  preamble: `retry: ${SSE_RETRY_MS}\n\n`,
  heartbeat: ': keep-alive\n\n',
  // JSON.stringify never emits a raw newline, so `data:` is always a single line.
  frame: (message, json, id) => id === undefined
    ? `event: ${message.type}\ndata: ${json}\n\n`
    : `id: ${id}\nevent: ${message.type}\ndata: ${json}\n\n`
}

export const NDJSON: HttpStreamFormat = {
  name: 'ndjson',
  contentType: 'application/x-ndjson; charset=utf-8',
  preamble: '',
  heartbeat: '{"type":"heartbeat"}\n',
  frame: (_message, json) => `${json}\n`
}

export const HTTP_STREAM_FORMATS: Record<HttpStreamFormatName, HttpStreamFormat> = { sse: SSE, ndjson: NDJSON }

/**
 * Picks the stream format: `?format=` wins, then the Accept header by q-value.
 * No Accept (or a wildcard) gets NDJSON, the friendliest for curl and scripts.
 * Returns undefined when nothing acceptable is offered (→ 406).
 */
export function negotiateHttpStreamFormat (format: string | undefined, accept: string | undefined): HttpStreamFormat | undefined {
  if (format === 'sse' || format === 'ndjson') return HTTP_STREAM_FORMATS[format]
  if (accept === undefined || accept.trim() === '') return NDJSON
  const ranges = accept.split(',').slice(0, 32).map((part, index) => {
    const [type = '', ...params] = part.trim().toLowerCase().split(';')
    const q = params.map(p => p.trim()).find(p => p.startsWith('q='))
    const quality = q === undefined ? 1 : Number(q.slice(2))
    return { type: type.trim(), quality: Number.isFinite(quality) ? quality : 0, index }
  }).filter(r => r.quality > 0).sort((a, b) => b.quality - a.quality || a.index - b.index)
  for (const { type } of ranges) {
    if (type === 'text/event-stream' || type === 'text/*') return SSE
    if (type === 'application/x-ndjson' || type === 'application/ndjson' || type === 'application/jsonl' ||
        type === 'application/*' || type === '*/*') return NDJSON
  }
  return undefined
}
