/**
 * The S3 connection shared by the S3 source and output storages: `@aws-sdk/client-s3` is an
 * optional peer dependency imported on first use, every request has a deadline (a hung store
 * must give 503s, not hung requests), and failures become typed errors: a missing key is "not
 * found", anything else is {@link StorageUnavailableError} (503 with `Retry-After`).
 * @module
 */
import type { S3Client } from '@aws-sdk/client-s3'

import { S3DriverMissingError, StorageUnavailableError } from '../errors.js'
import { checkRelativePath } from '../paths.js'
import { LeanS3 } from './s3-lean.js'

export { S3DriverMissingError, StorageUnavailableError }

/** Where and how to reach an S3-compatible store. */
export interface S3ConnectionOptions {
  /** Endpoint of a self-hosted store (`http://127.0.0.1:8333`); empty or absent: AWS. */
  endpoint?: string
  /** Region; empty: the AWS environment (`AWS_REGION`), else `us-east-1`. */
  region?: string
  /** Path-style addressing (`endpoint/bucket/key`). @default false */
  pathStyle?: boolean
  /** Access key id; absent: the AWS credential chain (env, profile, instance role). */
  accessKeyId?: string
  /** Secret access key, with `accessKeyId`. */
  secretAccessKey?: string
  /** Seconds one operation may take, retries included. @default 5 */
  timeout?: number
  /** Seconds clients are told to wait (`Retry-After`) while the store is down. @default 1 */
  retryAfter?: number
  /**
   * Send the hot requests of a cold render (`GetObject`, `PutObject` of a rendered thumbnail)
   * signed by the SDK's own signer on a lean undici pool instead of the full SDK stack (about
   * a third of the CPU). Turn off for a store that takes only what the SDK sends verbatim.
   * @default true
   */
  lean?: boolean
}

type S3Module = typeof import('@aws-sdk/client-s3')

/** The opened connection: the SDK client, its module, and the lean path when it is on. */
export interface S3Handle {
  /** The SDK client. */
  client: S3Client
  /** The SDK module (command classes). */
  sdk: S3Module
  /** GetObject and PutObject on the lean path; absent when turned off. */
  lean?: LeanS3
}

let loading: Promise<S3Module> | undefined

/** Imports `@aws-sdk/client-s3` once; throws {@link S3DriverMissingError} when it is missing. */
export function loadS3(): Promise<S3Module> {
  loading ??= import('@aws-sdk/client-s3').catch((err: unknown) => {
    loading = undefined
    throw new S3DriverMissingError(undefined, { cause: err })
  })
  return loading
}

/** A lazily built S3 client plus the deadline and error policy every call goes through. */
export class S3Connection {
  readonly #o: S3ConnectionOptions
  #client: Promise<S3Handle> | undefined

  /** @param options - see {@link S3ConnectionOptions} */
  constructor(options: S3ConnectionOptions = {}) {
    this.#o = options
  }

  /** Seconds of `Retry-After` while the store is down. */
  get retryAfter(): number {
    return this.#o.retryAfter ?? 1
  }

  /** The client and the SDK module (first call imports the SDK). */
  async open(): Promise<S3Handle> {
    this.#client ??= loadS3().then(async (sdk) => {
      const o = this.#o
      const timeoutMs = (o.timeout ?? 5) * 1000
      const client = new sdk.S3Client({
        ...(o.endpoint ? { endpoint: o.endpoint } : {}),
        region: o.region || process.env.AWS_REGION || 'us-east-1',
        forcePathStyle: o.pathStyle ?? false,
        ...(o.accessKeyId ? { credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey ?? '' } } : {}),
        maxAttempts: 2,
        // Checksums only where S3 requires them (as before SDK 3.729): a CRC32 of every body
        // in JavaScript, both ways, costs CPU the renders on the same cores need, and TLS or
        // the loopback already guards the bytes in transit.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        requestHandler: { connectionTimeout: Math.min(timeoutMs, 2000), requestTimeout: timeoutMs },
      })
      // The signer ships with the SDK (a dependency of @aws-sdk/core); without it, the SDK path.
      const sigv4 = o.lean === false ? undefined : await import('@smithy/signature-v4').catch(() => undefined)
      const lean = sigv4 ? new LeanS3(client, sigv4, Math.min(timeoutMs, 2000)) : undefined
      return { client, sdk, lean }
    })
    return this.#client
  }

  /**
   * Runs one S3 operation under the deadline. `undefined` for a missing key or bucket object
   * (404); every other failure is a {@link StorageUnavailableError} naming the bucket and key.
   * @param what - operation name for messages (`GetObject`)
   * @param where - `bucket/key` for messages
   * @param run - the call; gets the client, the SDK and an abort signal
   * @param signal - an outer signal (the render deadline) that also aborts the call
   */
  async call<T>(
    what: string,
    where: string,
    run: (client: S3Client, sdk: S3Module, signal: AbortSignal, lean: LeanS3 | undefined) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T | undefined> {
    const { client, sdk, lean } = await this.open()
    // Cancelled while the SDK was loading (a source download no longer needed).
    signal?.throwIfAborted()
    const deadline = new AbortController()
    const timer = setTimeout(() => deadline.abort(new Error(`no answer within ${this.#o.timeout ?? 5} s`)), (this.#o.timeout ?? 5) * 1000)
    timer.unref()
    const onOuter = () => deadline.abort(signal!.reason)
    signal?.addEventListener('abort', onOuter, { once: true })
    try {
      return await run(client, sdk, deadline.signal, lean)
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } }
      if (e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404) return undefined
      const reason = deadline.signal.aborted ? `no answer within ${this.#o.timeout ?? 5} s` : `${e.name ?? 'Error'}: ${(err as Error).message}`
      const hint =
        e.$metadata?.httpStatusCode === 403
          ? 'check the S3 credentials and the bucket policy'
          : 'check that the store is up and reachable (s3Endpoint) and the bucket exists'
      throw new StorageUnavailableError(`S3 ${what} ${where} failed (${reason}); ${hint}`, this.retryAfter, { cause: err })
    } finally {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onOuter)
    }
  }

  /** Checks that `bucket` answers (readiness). */
  async ping(bucket: string): Promise<void> {
    const found = await this.call('HeadBucket', bucket, (c, sdk, signal) => c.send(new sdk.HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal }))
    if (found === undefined) throw new StorageUnavailableError(`S3 bucket ${bucket} does not exist; create it or fix the bucket setting`, this.retryAfter)
  }

  /** Closes the client's sockets. */
  async close(): Promise<void> {
    const opened = this.#client
    this.#client = undefined
    const handle = opened && (await opened.catch(() => undefined))
    if (!handle) return
    handle.client.destroy()
    await handle.lean?.close()
  }
}

/**
 * The object key of a relative name under a prefix. The name is checked like a local path (no
 * `..`, no absolute or dot segments), so a URL cannot reach keys outside the prefix.
 * @param prefix - key prefix (`media` or `media/`; empty for the bucket root)
 * @param name - decoded relative name
 */
export function objectKey(prefix: string, name: string): string {
  checkRelativePath(name)
  if (!prefix) return name
  return prefix.endsWith('/') ? prefix + name : `${prefix}/${name}`
}
