/**
 * Structured logs through pino: one JSON line per request (request id, status, bytes, duration,
 * what the generator did, render ms, the client address), `pretty` text for a terminal, and
 * operator problems logged once per episode instead of once per request.
 * @module
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { BlockList, isIPv4, isIPv6 } from 'node:net'
import { createRequire } from 'node:module'

import type { Logger } from 'pino'

import { ConfigError, type LogFormat, type LogLevel } from './config.js'
import type { RequestOutcome } from './metrics.js'

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** `json` lines or `pretty` text. @default 'json' */
  format?: LogFormat
  /** Lowest level written. @default 'info' */
  level?: LogLevel
  /** Where lines go. @default stdout */
  destination?: NodeJS.WritableStream
}

/**
 * A pino logger. `pretty` loads the optional `pino-pretty` package on first use and says how to
 * install it when it is missing.
 * @param options - see {@link LoggerOptions}
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  // pino is loaded with the first logger, not at import (the package's import cost).
  const { destination, pino } = createRequire(import.meta.url)('pino') as typeof import('pino')
  const base = { level: options.level ?? 'info', base: { pid: process.pid } }
  if (options.format === 'pretty') {
    let pretty: (o: object) => NodeJS.WritableStream
    try {
      pretty = createRequire(import.meta.url)('pino-pretty') as typeof pretty
    } catch (err) {
      throw new ConfigError(`logFormat 'pretty' needs pino-pretty: run \`npm install pino-pretty\` (${(err as Error).message.split('\n')[0]})`)
    }
    return pino(base, pretty({ colorize: true, destination: options.destination ?? process.stdout }))
  }
  // Asynchronous stdout (sonic-boom): a synchronous write per request would stall the event
  // loop whenever the pipe reader is slow.
  return pino(base, options.destination ? (options.destination as NodeJS.WritableStream & { write(s: string): boolean }) : destination({ dest: 1, sync: false }))
}

/**
 * Which peers may tell the client address (`X-Forwarded-For`, `X-Real-IP`): addresses and CIDR
 * ranges, IPv4 or IPv6. A request from any other peer is logged with the peer's own address, so
 * clients cannot forge their address in the logs.
 */
export class TrustedProxies {
  readonly #list = new BlockList()
  readonly #empty: boolean

  /** @param entries - `10.0.0.0/8`, `127.0.0.1`, `::1`, … */
  constructor(entries: readonly string[]) {
    this.#empty = entries.length === 0
    for (const entry of entries) {
      const [addr, bits] = entry.split('/')
      const type = isIPv4(addr) ? 'ipv4' : isIPv6(addr) ? 'ipv6' : undefined
      const prefix = bits === undefined ? (type === 'ipv4' ? 32 : 128) : Number(bits)
      if (!type || !Number.isInteger(prefix) || prefix < 0 || prefix > (type === 'ipv4' ? 32 : 128)) {
        throw new ConfigError(`Expected IP addresses or CIDR ranges for trustedProxies but received ${JSON.stringify(entry)}`)
      }
      this.#list.addSubnet(addr, prefix, type)
    }
  }

