/**
 * Loads an optional driver package on first use, so `pg`, `better-sqlite3` and `memcache-client`
 * stay optional peer dependencies that only the backends using them need.
 * @module
 */
import { CacheDriverMissingError } from './errors.js'

const loaded = new Map<string, Promise<unknown>>()

/**
 * Imports `pkg` once (CommonJS packages give their `module.exports`).
 * @param pkg - the package name
 * @param user - who needs it, for the message (e.g. `DatabaseCache with postgres://`)
 * @throws {@link CacheDriverMissingError} naming `npm install <pkg>` when it is not installed
 */
export function loadDriver<T>(pkg: string, user: string): Promise<T> {
  let p = loaded.get(pkg)
  if (p === undefined) {
    p = import(pkg).then(
      (mod: { default?: unknown }) => mod.default ?? mod,
      (err: NodeJS.ErrnoException) => {
        loaded.delete(pkg)
        if (err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND') {
          throw new CacheDriverMissingError(`${user} needs the '${pkg}' package; install it with: npm install ${pkg}`, {
            cause: err,
          })
        }
        throw err
      },
    )
    loaded.set(pkg, p)
  }
  return p as Promise<T>
}
