#!/usr/bin/env node
// CPU the server spends per S3 request of a cold render, through the full `@aws-sdk/client-s3`
// stack (`s3LeanClient: false`) and through the lean path (the SDK's SigV4 signer on an undici
// pool): the output check (GET that 404s), the source download (GET of a 40 KB object) and the
// upload (PUT of 20 KB). Requests run one at a time against a real SeaweedFS on loopback; the
// sides alternate in rounds and the table gives medians of process CPU (user + system) per
// request, which a shared machine moves much less than wall time. The storages and the SeaweedFS
// launcher are TypeScript sources, so run this with the TypeScript loader:
//   node --import @oxc-node/core/register bench/s3-client.mjs [--requests 300] [--rounds 5]
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'

import { startSeaweedFS } from '../__test__/helpers/seaweedfs.ts'
import { flag, ROOT } from './lib.mjs'

const REQUESTS = flag('requests', 300)
const ROUNDS = flag('rounds', 5)
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

// The storages are internal (not exported by the package): import their sources.
const { S3Connection } = await import(path.join(ROOT, 'ts', 'server', 'storage', 's3-client.ts'))
const { S3SourceStorage } = await import(path.join(ROOT, 'ts', 'server', 'storage', 's3-source.ts'))
const { S3OutputStorage } = await import(path.join(ROOT, 'ts', 'server', 'storage', 's3-output.ts'))

const s3 = await startSeaweedFS()
const dir = await mkdtemp(path.join(tmpdir(), 'restthumbs-bench-s3-'))
try {
  await s3.createBucket('bench')
  await s3.put('bench', 'src/photo.jpg', randomBytes(40_000), 'image/jpeg')
  const sides = {}
  for (const lean of [false, true]) {
    const connection = new S3Connection({
      endpoint: s3.endpoint,
      region: s3.region,
      pathStyle: true,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      lean,
    })
    const source = new S3SourceStorage({ bucket: 'bench', prefix: 'src/', connection })
    const output = new S3OutputStorage({ bucket: 'bench', prefix: 'out', root: dir, connection })
    const body = randomBytes(20_000)
    let n = 0
    sides[lean ? 'lean' : 'sdk'] = {
      connection,
      ops: {
        'GET, 404 (output check)': () => source.read(`missing-${n++}.jpg`).catch((err) => (err.code === 'ERR_SOURCE_NOT_FOUND' ? undefined : Promise.reject(err))),
        'GET, 40 KB (source)': () => source.read('photo.jpg'),
        'PUT, 20 KB (upload)': () => output.commit(`t/${n++}.webp`, '', body),
      },
    }
  }
  const results = {}
  for (let round = 0; round < ROUNDS; round++) {
    for (const side of round % 2 ? ['lean', 'sdk'] : ['sdk', 'lean']) {
      for (const [op, run] of Object.entries(sides[side].ops)) {
        for (let i = 0; i < 20; i++) await run() // warm the sockets and the JIT
        const before = process.cpuUsage()
        const started = performance.now()
        for (let i = 0; i < REQUESTS; i++) await run()
        const cpu = process.cpuUsage(before)
        const key = `${op}|${side}`
        results[key] ??= { cpu: [], wall: [] }
        results[key].cpu.push((cpu.user + cpu.system) / 1000 / REQUESTS)
        results[key].wall.push((performance.now() - started) / REQUESTS)
      }
    }
    process.stderr.write(`round ${round + 1}/${ROUNDS}\n`)
  }
  console.log(`# S3 requests: server CPU per request, SDK vs lean path (${REQUESTS} requests x ${ROUNDS} rounds, ${new Date().toISOString()})\n`)
  console.log('| request | SDK CPU ms | lean CPU ms | lean / SDK | SDK wall ms | lean wall ms |')
  console.log('|---|---|---|---|---|---|')
  for (const op of Object.keys(sides.sdk.ops)) {
    const sdk = results[`${op}|sdk`]
    const lean = results[`${op}|lean`]
    const [c0, c1] = [median(sdk.cpu), median(lean.cpu)]
    console.log(`| ${op} | ${c0.toFixed(2)} | ${c1.toFixed(2)} | ${(c1 / c0).toFixed(2)}× | ${median(sdk.wall).toFixed(2)} | ${median(lean.wall).toFixed(2)} |`)
  }
  for (const side of Object.values(sides)) await side.connection.close()
} finally {
  await s3.stop()
  await rm(dir, { recursive: true, force: true })
}
