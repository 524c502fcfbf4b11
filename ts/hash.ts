/**
 * Digests and HMACs computed by the Rust core (RustCrypto). Strings are hashed as UTF-8, like
 * Python's `str.encode()` in the Django/djblets code whose signatures restthumbs reproduces.
 * Without the platform package they fall back to `node:crypto` (same bytes), so URL signing
 * works where only the CLI's `url` command or a web front end is installed.
 * @module
 */
import { createHash, createHmac } from 'node:crypto'

import { NativeBindingError } from './errors.js'
import { binding, callSync } from './native.js'
import { invalidOption } from './validate.js'

/** Bytes to hash: a string (hashed as UTF-8) or any `Uint8Array`, `Buffer` included. */
export type BinaryLike = string | Uint8Array

/**
 * Runs the native digest, or `node:crypto`'s when the binding is not installed.
 * @param nativeCall - the binding call
 * @param fallback - the same digest with node:crypto
 */
function digest(nativeCall: () => Buffer, fallback: () => Buffer): Buffer {
  try {
    return callSync(nativeCall)
  } catch (err) {
    if (err instanceof NativeBindingError) return fallback()
    throw err
  }
}

/**
 * Converts `value` to bytes without copying a `Uint8Array`.
 * @param value - the input
 * @param name - the argument name used in the error message
 */
function toBytes(value: BinaryLike, name: string): Uint8Array {
  if (typeof value === 'string') return Buffer.from(value, 'utf8')
  if (value instanceof Uint8Array) return value
  throw invalidOption(name, 'string or Uint8Array', value)
}

/** The digests both the Rust core and `node:crypto` compute. */
type Algorithm = 'sha256' | 'sha1'

/** HMAC of `data` under `key` with `algorithm`, natively or with node:crypto. */
function hmac(algorithm: Algorithm, key: BinaryLike, data: BinaryLike): Buffer {
  const k = toBytes(key, 'key')
  const d = toBytes(data, 'data')
  const native = algorithm === 'sha256' ? () => binding.hmacSha256(k, d) : () => binding.hmacSha1(k, d)
  return digest(native, () => createHmac(algorithm, k).update(d).digest())
}

/**
 * SHA-256 digest.
 * @param data - bytes or a UTF-8 string
 * @returns the 32-byte digest
 */
export function sha256(data: BinaryLike): Buffer {
  const bytes = toBytes(data, 'data')
  return digest(() => binding.sha256(bytes), () => createHash('sha256').update(bytes).digest())
}

/**
 * SHA-256 digest as lowercase hex.
 * @param data - bytes or a UTF-8 string
 * @returns 64 hex characters
 */
export function sha256Hex(data: BinaryLike): string {
  return sha256(data).toString('hex')
}

/**
 * SHA-1 digest. Only for interoperability (restthumbnails secrets, python-thumbnails file
 * names); do not rely on it alone for security.
 * @param data - bytes or a UTF-8 string
 * @returns the 20-byte digest
 */
export function sha1(data: BinaryLike): Buffer {
  const bytes = toBytes(data, 'data')
  return digest(() => binding.sha1(bytes), () => createHash('sha1').update(bytes).digest())
}

/**
 * SHA-1 digest as lowercase hex.
 * @param data - bytes or a UTF-8 string
 * @returns 40 hex characters
 */
export function sha1Hex(data: BinaryLike): string {
  return sha1(data).toString('hex')
}

/**
 * HMAC-SHA256 (RFC 2104). Any key length is valid.
 * @param key - the secret
 * @param data - the message
 * @returns the 32-byte MAC
 */
export function hmacSha256(key: BinaryLike, data: BinaryLike): Buffer {
  return hmac('sha256', key, data)
}

/**
 * HMAC-SHA256 as lowercase hex.
 * @param key - the secret
 * @param data - the message
 * @returns 64 hex characters
 */
export function hmacSha256Hex(key: BinaryLike, data: BinaryLike): string {
  return hmacSha256(key, data).toString('hex')
}

/**
 * HMAC-SHA1 (RFC 2104), as used by legacy restthumbnails URL secrets.
 * @param key - the secret
 * @param data - the message
 * @returns the 20-byte MAC
 */
export function hmacSha1(key: BinaryLike, data: BinaryLike): Buffer {
  return hmac('sha1', key, data)
}

/**
 * HMAC-SHA1 as lowercase hex.
 * @param key - the secret
 * @param data - the message
 * @returns 40 hex characters
 */
export function hmacSha1Hex(key: BinaryLike, data: BinaryLike): string {
  return hmacSha1(key, data).toString('hex')
}

/**
 * Django's `salted_hmac(keySalt, value, secret)` with SHA-1: the HMAC key is
 * `sha1(keySalt + secret)`. restthumbnails signs thumbnail URLs with it, using the source path as
 * the salt.
 * @param keySalt - the salt (restthumbnails: the source path)
 * @param value - the message
 * @param secret - Django's `SECRET_KEY`
 * @returns the 20-byte MAC
 */
export function saltedHmacSha1(keySalt: BinaryLike, value: BinaryLike, secret: BinaryLike): Buffer {
  const salt = toBytes(keySalt, 'keySalt')
  const sec = toBytes(secret, 'secret')
  const msg = toBytes(value, 'value')
  return digest(
    () => binding.saltedHmacSha1(salt, sec, msg),
    () => createHmac('sha1', createHash('sha1').update(salt).update(sec).digest()).update(msg).digest(),
  )
}
