/**
 * Thumbnails in an S3-compatible bucket shared by every host of a farm, with the same key layout
 * as the local output (`<prefix>/<URL path after basePath>`), so a CDN or an nginx `proxy_pass`
 * in front of the bucket serves existing thumbnails without the app.
 *
 * The bucket is the truth; `root` is this host's local copy. A render writes the local file (the
 * native pipeline writes files atomically), then {@link S3OutputStorage.commit} uploads it before
 * the render lock is released, so a host that takes the lock next finds the object and never
 * renders it again. When responses stream the local copy, the client is answered during the
 * upload; when they point at the bucket (nginx proxy, redirect), after it. A miss on the local copy asks the bucket (`HeadObject`) and, when the bytes
 * are streamed from Node, downloads the object into the local copy. The local copy can be pruned
 * at any time; it is refilled from the bucket on demand.
 * @module
 */
import { readFile, unlink } from 'node:fs/promises'

import { isMissing, writeFileAtomic } from '../../fs.js'
import { SingleFlight } from '../../lock.js'
import { contentTypeFor } from '../responses.js'
import { LocalOutputStorage } from './local-output.js'
import { objectKey, S3Connection, type S3ConnectionOptions } from './s3-client.js'

/** Options of {@link S3OutputStorage}. */
export interface S3OutputStorageOptions extends S3ConnectionOptions {
  /** Bucket of the thumbnails. */
  bucket: string
  /** Key prefix of the thumbnails. @default '' */
  prefix?: string
  /** Local copy of the bucket on this host (rendered files land here first). */
  root: string
  /**
   * Download objects rendered by other hosts into `root` (needed to stream them from Node). Off
   * for `nginx` (proxied from the bucket) and `redirect` responses, which only need to know the
   * object exists.
   * @default true
   */
  download?: boolean
  /** `Cache-Control` stored with each object, for a CDN serving the bucket. @default none */
  cacheControl?: string
  /** A connection to share with the source storage; built from the options when absent. */
  connection?: S3Connection
}

/** Writes thumbnails to a bucket through a local copy. */
export class S3OutputStorage {
  /** The bucket. */
  readonly bucket: string
  /** The key prefix. */
  readonly prefix: string
  /** The local copy's directory. */
  readonly root: string
  /** Streamed responses read the local copy, so the upload may finish after the answer. */
  readonly answersFromLocalCopy: boolean
  /** Temp files of the local copy go here, outside the served tree (as for local output). */
  readonly tempDir: string
  readonly #local: LocalOutputStorage
  readonly #s3: S3Connection
  readonly #own: boolean
  readonly #download: boolean
  readonly #cacheControl: string | undefined
  readonly #fetches = new SingleFlight<boolean>()

  /** @param options - see {@link S3OutputStorageOptions} */
  constructor(options: S3OutputStorageOptions) {
    this.bucket = options.bucket
    this.prefix = options.prefix ?? ''
    this.root = options.root
    // Key rotation re-renders on S3 (no variants): hard links have no bucket equivalent.
    this.#local = new LocalOutputStorage({ root: options.root, variantRoot: false })
    this.tempDir = this.#local.tempDir
    this.#own = !options.connection
    this.#s3 = options.connection ?? new S3Connection(options)
    this.#download = options.download ?? true
    this.answersFromLocalCopy = this.#download
    this.#cacheControl = options.cacheControl
  }

  /**
   * The local path of an output (it may exist neither locally nor in the bucket yet).
   * @param outputPath - relative output path
   */
  pathFor(outputPath: string): Promise<string> {
    return this.#local.pathFor(outputPath)
  }

  /**
   * The local path and whether the thumbnail exists: locally, or else in the bucket (downloaded
   * first when streaming).
   * @param outputPath - relative output path
   * @param options - `onLocalMiss` is called before the bucket is asked
   */
  async lookup(
    outputPath: string,
    options: { onLocalMiss?(): void } = {},
  ): Promise<{ path: string; stats: { isFile(): boolean } | null; folderExists?: boolean }> {
    const local = await this.#local.lookup(outputPath)
    if (local.stats?.isFile()) return { path: local.path, stats: local.stats }
    options.onLocalMiss?.()
    const present = await this.#fetch(outputPath, local.path)
    if (present) return { path: local.path, stats: PRESENT }
    // Missing from the bucket a moment ago: the generator's re-check under the lock may then ask
    // the shared thumbnail records (one Redis round trip) instead of the bucket, since a host that
    // rendered it meanwhile wrote its record after the upload and before releasing the lock.
    return { path: local.path, stats: null, folderExists: false }
  }

