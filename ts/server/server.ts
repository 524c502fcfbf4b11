/**
 * A standalone node:http server around the thumbnail handler, with one access-log line per
 * request. `restthumbs serve` runs this.
 * @module
 */
import { createServer as createHttpServer, type Server } from 'node:http'

import { createThumbnailHandler, type ThumbnailHandler, type ThumbnailHandlerOptions } from './handler.js'

/** Options of {@link createServer}: handler options plus where the access log goes. */
export type ServerOptions = ThumbnailHandlerOptions & {
  /** Receives each access-log line (without newline). @default writes to stdout when `accessLog` */
  log?: (line: string) => void
}

/** A node:http server that carries its thumbnail handler. */
export interface ThumbnailServer extends Server {
  /** The handler (its `stats` count requests, renders, hits). */
  readonly handler: ThumbnailHandler
  /** Listens on the configured host and port; resolves the base URL (`http://host:port`). */
  start(): Promise<string>
  /** Stops accepting connections, closes idle ones, and closes the handler's cache. */
  stop(): Promise<void>
}

/**
 * Creates the server (not listening yet; call `start()`).
 * @param options - see {@link ServerOptions}
 */
export function createServer(options: ServerOptions = {}): ThumbnailServer {
  const { log, ...handlerOptions } = options
  const handler = createThumbnailHandler(handlerOptions)
  const { config } = handler
  const write = log ?? (config.accessLog ? (line: string) => process.stdout.write(line + '\n') : undefined)
  const server = createHttpServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    if (write) {
      const started = process.hrtime.bigint()
      // Bytes sent including headers (nginx's $bytes_sent): headers given to writeHead() are
      // not readable back with getHeader(), the socket counter always is.
      const sentBefore = req.socket.bytesWritten
      res.once('finish', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6
        const length = req.socket.bytesWritten - sentBefore
        const accel = res.getHeader('x-accel-redirect') ? ' accel' : ''
        write(
          `${new Date().toISOString()} ${req.socket.remoteAddress ?? '-'} "${req.method} ${req.url}" ${res.statusCode} ${length} ${ms.toFixed(1)}ms${accel}`,
        )
      })
    }
    if (req.url === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' })
      res.end('ok\n')
      return
    }
    handler(req, res)
  }) as ThumbnailServer
  Object.defineProperty(server, 'handler', { value: handler, enumerable: true })
  server.start = () =>
    new Promise<string>((resolve, reject) => {
      server.once('error', reject)
      server.listen(config.port, config.host, () => {
        server.off('error', reject)
        const addr = server.address()
        const port = typeof addr === 'object' && addr ? addr.port : config.port
        const host = config.host.includes(':') ? `[${config.host}]` : config.host
        resolve(`http://${host}:${port}`)
      })
    })
  server.stop = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeIdleConnections()
    })
    await handler.close()
  }
  return server
}
