#!/usr/bin/env node
// The `restthumbs` command; the code lives in the CommonJS bundles of dist/ (scripts/build-dist.mjs).
// This file is CommonJS (bin/package.json): a bare CommonJS start skips Node's ES module loader,
// a tenth of a `node -e 0`. `--version` is answered here, and the plain `url` form by a small
// bundle, before anything else loads, so both are fast (bench/startup.mjs) and work without the
// platform package.
'use strict'
const args = process.argv.slice(2)
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  console.log(require('../package.json').version)
} else if (!(args[0] === 'url' && require('../dist/cli-url.cjs').runUrl(args.slice(1)))) {
  void (async () => {
    // `serve` needs a larger libuv pool (and fewer malloc arenas), fixed before any code runs here.
    const { relaunch, servePoolEnv } = require('../dist/cli-pool.cjs')
    const env = args[0] === 'serve' ? servePoolEnv(process.env) : undefined
    if (env) await relaunch(env, process.argv.slice(1))
    await require('../dist/cli.cjs').main(process.argv)
  })()
}
