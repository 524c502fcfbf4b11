/**
 * A standalone node:http server around the thumbnail handler, with one JSON log line per request
 * (pino). `restthumbs serve` runs this.
 * @module
 */
import { createServer as createHttpServer, type Server } from 'node:http'

import type { Logger } from 'pino'

import { createThumbnailHandler, type ThumbnailHandler, type ThumbnailHandlerOptions } from './handler.js'
import { createLogger, logRequest, TrustedProxies } from './log.js'

/** Options of {@link createServer}: handler options plus the logger. */
export type ServerOptions = ThumbnailHandlerOptions & {
  /** Receives request lines (when `accessLog`) and operator problems. @default pino on stdout, per `logFormat`/`logLevel` */
  log?: Logger
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
  const logger = log ?? createLogger({ format: options.logFormat, level: options.logLevel })
  const handler = createThumbnailHandler({ logger, ...handlerOptions })
  const { config } = handler
  const proxies = new TrustedProxies(config.trustedProxies)
  const server = createHttpServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    if (config.accessLog) logRequest(logger, proxies, req, res)
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
