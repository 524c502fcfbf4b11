/**
 * Errors of the thumbnail server: URL grammar, signatures, path safety, storages and origins.
 * Each has a stable `code` and the HTTP `status` the handler answers with. Messages never carry
 * absolute filesystem paths; the offending relative path or URL sits in its own property so logs
 * can show it without the response leaking where files live.
 * @module
 */
import { RestthumbsError } from '../errors.js'

/**
 * The request path does not follow `/<source>/<size>/<method>/<secret><ext>`. HTTP 400.
 * With `notOurs` the path is outside the configured base path (or has no thumbnail shape at all),
 * so middleware should hand the request on (Express `next()`) instead of answering 400.
 */
export class InvalidUrlError extends RestthumbsError {
  /** True when the path is not under the base path: let the next handler try it (answered 404). */
  readonly notOurs: boolean

  /** @param message - details; @param options - `notOurs` flag and optional cause */
  constructor(message: string, options: { notOurs?: boolean; cause?: unknown } = {}) {
    super('ERR_INVALID_URL', message, { cause: options.cause, status: options.notOurs ? 404 : 400 })
    this.notOurs = options.notOurs ?? false
  }
}

/** The size segment is not `WxH`, `Wx` or `xH` within the allowed side. HTTP 400. */
export class InvalidSizeError extends RestthumbsError {
  /** @param message - details; @param options - optional cause */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_INVALID_SIZE', message, { ...options, status: 400 })
  }
}

/** The method segment is not one of `crop`, `scale`, `smart`. HTTP 400. */
export class InvalidMethodError extends RestthumbsError {
  /** @param message - details; @param options - optional cause */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_INVALID_METHOD', message, { ...options, status: 400 })
  }
}

/** The secret in the URL does not match any configured key. HTTP 401 (as django-restthumbnails). */
export class InvalidSecretError extends RestthumbsError {
  /** @param message - details; @param options - optional cause */
  constructor(message = 'The URL signature does not match; build URLs with thumbnailUrl()', options: { cause?: unknown } = {}) {
    super('ERR_INVALID_SECRET', message, { ...options, status: 401 })
  }
}

/**
 * A path tries to leave its root: `..`, `.`, empty or absolute segments, backslashes, NUL,
 * percent-encoded leftovers, or a symlink that resolves outside the root. HTTP 400: the request is
 * malformed, and answering 400 before any lookup means the answer does not reveal whether the
 * target exists.
 */
export class PathTraversalError extends RestthumbsError {
  /** The offending relative path as received (never an absolute path of this machine). */
  readonly path: string

  /** @param message - details; @param path - offending relative path; @param options - optional cause */
  constructor(message: string, path: string, options: { cause?: unknown } = {}) {
    super('ERR_PATH_TRAVERSAL', message, { ...options, status: 400 })
    this.path = path
  }
}

/** The source image does not exist (missing file, a directory, or origin 404/410). HTTP 404. */
export class SourceNotFoundError extends RestthumbsError {
  /** The source path or URL that was not found (relative to the source root for local files). */
  readonly source: string

  /** @param source - the missing source; @param options - optional cause */
  constructor(source: string, options: { cause?: unknown } = {}) {
    super('ERR_SOURCE_NOT_FOUND', `Source image not found: ${source}`, { ...options, status: 404 })
    this.source = source
  }
}

/** The source is bigger than the configured `maxBytes`. HTTP 413. */
export class SourceTooLargeError extends RestthumbsError {
  /** The configured limit in bytes. */
  readonly limit: number

  /** @param limit - the byte limit; @param options - optional cause */
  constructor(limit: number, options: { cause?: unknown } = {}) {
    super('ERR_SOURCE_TOO_LARGE', `Source image is larger than the limit of ${limit} bytes; raise maxBytes to accept it`, {
      ...options,
      status: 413,
    })
    this.limit = limit
  }
}

/** The origin did not connect, send headers or finish the body in time. HTTP 504. */
export class OriginTimeoutError extends RestthumbsError {
  /** The URL that timed out. */
  readonly url: string

  /** @param url - the URL; @param message - which timeout; @param options - optional cause */
  constructor(url: string, message: string, options: { cause?: unknown } = {}) {
    super('ERR_ORIGIN_TIMEOUT', message, { ...options, status: 504 })
    this.url = url
  }
}

/** The origin failed: connection error, 5xx, unexpected status, too many redirects. HTTP 502. */
export class OriginError extends RestthumbsError {
  /** The URL that failed. */
  readonly url: string
  /** The origin's HTTP status, when it answered. */
  readonly originStatus: number | undefined

  /** @param url - the URL; @param message - details; @param options - origin status and cause */
  constructor(url: string, message: string, options: { originStatus?: number; cause?: unknown } = {}) {
    super('ERR_ORIGIN', message, { cause: options.cause, status: 502 })
    this.url = url
    this.originStatus = options.originStatus
  }
}

/**
 * An origin host, scheme or resolved address is not allowed (SSRF protection): a host outside the
 * allowlist, a non-http(s) redirect, or an address that is loopback, private, link-local, CGNAT,
 * multicast or IPv4 embedded in IPv6. HTTP 403.
 */
export class OriginForbiddenError extends RestthumbsError {
  /** The host or address that was refused. */
  readonly target: string

  /** @param target - host or address; @param message - why; @param options - optional cause */
  constructor(target: string, message: string, options: { cause?: unknown } = {}) {
    super('ERR_ORIGIN_FORBIDDEN', message, { ...options, status: 403 })
    this.target = target
  }
}
