/**
 * Source images from an S3-compatible bucket, for farms whose hosts share no disk. Implements the
 * remote half of `SourceStorageLike` (`read`), like the HTTP origin storage: the bytes are read
 * into memory, capped before and while reading, then rendered.
 * @module
 */
import { SourceNotFoundError, SourceTooLargeError } from '../errors.js'
import { objectKey, S3Connection, type S3ConnectionOptions } from './s3-client.js'

/** Options of {@link S3SourceStorage}. */
export interface S3SourceStorageOptions extends S3ConnectionOptions {
  /** Bucket of the sources. */
  bucket: string
  /** Key prefix of the sources (`media/`). @default '' */
  prefix?: string
  /** Largest source read, in bytes. @default 52428800 (50 MiB) */
  maxBytes?: number
  /** A connection to share with the output storage; built from the options when absent. */
  connection?: S3Connection
}

/** Reads source images from a bucket. */
export class S3SourceStorage {
  /** The bucket. */
  readonly bucket: string
  /** The key prefix. */
  readonly prefix: string
  readonly #maxBytes: number
  readonly #s3: S3Connection
  readonly #own: boolean

  /** @param options - see {@link S3SourceStorageOptions} */
  constructor(options: S3SourceStorageOptions) {
    this.bucket = options.bucket
    this.prefix = options.prefix ?? ''
    this.#maxBytes = options.maxBytes ?? 50 * 1024 * 1024
    this.#own = !options.connection
    this.#s3 = options.connection ?? new S3Connection(options)
  }

  /**
   * The bytes of a source object.
   * @param name - decoded relative source name
   * @param options - a signal that aborts the read (the render deadline)
   * @throws {@link SourceNotFoundError} (404), {@link SourceTooLargeError} (413),
   *   `StorageUnavailableError` (503), `PathTraversalError` (400)
   */
  async read(name: string, options: { signal?: AbortSignal } = {}): Promise<Buffer> {
    const key = objectKey(this.prefix, name)
    const max = this.#maxBytes
    const body = await this.#s3.call(
      'GetObject',
      `${this.bucket}/${key}`,
      async (client, sdk, signal, lean) => {
        const out =
          lean && (await lean.supports(this.bucket))
            ? await lean.get(this.bucket, key, signal)
            : await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: signal })
        const stream = out.Body as AsyncIterable<Uint8Array> & { destroy?(): void }
        // Refused from the header, before a byte of the body is read.
        if (out.ContentLength !== undefined && out.ContentLength > max) {
          stream.destroy?.()
          throw new SourceTooLargeError(max)
        }
        const chunks: Buffer[] = []
        let size = 0
        for await (const chunk of stream) {
          size += chunk.length
          if (size > max) {
            stream.destroy?.()
            throw new SourceTooLargeError(max)
          }
          // A view, not a copy: the concat below is the one copy.
          chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
        }
        return Buffer.concat(chunks, size)
      },
      options.signal,
    ).catch((err: unknown) => {
      // Our own typed errors pass through the connection's wrapping unchanged.
      const cause = (err as { cause?: unknown }).cause
      if (cause instanceof SourceTooLargeError) throw cause
      throw err
    })
    if (body === undefined) throw new SourceNotFoundError(name)
    return body
  }

  /** Checks that the bucket answers (readiness). */
  ping(): Promise<void> {
    return this.#s3.ping(this.bucket)
  }

  /** Closes the connection when this storage built it. */
  async close(): Promise<void> {
    if (this.#own) await this.#s3.close()
  }
}
