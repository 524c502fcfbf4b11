/**
 * URL secrets. The default is HMAC-SHA256 (computed by the Rust core) over the canonical
 * `source|size|method|ext`, base64url, truncated; `legacy: 'restthumbnails'` reproduces
 * django-restthumbnails byte for byte so existing URLs keep working during a migration.
 *
 * The signed fields are exactly the fields the parser returns: the decoded source and the
 * canonical size, method and extension. None of them can contain the `|` separator except the
 * source, which comes first, so the message is unambiguous.
 * @module
 */
import { timingSafeEqual } from 'node:crypto'

import { hmacSha256, saltedHmacSha1 } from '../hash.js'
import { integer, invalidOption } from '../validate.js'
import { InvalidSecretError } from './errors.js'

/** Options of {@link Signer}. */
export interface SignerOptions {
  /**
   * Signing keys, newest first. URLs are signed with the first key and verified against every
   * key, so a new key can be put in front while URLs signed with the old ones stay valid.
   */
  keys: ReadonlyArray<string | Uint8Array>
  /**
   * Bytes of the HMAC kept in the URL (8 to 32). 16 bytes = 22 base64url characters = 128 bits,
   * far beyond what online guessing can reach. Ignored with `legacy` (always the full 40 hex).
   * @default 16
   */
  length?: number
  /**
   * `'restthumbnails'`: secrets compatible with django-restthumbnails (hex HMAC-SHA1 of
   * `source-size-method-ext` keyed by Django's `salted_hmac(key_salt=source)` with the key as
   * `SECRET_KEY`).
   * @default undefined
   */
  legacy?: 'restthumbnails'
}

/** Defaults of the optional {@link SignerOptions}. */
export const SIGNER_DEFAULTS = Object.freeze({ length: 16 })

/**
 * Signs and verifies thumbnail URL secrets.
 * @example
 * const signer = new Signer({ keys: [process.env.THUMBNAIL_KEY!] })
 * const secret = signer.sign('animals/kitten.jpg', '100x100', 'crop', '.jpg')
 */
export class Signer {
  readonly #keys: Buffer[]
  readonly #length: number
  readonly #legacy: 'restthumbnails' | undefined

  /** @param options - see {@link SignerOptions} */
  constructor(options: SignerOptions) {
    const keys = options?.keys
    if (!Array.isArray(keys) || keys.length === 0) {
      throw invalidOption('keys', 'non-empty array', keys)
    }
    this.#keys = keys.map((key, i) => {
      if (typeof key === 'string' && key.length > 0) return Buffer.from(key, 'utf8')
      if (key instanceof Uint8Array && key.length > 0) return Buffer.from(key)
      throw invalidOption(`keys[${i}]`, 'non-empty string or Buffer', key)
    })
    this.#length = integer('length', options.length ?? SIGNER_DEFAULTS.length, { min: 8, max: 32 })
    if (options.legacy !== undefined && options.legacy !== 'restthumbnails') {
      throw invalidOption('legacy', "'restthumbnails' or undefined", options.legacy)
    }
    this.#legacy = options.legacy
  }

  /**
   * The secret for a thumbnail, with the first (newest) key.
   * @param source - decoded source path, e.g. `animals/kitten.jpg`
   * @param size - canonical size, e.g. `100x100` or `500x0`
   * @param method - `crop`, `scale` or `smart`
   * @param ext - extension with its dot, e.g. `.jpg`
   */
  sign(source: string, size: string, method: string, ext: string): string {
    return this.#secret(this.#keys[0], source, size, method, ext)
  }

  /**
   * True when `secret` matches the secret of any configured key. Every key is tried (no early
   * exit) and each comparison is constant-time over equal-length buffers; a secret of the wrong
   * length is compared against the expected value itself so the work done stays the same.
   * @param source - decoded source path
   * @param size - canonical size
   * @param method - method
   * @param ext - extension with its dot
   * @param secret - the secret from the URL
   */
  verify(source: string, size: string, method: string, ext: string, secret: string): boolean {
    if (typeof secret !== 'string') return false
    const given = Buffer.from(secret, 'utf8')
    let ok = false
    for (const key of this.#keys) {
      const expected = Buffer.from(this.#secret(key, source, size, method, ext), 'utf8')
      const sameLength = given.length === expected.length
      const match = timingSafeEqual(sameLength ? given : expected, expected)
      ok = (sameLength && match) || ok
    }
    return ok
  }

  /**
   * Like {@link Signer.verify} but throws.
   * @param request - the parsed fields and the secret from the URL
   * @throws {@link InvalidSecretError}
   */
  assertValid(request: { source: string; size: string; method: string; ext: string; secret: string }): void {
    if (!this.verify(request.source, request.size, request.method, request.ext, request.secret)) {
      throw new InvalidSecretError()
    }
  }

  #secret(key: Buffer, source: string, size: string, method: string, ext: string): string {
    if (this.#legacy === 'restthumbnails') {
      return saltedHmacSha1(source, [source, size, method, ext].join('-'), key).toString('hex')
    }
    const mac = hmacSha256(key, [source, size, method, ext].join('|'))
    return mac.subarray(0, this.#length).toString('base64url')
  }
}
