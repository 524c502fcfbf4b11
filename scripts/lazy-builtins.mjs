// Makes an esbuild CommonJS bundle load Node's built-in modules on first use instead of at
// require time. esbuild turns `import { createHash } from 'node:crypto'` into
// `var import_node_crypto = require("node:crypto")` at the top of the bundle and every use into a
// property read, `(0, import_node_crypto.createHash)(...)`. Replacing that require with an object
// whose properties are getters that require the module on first read keeps the semantics (reads
// stay live, as esbuild's own interop getters are) and defers the cost: crypto, http, net, zlib,
// readline and friends are not in Node's start-up snapshot, and together they cost about a fifth
// of a bare `node -e 0`. Default imports (`import path from 'node:path'`) go through esbuild's
// `__toESM`, which copies every property of the module at load; here `default` is one more getter.
// Getters rather than a Proxy: V8 inlines them, so hot paths (path.join, fs.promises.stat on every
// request) pay nothing measurable.
import { createRequire } from 'node:module'

/** Defines `__lazyBuiltin(id, keys)`; prepended to the bundle. */
export const LAZY_BUILTIN_HELPER = [
  'const __lazyBuiltin = (id, keys) => {',
  '  let mod;',
  '  const ns = {};',
  '  for (const key of keys) {',
  "    const get = key === 'default' ? () => (mod ??= require(id)) : () => (mod ??= require(id))[key];",
  '    Object.defineProperty(ns, key, { get, enumerable: true });',
  '  }',
  '  return ns;',
  '};',
].join('\n')

const require = createRequire(import.meta.url)
const IMPORT = /(\b[A-Za-z_$][\w$]*)( = )(?:__toESM\(require\("(node:[a-z_/]+)"\), 1\)|require\("(node:[a-z_/]+)"\))/g

/**
 * Rewrites the built-in requires of a bundle's text.
 * @param {string} code - esbuild's CommonJS output
 * @param {string} file - its name, for errors
 * @returns {string} the new text
 * @throws when an import variable is used other than by reading a named property, or reads a
 *   property the module does not have: the getters would not cover it
 */
export function lazyBuiltins(code, file) {
  return code.replace(IMPORT, (_, name, eq, viaToEsm, plain) => {
    const id = viaToEsm ?? plain
    const keys = new Set()
    for (const m of code.matchAll(new RegExp(String.raw`(?<![\w$.])${name.replace(/\$/g, '\\$')}\b(\.[A-Za-z_$][\w$]*)?`, 'g'))) {
      const after = code.slice(m.index + m[0].length, m.index + m[0].length + 3)
      if (m[1]) keys.add(m[1].slice(1))
      else if (!/^( = |;|, )/.test(after)) throw new Error(`${file}: ${name} (${id}) is used as a value; lazyBuiltins cannot cover it`)
    }
    const mod = require(id)
    for (const key of keys) {
      if (key === 'default' ? !viaToEsm : !(key in mod)) throw new Error(`${file}: ${id} has no export ${key}`)
    }
    return `${name}${eq}__lazyBuiltin("${id}", ${JSON.stringify([...keys].sort())})`
  })
}
