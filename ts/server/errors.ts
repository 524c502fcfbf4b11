/**
 * Errors of the thumbnail server: URL grammar, signatures, path safety, storages and origins.
 * Each has a stable `code` and the HTTP `status` the handler answers with. Messages never carry
 * absolute filesystem paths; the offending relative path or URL sits in its own property so logs
 * can show it without the response leaking where files live.
 * @module
 */
import { type ErrorOptions, RestthumbsError, typedError } from '../errors.js'

/**
 * The request path does not follow `/<source>/<size>/<method>/<secret><ext>`. HTTP 400.
 * With `notOurs` the path is outside the configured base path (or has no thumbnail shape at all),
 * so middleware should hand the request on (Express `next()`) instead of answering 400.
 */
export class InvalidUrlError extends RestthumbsError {
  /** True when the path is not under the base path: let the next handler try it (answered 404). */
  readonly notOurs: boolean

  /** @param message - details; @param options - `notOurs` flag and optional cause */
  constructor(message: string, options: ErrorOptions & { notOurs?: boolean } = {}) {
    super('ERR_INVALID_URL', message, { cause: options.cause, status: options.notOurs ? 404 : 400 })
    this.notOurs = options.notOurs ?? false
  }
}

/** The size segment is not `WxH`, `Wx` or `xH` within the allowed side. HTTP 400. */
export class InvalidSizeError extends typedError('ERR_INVALID_SIZE', 400) {}

/** The method segment is not one of `crop`, `scale`, `smart`. HTTP 400. */
export class InvalidMethodError extends typedError('ERR_INVALID_METHOD', 400) {}

/** The secret in the URL does not match any configured key. HTTP 401 (as django-restthumbnails). */
export class InvalidSecretError extends typedError(
  'ERR_INVALID_SECRET',
  401,
  'The URL signature does not match; build URLs with thumbnailUrl()',
) {}

/**
 * A path tries to leave its root: `..`, `.`, empty or absolute segments, backslashes, NUL,
 * percent-encoded leftovers, or a symlink that resolves outside the root. HTTP 400: the request is
 * malformed, and answering 400 before any lookup means the answer does not reveal whether the
 * target exists.
 */
export class PathTraversalError extends typedError('ERR_PATH_TRAVERSAL', 400) {
  /**
   * @param message - details
   * @param path - the offending relative path as received (never an absolute path of this machine)
   * @param options - optional cause
   */
  constructor(message: string, readonly path: string, options: ErrorOptions = {}) {
    super(message, options)
  }
}

/**
 * A relative path is longer than the filesystem takes: a segment over {@link MAX_SEGMENT_BYTES}
 * or a path over {@link MAX_RELATIVE_PATH_BYTES} UTF-8 bytes (or the system said
 * `ENAMETOOLONG`). HTTP 414 (URI Too Long).
 */
export class PathTooLongError extends typedError('ERR_PATH_TOO_LONG', 414) {
  /**
   * @param message - which limit
   * @param path - the offending relative path as received
   */
  constructor(message: string, readonly path: string) {
    super(message)
  }
}

/** Longest path segment, in UTF-8 bytes: `NAME_MAX` of ext4, XFS, btrfs and most others. */
export const MAX_SEGMENT_BYTES = 255

/**
 * Longest relative path, in UTF-8 bytes. Leaves room under Linux's 4,096-byte `PATH_MAX` for the
 * root, and under the parser's 2,048-character URL limit for size, method and secret.
 */
export const MAX_RELATIVE_PATH_BYTES = 1024

/**
 * The source image does not exist (missing file, a directory, origin 404/410, or remembered as
 * missing by the negative cache). HTTP 404.
 */
export class SourceNotFoundError extends typedError('ERR_SOURCE_NOT_FOUND', 404) {
  /**
   * @param source - the source path or URL that was not found (relative to the source root for
   *   local files)
   * @param options - optional cause
   */
  constructor(readonly source: string, options: ErrorOptions = {}) {
    super(`Source image not found: ${source}`, options)
  }
}

/**
 * The old name of {@link SourceNotFoundError}, from when the negative cache had its own class
 * with the same code.
 * @deprecated use {@link SourceNotFoundError}
 */
export const SourceMissingError = SourceNotFoundError
/** The old name of {@link SourceNotFoundError}. @deprecated */
export type SourceMissingError = SourceNotFoundError

