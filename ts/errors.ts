/**
 * Typed error classes with stable `code`s. Every error restthumbs throws is a
 * {@link RestthumbsError}; catch by class or switch on `code`.
 * @module
 */

/** What every typed error accepts besides its message. */
export interface ErrorOptions {
  /** The error that led to this one. */
  cause?: unknown
}

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
  constructor(code: string, message: string, options: ErrorOptions & { status?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.status = options.status ?? 500
  }
}

/** A {@link RestthumbsError} subclass with a fixed code and status, built by {@link typedError}. */
export interface TypedErrorClass {
  /** Creates the error; `message` falls back to the class's default message. */
  new (message?: string, options?: ErrorOptions): RestthumbsError
  /** The stable code every instance carries. */
  readonly code: string
  /** The HTTP status every instance carries. */
  readonly status: number
}

/**
 * The base of an error class with a fixed code and HTTP status, so each class is one line:
 * `export class DecodeError extends typedError('ERR_DECODE', 415) {}`. The class keeps its own
 * name (`err.name === 'DecodeError'`), and `code`/`status` are readable on the class too.
 * @param code - stable code
 * @param status - HTTP status the handler answers with (default 500, as {@link RestthumbsError})
 * @param defaultMessage - message when the constructor gets none (default: the code)
 */
export function typedError(code: string, status = 500, defaultMessage: string = code): TypedErrorClass {
  return class extends RestthumbsError {
    static readonly code = code
    static readonly status = status
    constructor(message: string = defaultMessage, options: ErrorOptions = {}) {
      super(code, message, { cause: options.cause, status })
    }
  }
}

/** The source bytes could not be decoded (corrupt or truncated). HTTP 415. */
export class DecodeError extends typedError('ERR_DECODE', 415) {}

/** The source is in a format restthumbs does not decode. HTTP 415. */
export class UnsupportedFormatError extends typedError('ERR_UNSUPPORTED_FORMAT', 415) {}

/** The source or the requested output is over a configured pixel, byte or side limit. HTTP 413. */
export class TooLargeError extends typedError('ERR_TOO_LARGE', 413) {}

/** An option is missing, of the wrong type or out of range. HTTP 400. */
export class InvalidOptionError extends typedError('ERR_INVALID_OPTION', 400) {}

/** The encoder failed. HTTP 500. */
export class EncodeError extends typedError('ERR_ENCODE') {}

/** Reading or writing a file failed. HTTP 500. */
export class IoError extends typedError('ERR_IO') {}

/** A stored chunk of a large cached value is missing or was tampered with. HTTP 500. */
export class ChunkCorruptError extends typedError('ERR_CHUNK_CORRUPT') {}

/** The operation was cancelled through its `AbortSignal`. HTTP 499-like; answered as 503. */
export class AbortError extends typedError('ERR_ABORTED', 503, 'The operation was aborted') {}

/**
 * The native binding could not be loaded: the platform package (`restthumbs-<platform>`) is not
 * installed, or its binary does not load here. The message names the package and the command
 * that fixes it. Only the parts of restthumbs that need the Rust core throw it. HTTP 500.
 */
export class NativeBindingError extends typedError('ERR_NATIVE_BINDING') {}
