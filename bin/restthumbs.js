#!/usr/bin/env node
// The `restthumbs` command; the code lives in the compiled TypeScript. `--version` is answered
// here, before anything else loads, so it works (and is fast) even without the platform package.
const args = process.argv.slice(2)
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const { readFileSync } = await import('node:fs')
  console.log(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version)
} else {
  // `serve` needs a larger libuv pool (and fewer malloc arenas), fixed before any code runs here.
  const { relaunch, servePoolEnv } = await import('../dist/cli/pool.js')
  const env = args[0] === 'serve' ? servePoolEnv(process.env) : undefined
  if (env) await relaunch(env, process.argv.slice(1))
  const { main } = await import('../dist/cli/main.js')
  await main(process.argv)
}
