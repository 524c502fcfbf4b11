/**
 * One `serve` worker process, forked by the cluster primary: reads its settings (flags from the
 * primary, then the config file and environment, read afresh so SIGHUP picks up new keys), serves
 * on the shared socket, and drains when asked.
 * @module
 */
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

function drain(): void {
  if (draining) return
  draining = true
  // Idle keep-alive sockets are closed now and whenever one becomes idle; busy ones finish first.
  const sweep = setInterval(() => server.closeIdleConnections(), 50)
  const deadline = setTimeout(() => server.closeAllConnections(), (config.renderTimeout + config.lockTimeout) * 1000)
  deadline.unref()
  void server.stop().then(() => {
    clearInterval(sweep)
    process.exit(0)
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
