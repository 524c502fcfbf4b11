#!/usr/bin/env node
// The `restthumbs` command; the code lives in the compiled TypeScript.
import { relaunch, servePoolEnv } from '../dist/cli/pool.js'

// `serve` needs a libuv pool larger than the default 4 threads, fixed before any code runs here.
const env = process.argv[2] === 'serve' ? servePoolEnv(process.env) : undefined
if (env) await relaunch(env, process.argv.slice(1))

const { main } = await import('../dist/cli/main.js')
await main(process.argv)
