/**
 * Typed error classes with stable `code`s. Every error restthumbs throws is a
 * {@link RestthumbsError}; catch by class or switch on `code`.
 * @module
 */

/** Base class of every restthumbs error. `code` is stable across releases. */
export class RestthumbsError extends Error {
  /** Stable machine-readable code, e.g. `ERR_DECODE`. */
  readonly code: string
  /** HTTP status the thumbnail handler answers with for this error. */
  readonly status: number

  /**
   * @param code - stable code
   * @param message - what went wrong and how to fix it
   * @param options - `cause` of the error, and the HTTP `status` (default 500)
   */
  constructor(code: string, message: string, options: { cause?: unknown; status?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.status = options.status ?? 500
  }
}

/** The source bytes could not be decoded (corrupt or truncated). HTTP 415. */
export class DecodeError extends RestthumbsError {
  /** @param message - details; @param options - optional cause */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_DECODE', message, { ...options, status: 415 })
  }
}

/** The source is in a format restthumbs does not decode. HTTP 415. */
export class UnsupportedFormatError extends RestthumbsError {
  /** @param message - details; @param options - optional cause */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_UNSUPPORTED_FORMAT', message, { ...options, status: 415 })
  }
}

/** The source or the requested output is over a configured pixel, byte or side limit. HTTP 413. */
export class TooLargeError extends RestthumbsError {
  /** @param message - details; @param options - optional cause */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_TOO_LARGE', message, { ...options, status: 413 })
  }
}

/** An option is missing, of the wrong type or out of range. HTTP 400. */
export class InvalidOptionError extends RestthumbsError {
  /** @param message - details; @param options - optional cause */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_INVALID_OPTION', message, { ...options, status: 400 })
  }
}

/** The encoder failed. HTTP 500. */
export class EncodeError extends RestthumbsError {
  /** @param message - details; @param options - optional cause */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_ENCODE', message, { ...options, status: 500 })
  }
}

/** Reading or writing a file failed. HTTP 500. */
export class IoError extends RestthumbsError {
  /** @param message - details; @param options - optional cause */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_IO', message, { ...options, status: 500 })
  }
}

/** A stored chunk of a large cached value is missing or was tampered with. */
export class ChunkCorruptError extends RestthumbsError {
  /** @param message - details; @param options - optional cause */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_CHUNK_CORRUPT', message, { ...options, status: 500 })
  }
}

/** The operation was cancelled through its `AbortSignal`. HTTP 499-like; answered as 503. */
export class AbortError extends RestthumbsError {
  /** @param message - details; @param options - optional cause */
  constructor(message = 'The operation was aborted', options: { cause?: unknown } = {}) {
    super('ERR_ABORTED', message, { ...options, status: 503 })
  }
}

/**
 * The native binding could not be loaded: the platform package (`restthumbs-<platform>`) is not
 * installed, or its binary does not load here. The message names the package and the command
 * that fixes it. Only the parts of restthumbs that need the Rust core throw it.
 */
export class NativeBindingError extends RestthumbsError {
  /** @param message - what is missing and how to install it; @param options - the loader's error */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_NATIVE_BINDING', message, options)
  }
}
