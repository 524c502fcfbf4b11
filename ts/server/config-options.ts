/**
 * The documented settings of the thumbnail handler and server: the {@link ServerConfig}
 * interface and the small unions it uses. Their defaults and kinds are in `config-table.ts`,
 * resolution in `config.ts`.
 * @module
 */
import type { NegotiableFormat } from './negotiate.js'

/** How a response carries the thumbnail bytes (restthumbnails' `THUMBNAILS_RESPONSE_BACKEND`). */
export type ResponseMode = 'stream' | 'nginx' | 'apache' | 'redirect'

/** Format of the per-request log lines: one JSON object per line, or coloured text. */
export type LogFormat = 'json' | 'pretty'

/** pino levels; `silent` logs nothing. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

/**
 * What a request does while another worker renders the same thumbnail.
 * - `'wait'`: poll until the file exists (up to `lockTimeout`), then serve it.
 * - `'503'`: answer 503 with `Retry-After`.
 * - `'404'`: django-restthumbnails' behaviour, 404 with never-cache headers.
 */
export type WaiterMode = 'wait' | '503' | '404'

/** Settings of the thumbnail handler and server. */
export interface ServerConfig {
  /**
   * Interface the server listens on.
   * @default '127.0.0.1'
   */
  host: string
  /**
   * TCP port of the server (`0` picks a free one).
   * @default 8080
   */
  port: number
  /**
   * URL prefix of thumbnail URLs; requests outside it go to `next()` (or 404 standalone).
   * @default '/thumbnails/'
   */
  basePath: string
  /**
   * Directory of source images, used when `sourceUrl` is empty.
   * @default 'media'
   */
  sourceRoot: string
  /**
   * Base URL of an HTTP origin for sources (`https://cdn.example.com/media/`). Empty: local files.
   * @default ''
   */
  sourceUrl: string
  /**
   * Let `sourceUrl` resolve to loopback or private addresses (an origin on a trusted network).
   * Off by default: the SSRF guard refuses them.
   * @default false
   */
  sourceAllowPrivate: boolean
  /**
   * Other origins `sourceUrl` may redirect to: `host`, `host:port` or `scheme://host:port`, with
   * `*.example.com` for subdomains (no port: the scheme's default port only). The origin of
   * `sourceUrl` itself is always allowed; every other redirect is refused.
   * @default []
   */
  allowedHosts: string[]
  /**
   * Directory thumbnails are written to; the proxy serves it directly (`try_files`).
   * @default 'thumbnails'
   */
  outputRoot: string
  /**
   * Signing keys, newest first; every key verifies, the first signs (rotation without downtime).
   * @default []
   */
  keys: string[]
  /**
   * Accept restthumbnails' SHA-1 `salted_hmac` secrets as well, for URLs minted by django-restthumbnails.
   * @default false
   */
  legacySignatures: boolean
  /**
   * How the bytes are sent: stream from Node, or delegate with `X-Accel-Redirect` / `X-Sendfile`.
   * @default 'stream'
   */
  responseMode: ResponseMode
  /**
   * Internal nginx location that `X-Accel-Redirect` points into (mapped to `outputRoot`).
   * @default '/_restthumbs_internal/'
   */
  sendfileBase: string
  /**
   * Seconds a render lock lives without being extended (restthumbnails' `LOCK_TIMEOUT`); also
   * how long a waiter waits.
   * @default 10
   */
  lockTimeout: number
  /**
   * What a request does while another worker renders the same thumbnail.
   * @default 'wait'
   */
  waiter: WaiterMode
  /**
   * `Retry-After` seconds of a 503 in `'503'` waiter mode.
   * @default 1
   */
  retryAfter: number
  /**
   * Cache for locks, negative entries and thumbnail records: `'memory'`, a `redis://`,
   * `rediss://`, `postgres://`, `sqlite:path` or `memcached://host:port,…` URL, or the name of an
   * alias configured with `configureCaches()` (shared with the rest of the app, so the handler
   * does not close it).
   * @default 'memory'
   */
  cache: string
  /**
   * Prefix of every cache key the server writes (restthumbnails' `KEY_PREFIX`).
   * @default 'restthumbs'
   */
  keyPrefix: string
  /**
   * `Cache-Control: public, max-age=` seconds of thumbnail responses.
   * @default 86400
   */
  maxAge: number
  /**
   * Seconds a missing source is remembered so junk URLs do not hit the disk or the origin.
   * @default 30
   */
  negativeTtl: number
  /**
   * Trust thumbnail records in the cache: a warm hit skips the `stat` of the output file.
   * Only safe when nothing deletes thumbnails behind the server's back.
   * @default false
   */
  trustCache: boolean
  /**
   * Formats a `.jpg`/`.jpeg`/`.png` URL is answered in when the request's `Accept` lists them
   * explicitly (`image/*` does not count), best first; every answer of those URLs then carries
   * `Vary: Accept`. Each variant is stored at `<output path>.<format>`, where the `nginx-config`
   * output finds it. Formats this build cannot encode are left out (AVIF needs an AVIF encoder).
   * @default []
   */
  negotiate: NegotiableFormat[]
  /**
   * Encoder quality (1–100) for JPEG and WebP.
   * @default 85
   */
  quality: number
  /**
   * Largest source, in bytes, fetched from `sourceUrl`.
   * @default 20000000
   */
  maxSourceBytes: number
  /**
   * Seconds a render may take before it is aborted (503); bounds how long a stuck render can
   * keep its lock alive.
   * @default 30
   */
  renderTimeout: number
  /**
   * Renders at once in this process (`0`: one per core, and always two fewer than the libuv
   * thread pool has, so warm hits and file I/O never wait behind renders).
   * @default 0
   */
  renderSlots: number
  /**
   * Renders allowed to wait for a slot; past it a render is refused with 503 and `Retry-After`.
   * @default 64
   */
  renderQueue: number
  /**
   * Bytes of hot thumbnails kept in memory (`0` disables): warm hits then cost no syscall.
   * @default 33554432
   */
  hotCacheBytes: number
  /**
   * Milliseconds a hot entry is trusted before the disk is consulted again; also the longest a
   * thumbnail deleted on disk keeps being served.
   * @default 1000
   */
  hotCacheMs: number
  /**
   * Write one access-log line per request to stdout.
   * @default true
   */
  accessLog: boolean
  /**
   * S3 bucket of source images; when set, sources come from it instead of `sourceRoot`/`sourceUrl`.
   * @default ''
   */
  sourceBucket: string
  /**
   * Key prefix of sources in `sourceBucket` (`media/`).
   * @default ''
   */
  sourcePrefix: string
  /**
   * S3 bucket thumbnails are written to, shared by every host; `outputRoot` is then a local copy.
   * Keys are the URL path after `basePath` (with `outputPrefix`), so a CDN can serve the bucket.
   * @default ''
   */
  outputBucket: string
  /**
   * Key prefix of thumbnails in `outputBucket`.
   * @default ''
   */
  outputPrefix: string
  /**
   * Endpoint of an S3-compatible store (`http://minio:9000`); empty: AWS.
   * @default ''
   */
  s3Endpoint: string
  /**
   * S3 region; empty: from the AWS environment, else `us-east-1`.
   * @default ''
   */
  s3Region: string
  /**
   * Path-style bucket addressing (`endpoint/bucket/key`), needed by most self-hosted stores.
   * @default false
   */
  s3PathStyle: boolean
  /**
   * S3 access key id; empty: the usual AWS credential chain.
   * @default ''
   */
  s3AccessKeyId: string
  /**
   * S3 secret access key (with `s3AccessKeyId`).
   * @default ''
   */
  s3SecretAccessKey: string
  /**
   * Seconds an S3 request may take (connect + answer) before the store counts as down (503).
   * @default 5
   */
  s3Timeout: number
  /**
   * Send S3 GetObject and PutObject (the requests of a cold render) signed by the SDK's signer
   * on a lean HTTP pool instead of the full SDK stack, which costs about three times the CPU.
   * Turn off for a store that only takes what the SDK sends verbatim.
   * @default true
   */
  s3LeanClient: boolean
  /**
   * Public base URL of the output bucket for `responseMode: 'redirect'` (`https://cdn.example.com/t/`).
   * @default ''
   */
  redirectBase: string
  /**
   * Path that answers Prometheus metrics (`/metrics`); empty: off in the handler. `serve` turns it
   * on by default.
   * @default ''
   */
  metricsPath: string
  /**
   * `serve` only: answer metrics on this port instead of the main one (`0`: the main port).
   * @default 0
   */
  metricsPort: number
  /**
   * Liveness path (always 200 while the process runs); empty: off.
   * @default '/healthz'
   */
  healthPath: string
  /**
   * Readiness path (200 when the cache and storages answer, else 503); empty: off.
   * @default '/readyz'
   */
  readyPath: string
  /**
   * Log lines as JSON (one object per line) or coloured text for a terminal.
   * @default 'json'
   */
  logFormat: LogFormat
  /**
   * Lowest level logged; request lines are `info`.
   * @default 'info'
   */
  logLevel: LogLevel
  /**
   * Addresses or CIDR ranges of proxies whose `X-Forwarded-For` / `X-Real-IP` is believed for
   * the client address in logs.
   * @default []
   */
  trustedProxies: string[]
  /**
   * `serve` only: worker processes (`0`: one per core).
   * @default 0
   */
  workers: number
}
