/**
 * Starts a real, throw-away nginx for tests, configured with exactly the text that
 * `restthumbs nginx-config` prints (same generator), on a free loopback port.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'

import { nginxConfig, type NginxConfigOptions } from '../../ts/server/nginx-config.js'
import { freePort } from './process.js'
import { makeTempDir, removeDir } from './tmp.js'

const CANDIDATES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx', '/usr/bin/nginx']

/** A running test nginx. */
export interface TestNginx {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** The generated nginx.conf. */
  readonly config: string
  /** Lines of nginx's access log so far. */
  accessLog(): Promise<string[]>
  /** Stops nginx and removes its temp dir. */
  stop(): Promise<void>
}


/** The nginx binary, or an error telling how to install it. */
export function findNginx(): string {
  const found = CANDIDATES.find((p) => existsSync(p))
  if (!found) throw new Error('nginx is not installed: run `apt-get install nginx-light` (the e2e tests need a real nginx)')
  return found
}

/**
 * Starts nginx in the foreground (`daemon off`) with pid, logs and temp files in a fresh temp dir.
 * @param options - the `nginx-config` options; `listen` and `standaloneDir` are set here
 */
export async function startNginx(options: Omit<NginxConfigOptions, 'listen' | 'standaloneDir'>): Promise<TestNginx> {
  const bin = findNginx()
  const dir = await makeTempDir('nginx')
  for (const d of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) await mkdir(path.join(dir, d))
  let lastError: unknown
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    const config = nginxConfig({ ...options, listen: `127.0.0.1:${port}`, standaloneDir: dir })
    const conf = path.join(dir, 'nginx.conf')
    await writeFile(conf, config)
    const child = spawn(bin, ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log'), '-g', 'daemon off;'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr!.on('data', (d) => (stderr += d))
    try {
      await waitUntilListening(child, port, () => stderr)
    } catch (err) {
      lastError = err
      child.kill('SIGKILL')
      continue
    }
    return {
      url: `http://127.0.0.1:${port}`,
      port,
      config,
      async accessLog() {
        const text = await readFile(path.join(dir, 'access.log'), 'utf8').catch(() => '')
        return text.split('\n').filter(Boolean)
      },
      async stop() {
        await stopChild(child)
        await removeDir(dir)
      },
    }
  }
  await removeDir(dir)
  throw lastError
}

async function waitUntilListening(child: ChildProcess, port: number, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 5000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${stderr()}`)
    try {
      const res = await fetch(`http://127.0.0.1:${port}/__restthumbs_probe__`)
      await res.arrayBuffer()
      return
    } catch {
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  throw new Error(`nginx did not listen on ${port} within 5 s: ${stderr()}`)
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 3000)
    child.once('exit', () => {
      clearTimeout(t)
      resolve()
    })
    child.kill('SIGQUIT')
  })
}