/** The source is bigger than the configured `maxBytes`. HTTP 413. */
export class SourceTooLargeError extends typedError('ERR_SOURCE_TOO_LARGE', 413) {
  /**
   * @param limit - the configured limit in bytes
   * @param options - optional cause
   */
  constructor(readonly limit: number, options: ErrorOptions = {}) {
    super(`Source image is larger than the limit of ${limit} bytes; raise maxBytes to accept it`, options)
  }
}

/** The origin did not connect, send headers or finish the body in time. HTTP 504. */
export class OriginTimeoutError extends typedError('ERR_ORIGIN_TIMEOUT', 504) {
  /**
   * @param url - the URL that timed out
   * @param message - which timeout
   * @param options - optional cause
   */
  constructor(readonly url: string, message: string, options: ErrorOptions = {}) {
    super(message, options)
  }
}

/** The origin failed: connection error, 5xx, unexpected status, too many redirects. HTTP 502. */
export class OriginError extends typedError('ERR_ORIGIN', 502) {
  /** The URL that failed. */
  readonly url: string
  /** The origin's HTTP status, when it answered. */
  readonly originStatus: number | undefined

  /** @param url - the URL; @param message - details; @param options - origin status and cause */
  constructor(url: string, message: string, options: ErrorOptions & { originStatus?: number } = {}) {
    super(message, { cause: options.cause })
    this.url = url
    this.originStatus = options.originStatus
  }
}

/**
 * An origin host, scheme or resolved address is not allowed (SSRF protection): a host outside the
 * allowlist, a non-http(s) redirect, or an address that is loopback, private, link-local, CGNAT,
 * multicast or IPv4 embedded in IPv6. HTTP 403.
 */
export class OriginForbiddenError extends typedError('ERR_ORIGIN_FORBIDDEN', 403) {
  /**
   * @param target - the host or address that was refused
   * @param message - why
   * @param options - optional cause
   */
  constructor(readonly target: string, message: string, options: ErrorOptions = {}) {
    super(message, options)
  }
}

/** Another worker is rendering this thumbnail (`'503'` waiter mode, or `'wait'` timed out). HTTP 503. */
export class ThumbnailBusyError extends typedError('ERR_THUMBNAIL_BUSY', 503) {
  /**
   * @param retryAfter - seconds a client should wait before retrying
   */
  constructor(readonly retryAfter: number) {
    super('The thumbnail is being generated; retry shortly')
  }
}

/**
 * Another worker is rendering this thumbnail (`'404'` waiter mode: django-restthumbnails'
 * answer, with never-cache headers). HTTP 404.
 */
export class ThumbnailPendingError extends typedError('ERR_THUMBNAIL_PENDING', 404, 'The thumbnail is being generated') {}

/** The thumbnail file disappeared between lookup and response (deleted by a cleaner). HTTP 500. */
export class ThumbnailGoneError extends typedError('ERR_THUMBNAIL_GONE') {
  /** @param options - the fs error as `cause` */
  constructor(options: ErrorOptions = {}) {
    super('The thumbnail file disappeared before it could be sent', options)
  }
}

/**
 * The output storage is full (`ENOSPC`) or over quota (`EDQUOT`). HTTP 507 with `Retry-After`:
 * the request was fine and will succeed once space is freed.
 */
export class StorageFullError extends typedError('ERR_STORAGE_FULL', 507) {
  /**
   * @param retryAfter - seconds a client should wait
   * @param options - the fs error as `cause`
   */
  constructor(readonly retryAfter: number, options: ErrorOptions = {}) {
    super('No space left to write the thumbnail; free disk space or raise the quota', options)
  }
}

/** A server setting has the wrong type or an out-of-range value. HTTP 500. */
export class ConfigError extends typedError('ERR_CONFIG') {}

/** The object store did not answer in time, refused the connection, or failed. HTTP 503 + `Retry-After`. */
export class StorageUnavailableError extends typedError('ERR_STORAGE_UNAVAILABLE', 503) {
  /**
   * @param message - what failed and what to check
   * @param retryAfter - seconds a client should wait before retrying
   * @param options - optional cause
   */
  constructor(
    message: string,
    readonly retryAfter: number,
    options: ErrorOptions = {},
  ) {
    super(message, options)
  }
}

/** `@aws-sdk/client-s3` is not installed. HTTP 500. */
export class S3DriverMissingError extends typedError(
  'ERR_S3_DRIVER_MISSING',
  500,
  'S3 storage needs the AWS SDK: run `npm install @aws-sdk/client-s3`',
) {}
