/**
 * Fixed values of the partner protocol (CONTRACT §5–§6), in one place: the routes
 * enforce them and the AsyncAPI document (src/discovery/asyncapi.ts) states them, so
 * the two cannot drift apart. No imports: the document stays free of transport code.
 */

/** The WebSocket subprotocol a client must offer. */
export const WS_SUBPROTOCOL = 'streamshare.v1'

/** A WebSocket subscription id: letters, digits and `. _ : -`, 1–64 characters. */
export const SUBSCRIPTION_ID_PATTERN = '^[A-Za-z0-9._:-]{1,64}$'

/** Batches (`GET …/records`): most messages per response, and the longest long poll. */
export const BATCH_MAX_LIMIT = 1000
export const BATCH_DEFAULT_LIMIT = 100
export const BATCH_MAX_WAIT_MS = 30000

/** Partner produce: most records in one request (all or nothing). */
export const PRODUCE_MAX_RECORDS = 500
