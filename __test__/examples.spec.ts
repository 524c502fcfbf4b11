// Runs each file in examples/ as a user would (`node examples/x.mjs`, importing 'restthumbs'
// through the package's self-reference, so the built dist/ is what runs) and fetches a
// thumbnail through it: the signed URL its page links to, then a forged one.
import { spawn, type ChildProcess } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import test from 'ava'

import { decode } from './helpers/fixtures.js'
import { freePort } from './helpers/process.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const KEY = 'examples-spec-key'

interface Running {
  child: ChildProcess
  base: string
  output: () => string
}

/** Starts an example in a scratch folder holding a copy of media/, and waits until it answers. */
async function start(example: string, cwd: string): Promise<Running> {
  const port = await freePort()
  const child = spawn(process.execPath, [join(root, 'examples', example)], {
    cwd,
    env: { ...process.env, PORT: String(port), RESTTHUMBS_KEYS: KEY },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (b: Buffer) => (output += b))
  child.stderr!.on('data', (b: Buffer) => (output += b))
  const base = `http://127.0.0.1:${port}`
  for (let i = 0; i < 150; i++) {
    if (child.exitCode !== null) throw new Error(`${example} exited with ${child.exitCode}: ${output}`)
    if (await fetch(base).then(() => true, () => false)) return { child, base, output: () => output }
    await new Promise((r) => setTimeout(r, 100))
  }
  child.kill()
  throw new Error(`${example} did not answer on ${base} within 15 s: ${output}`)
}

for (const [example, width, format] of [
  ['node-http.mjs', 300, 'jpeg'],
  ['express.mjs', 200, 'webp'],
  ['fastify.mjs', 200, 'webp'],
] as const) {
  test(`examples/${example} serves the thumbnail its page links to, and refuses a forged one`, async (t) => {
    t.true(existsSync(join(root, 'dist/index.js')), 'dist/ is built (npm run build:ts)')
    const cwd = mkdtempSync(join(tmpdir(), 'restthumbs-example-'))
    cpSync(join(root, 'media'), join(cwd, 'media'), { recursive: true })
    const app = await start(example, cwd)
    try {
      const page = await (await fetch(app.base)).text()
      const src = /<img src="([^"]+)">/.exec(page)?.[1]
      t.truthy(src, `the page links a thumbnail: ${page}`)
      t.regex(src!, /^\/thumbnails\/sunset\.jpg\/\d*x\d*\/\w+\/[\w-]{22}\.(jpg|webp)$/)

      const res = await fetch(app.base + src)
      t.is(res.status, 200, app.output())
      t.is(res.headers.get('content-type'), `image/${format}`)
      const raw = await decode(Buffer.from(await res.arrayBuffer()))
      t.is(raw.width, width)
      // sunset.jpg is 3:2 (960x640): 'smart' crops to 300x200, 'scale' keeps the ratio.
      t.is(raw.height, Math.round((width * 2) / 3))

      const forged = await fetch(app.base + src!.replace(/[\w-]{22}(\.\w+)$/, 'AAAAAAAAAAAAAAAAAAAAAA$1'))
      t.is(forged.status, 401)
    } finally {
      app.child.kill()
      rmSync(cwd, { recursive: true, force: true })
    }
  })
}