  /**
   * The client address of a request: the right-most untrusted hop of `X-Forwarded-For` (or
   * `X-Real-IP`) when the peer is trusted, else the peer.
   */
  clientAddress(req: IncomingMessage): string | undefined {
    const peer = normalise(req.socket.remoteAddress)
    if (this.#empty || !peer || !this.#trusted(peer)) return peer
    const xff = req.headers['x-forwarded-for']
    if (typeof xff === 'string' && xff) {
      const hops = xff.split(',').map((s) => normalise(s.trim()))
      // Walk from the nearest hop; the first one that is not a trusted proxy is the client.
      for (let i = hops.length - 1; i >= 0; i--) {
        const hop = hops[i]
        if (!hop) break
        if (i === 0 || !this.#trusted(hop)) return hop
      }
    }
    const real = req.headers['x-real-ip']
    if (typeof real === 'string' && real) return normalise(real.trim())
    return peer
  }

  /** Whether the request's peer is a trusted proxy. */
  trusts(req: IncomingMessage): boolean {
    const peer = normalise(req.socket.remoteAddress)
    return !this.#empty && peer !== undefined && this.#trusted(peer)
  }

  #trusted(addr: string): boolean {
    const type = isIPv4(addr) ? 'ipv4' : isIPv6(addr) ? 'ipv6' : undefined
    return type !== undefined && this.#list.check(addr, type)
  }
}

function normalise(addr: string | undefined): string | undefined {
  if (!addr) return undefined
  return addr.startsWith('::ffff:') && isIPv4(addr.slice(7)) ? addr.slice(7) : addr
}

/** The outcome the handler attaches to a response, read by the request log. */
const outcomes = new WeakMap<ServerResponse, RequestOutcome>()

/** Attaches the handler's outcome to a response. */
export function setOutcome(res: ServerResponse, outcome: RequestOutcome): void {
  outcomes.set(res, outcome)
}

/**
 * Starts the request log of one request: picks a request id (a trusted proxy's `X-Request-Id`,
 * else a new UUID), echoes it as a response header, and writes one `info` line when the
 * response has finished.
 * @param logger - pino logger
 * @param proxies - trusted proxies for the client address
 */
export function logRequest(logger: Logger, proxies: TrustedProxies, req: IncomingMessage, res: ServerResponse): void {
  const started = performance.now()
  const given = req.headers['x-request-id']
  const id = typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) && proxies.trusts(req) ? given : randomUUID()
  res.setHeader('X-Request-Id', id)
  // Bytes sent including headers (nginx's $bytes_sent): the socket counter always is readable.
  const sentBefore = req.socket.bytesWritten
  res.once('finish', () => {
    const o = outcomes.get(res)
    logger.info({
      reqId: id,
      method: req.method,
      url: req.url,
      status: res.statusCode,
      bytes: req.socket.bytesWritten - sentBefore,
      ms: Math.round((performance.now() - started) * 10) / 10,
      cache: o?.via ?? (o && o.status >= 400 && o.code ? 'miss' : undefined),
      renderMs: o?.renderMs === undefined ? undefined : Math.round(o.renderMs * 10) / 10,
      waitMs: o?.waitMs === undefined ? undefined : Math.round(o.waitMs * 10) / 10,
      code: o?.code,
      mode: o?.mode,
      client: proxies.clientAddress(req),
    })
  })
}

/** Kinds of operator problems, each with what to do about it. */
export const EPISODE_HINTS = {
  cache: 'the shared cache (cache setting) does not answer: renders go ahead without the cross-host lock, so hosts may render the same thumbnail twice; check that Redis is up',
  storage: 'a storage (bucket or origin) does not answer: thumbnails that need it get 503 with Retry-After; check the store and s3Endpoint, credentials and bucket',
  disk: 'the output disk is full: renders fail; free space in outputRoot or prune old thumbnails',
  keys: 'URLs signed with an older key are still requested: keep that key in keys until they stop, or drop it to revoke them',
} as const

/** A kind of operator problem. */
export type EpisodeKind = keyof typeof EPISODE_HINTS

/** Where episodes are logged: a pino logger or `console`. */
export interface EpisodeLogger {
  error(...args: unknown[]): void
  warn?(...args: unknown[]): void
  info?(...args: unknown[]): void
}

/**
 * Logs each operator problem once when it starts and once when it ends, however many requests
 * hit it in between.
 */
export class Episodes {
  readonly #open = new Set<EpisodeKind>()

  /** @param logger - receives `error` at the start and `info` at the end of an episode */
  constructor(readonly logger: EpisodeLogger) {}

  /** A request hit the problem; logs only when the episode starts. */
  problem(kind: EpisodeKind, err?: unknown): void {
    if (this.#open.has(kind)) return
    this.#open.add(kind)
    const log = (kind === 'keys' ? this.logger.warn : undefined) ?? this.logger.error
    log.call(this.logger, { episode: kind, err: err instanceof Error ? { code: (err as { code?: string }).code, message: err.message } : undefined }, EPISODE_HINTS[kind])
  }

  /** A request went through without the problem; logs when an episode ends. */
  ok(kind: EpisodeKind): void {
    if (!this.#open.delete(kind)) return
    this.logger.info?.({ episode: kind }, `recovered: ${kind}`)
  }

  /** Whether an episode of `kind` is open. */
  isOpen(kind: EpisodeKind): boolean {
    return this.#open.has(kind)
  }
}
