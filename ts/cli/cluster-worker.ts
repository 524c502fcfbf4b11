/**
 * One `serve` worker process, forked by the cluster primary: reads its settings (flags from the
 * primary, then the config file and environment, read afresh so SIGHUP picks up new keys), serves
 * on the shared socket, and drains when asked.
 * @module
 */
import { Server as NetServer } from 'node:net'

import { createServer } from '../server/server.js'
import { clusterMetrics } from '../server/metrics.js'
import type { ClusterMessage, WorkerBrief } from './cluster.js'
import { serveSettings } from './settings.js'

const brief = JSON.parse(process.argv[2] ?? '{}') as WorkerBrief
const { config } = serveSettings(brief.flags, brief.file)
// With a separate metrics port the primary answers scrapes; the main port does not.
const server = createServer({ ...config, ...(config.metricsPort ? { metricsPath: '' } : {}) })

// Scrapes on the main port reach one worker; it asks the primary for every worker's metrics.
clusterMetrics(server.handler.metrics.registry)
const pending = new Map<number, (text: string) => void>()
let nextId = 0
server.handler.metrics.text = () =>
  new Promise<string>((resolve) => {
    const id = nextId++
    pending.set(id, resolve)
    process.send!({ type: 'restthumbs:metrics-request', id } satisfies ClusterMessage)
  })

let draining = false
server.prependListener('request', (_req, res) => {
  // Keep-alive clients move to another worker after this response.
  if (draining) res.setHeader('Connection', 'close')
})

/* Keep-alive sockets are not cut at once: a client may be sending a request on one right then,
   and would see a reset. For a grace period every response says `Connection: close`, so busy
   clients move to another worker cleanly; then idle sockets are closed as they become idle, and
   busy ones (renders) finish first. */
const GRACE_MS = 1000

function drain(): void {
  if (draining) return
  draining = true
  let sweep: NodeJS.Timeout | undefined
  const grace = setTimeout(() => {
    server.closeIdleConnections()
    sweep = setInterval(() => server.closeIdleConnections(), 50)
  }, GRACE_MS)
  const deadline = setTimeout(() => server.closeAllConnections(), GRACE_MS + (config.renderTimeout + config.lockTimeout) * 1000)
  deadline.unref()
  // net.Server's close stops accepting (the primary stops routing here) without http.Server's
  // immediate closeIdleConnections(); the callback runs once every connection has ended.
  NetServer.prototype.close.call(server, () => {
    clearTimeout(grace)
    clearInterval(sweep)
    void server.handler.close().finally(() => process.exit(0))
  })
}

process.on('message', (msg: ClusterMessage) => {
  if (msg?.type === 'restthumbs:drain') drain()
  else if (msg?.type === 'restthumbs:metrics') {
    pending.get(msg.id)?.(msg.text)
    pending.delete(msg.id)
  }
})
process.on('SIGTERM', drain)
// The primary handles Ctrl-C for the whole group.
process.on('SIGINT', () => undefined)

const url = await server.start()
process.send!({ type: 'restthumbs:listening', url } satisfies ClusterMessage)
