// Makes an esbuild CommonJS bundle load Node's built-in modules on first use instead of at
// require time. esbuild turns `import { createHash } from 'node:crypto'` into
// `var import_node_crypto = require("node:crypto")` at the top of the bundle and every use into a
// property read, `(0, import_node_crypto.createHash)(...)`. Replacing that require with a proxy
// that requires the module on its first property read keeps the semantics and defers the cost:
// crypto, http, net, zlib, readline and friends are not in Node's start-up snapshot, and together
// they cost about a fifth of a bare `node -e 0`. Default imports (`import path from 'node:path'`)
// go through esbuild's `__toESM`, which copies every property of the module; the proxy answers
// `default` with the module itself instead.

/** Defines `__lazyBuiltin(id, withDefault)`; prepended to the bundle. */
export const LAZY_BUILTIN_HELPER = [
  'const __lazyBuiltin = (id, withDefault) => {',
  '  let mod;',
  '  const load = () => (mod ??= require(id));',
  '  return new Proxy({}, {',
  "    get: (_, key) => (withDefault && key === 'default' ? load() : load()[key]),",
  '    has: (_, key) => key in load(),',
  '  });',
  '};',
].join('\n')

const ID = String.raw`"(node:[a-z_/]+)"`
const TO_ESM = new RegExp(String.raw`__toESM\(require\(${ID}\), 1\)`, 'g')
const PLAIN = new RegExp(String.raw`(=\s*)require\(${ID}\)`, 'g')

/**
 * Rewrites the built-in requires of a bundle's text.
 * @param {string} code - esbuild's CommonJS output
 * @returns {string} the new text
 */
export function lazyBuiltins(code) {
  return code.replace(TO_ESM, '__lazyBuiltin("$1", true)').replace(PLAIN, '$1__lazyBuiltin("$2")')
}
