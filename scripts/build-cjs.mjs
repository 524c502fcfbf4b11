// Builds the CommonJS entries next to tsc's ESM output, so `require('restthumbs')` works on every
// Node that `engines` allows (require(esm) only arrived in 20.19):
//   dist/index.cjs, dist/fastify.cjs   one esbuild bundle each of the TypeScript sources
//   dist/**/*.d.cts                     tsc's declarations with relative `.js` specifiers as `.cjs`
// Dependencies stay external, and the fastify entry requires ./index.cjs instead of bundling a
// second copy of it. Run after `tsc -p tsconfig.json`.
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { build } from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))

/** The fastify plugin imports the package entry; in CommonJS that is the index bundle. */
const indexExternal = {
  name: 'index-external',
  setup(b) {
    b.onResolve({ filter: /^\.\/index\.js$/ }, (args) => (args.importer.endsWith('fastify.ts') ? { path: './index.cjs', external: true } : undefined))
  },
}

await build({
  absWorkingDir: root,
  entryPoints: { index: 'ts/index.ts', fastify: 'ts/fastify.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  packages: 'external',
  platform: 'node',
  target: 'node20.9',
  format: 'cjs',
  sourcemap: true,
  logLevel: 'warning',
  plugins: [indexExternal],
  // native.ts builds its `require` from import.meta.url; in CommonJS that is this file's URL.
  define: { 'import.meta.url': '__restthumbsFileUrl' },
  banner: { js: "const __restthumbsFileUrl = require('node:url').pathToFileURL(__filename).href;" },
})

/** Every declaration file under a folder. */
async function* declarations(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* declarations(path)
    else if (entry.name.endsWith('.d.ts')) yield path
  }
}

// `from './x.js'` and `import('./x.js')` in a .d.cts resolve to ./x.d.cts.
const relativeJs = /((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]*?)\.js(['"])/g
for await (const path of declarations(join(root, 'dist'))) {
  const text = await readFile(path, 'utf8')
  await writeFile(path.replace(/\.d\.ts$/, '.d.cts'), text.replace(relativeJs, '$1$2.cjs$3'))
}