  /**
   * Whether the thumbnail exists, asked by the generator under the lock and while waiting for
   * another host: the local file first, then the bucket.
   * @param outputPath - relative output path
   * @param absolutePath - its local path
   */
  async has(outputPath: string, absolutePath: string): Promise<boolean> {
    if ((await this.#local.lookup(outputPath)).stats?.isFile()) return true
    return this.#fetch(outputPath, absolutePath)
  }

  /**
   * Uploads a freshly rendered local file. The generator awaits this before it releases the
   * render lock, so no other host can miss the object and render it again.
   * @param outputPath - relative output path
   * @param absolutePath - the local file just written
   * @param bytes - its content, when the caller still holds it (no read back)
   */
  async commit(outputPath: string, absolutePath: string, bytes?: Uint8Array): Promise<void> {
    const key = objectKey(this.prefix, outputPath)
    const body = bytes ?? (await readFile(absolutePath))
    const ext = outputPath.slice(outputPath.lastIndexOf('.'))
    const contentType = contentTypeFor(ext)
    await this.#s3.call('PutObject', `${this.bucket}/${key}`, async (c, sdk, signal, lean) => {
      if (lean && (await lean.supports(this.bucket))) {
        const headers: Record<string, string> = { 'content-type': contentType }
        if (this.#cacheControl) headers['cache-control'] = this.#cacheControl
        return lean.put(this.bucket, key, body, headers, signal)
      }
      return c.send(
        new sdk.PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentType: contentType,
          ...(this.#cacheControl ? { CacheControl: this.#cacheControl } : {}),
        }),
        { abortSignal: signal },
      )
    })
  }

  /**
   * Deletes a thumbnail from the bucket and its local copy (`warm --force`).
   * @param outputPath - relative output path
   */
  async remove(outputPath: string): Promise<void> {
    const key = objectKey(this.prefix, outputPath)
    await this.#s3.call('DeleteObject', `${this.bucket}/${key}`, (c, sdk, signal) =>
      c.send(new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: signal }),
    )
    await unlink(await this.#local.pathFor(outputPath)).catch((err: unknown) => (isMissing(err) ? undefined : Promise.reject(err)))
  }

  /** Checks that the bucket answers (readiness). */
  ping(): Promise<void> {
    return this.#s3.ping(this.bucket)
  }

  /** Closes the connection when this storage built it. */
  async close(): Promise<void> {
    if (this.#own) await this.#s3.close()
  }

  /* One HEAD (or GET when downloading) per path at a time in this process: a burst of waiters
     polling for the same thumbnail costs one request per poll round, not one per waiter. */
  #fetch(outputPath: string, absolutePath: string): Promise<boolean> {
    return this.#fetches.do(outputPath, async () => {
      const key = objectKey(this.prefix, outputPath)
      const where = `${this.bucket}/${key}`
      if (!this.#download) {
        const head = await this.#s3.call('HeadObject', where, (c, sdk, signal) =>
          c.send(new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: signal }),
        )
        return head !== undefined
      }
      const bytes = await this.#s3.call('GetObject', where, async (c, sdk, signal, lean) => {
        if (lean && (await lean.supports(this.bucket))) {
          const out = await lean.get(this.bucket, key, signal)
          return new Uint8Array(await out.Body.arrayBuffer())
        }
        const out = await c.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: signal })
        return out.Body!.transformToByteArray()
      })
      if (bytes === undefined) return false
      await writeFileAtomic(absolutePath, bytes, { mkdirs: true, tempDir: this.tempDir }).catch((err: unknown) => {
        // Another request of this host wrote the same bytes first.
        if ((err as { code?: string }).code !== 'EEXIST') throw err
      })
      return true
    })
  }
}

const PRESENT = Object.freeze({ isFile: () => true })
