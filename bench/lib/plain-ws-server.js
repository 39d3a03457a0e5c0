/**
 * A bare WebSocket server for the benchmarks' memory baseline: node:http + the same
 * `ws` version the gateway uses (via @fastify/websocket), no framework, no
 * authentication, no per-connection state beyond a Set entry. It answers the
 * `streamshare.v1` subprotocol and does nothing with messages. What one idle
 * connection costs here is what the WebSocket library and Node's sockets cost; the
 * gateway's figure on top of it is its own per-connection state.
 *
 *   node --import bench/lib/memory-probe.js bench/lib/plain-ws-server.js
 *   → prints {"port": <n>} on stdout once listening on 127.0.0.1
 */
import http from 'node:http'
import { WebSocketServer } from 'ws'

const connections = new Set()
const server = http.createServer((_req, res) => { res.statusCode = 404; res.end() })
const wss = new WebSocketServer({
  server,
  perMessageDeflate: false,
  handleProtocols: (protocols) => protocols.has('streamshare.v1') ? 'streamshare.v1' : false
})
wss.on('connection', (ws) => {
  connections.add(ws)
  ws.on('close', () => { connections.delete(ws) })
  ws.on('error', () => {})
})
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n')
})
process.on('SIGTERM', () => {
  for (const ws of connections) ws.terminate()
  server.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 2000).unref()
})
