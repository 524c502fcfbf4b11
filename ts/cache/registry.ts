/**
 * The cache registry (Django's `CACHES` setting, `caches[...]` and `get_cache`).
 *
 * - `configureCaches({...})` declares aliases; instances are created lazily on first use and
 *   reused, so `caches.get('name')` is synchronous.
 * - A backend is a built-in name, a `BaseCache` subclass, or a module specifier
 *   (`'pkg'`, `'pkg#ExportName'`, an absolute path or `file:` URL; default export unless
 *   `#ExportName`). Importing a module is asynchronous, so aliases using one must be loaded once
 *   with `await getCache(alias)` (or `await caches.load()`) before `caches.get(alias)`.
 * - `getCache(aliasOrBackend, params)` is therefore async: a configured alias gives the shared
 *   instance; anything else builds a new, unregistered cache the caller must `close()`.
 * @module
 */
import { bool, mergeDefaults } from '../validate.js'
import { BaseCache } from './base.js'
import { ChainCache } from './chain.js'
import { DatabaseCache } from './database.js'
import { DummyCache } from './dummy.js'
import { InvalidCacheBackendError } from './errors.js'
import { FileCache } from './file.js'
import { MemcachedCache } from './memcached.js'
import { MemoryCache } from './memory.js'
import type { KeyFunction } from './options.js'
import { RedisCache } from './redis.js'
import { backendForUrl } from './url.js'

/** A cache class the registry can build: its constructor takes one options object. */
export type CacheClass = new (options: Record<string, unknown>) => BaseCache

/** One alias of the configuration (Django's `CACHES['name']`). */
export interface CacheConfig {
  /**
   * `'memory' | 'file' | 'redis' | 'database' | 'memcached' | 'dummy' | 'chain'`, a cache URL
   * (`redis://…`, `postgres://…`, `sqlite:path`, `memcached://h1:11211,h2:11211`), a `BaseCache`
   * subclass, or a module specifier.
   */
  backend: string | CacheClass
  /** Backend location: memory namespace (default: the alias), directory, or a Redis, database or memcached URL. */
  location?: string
  /** Default timeout in seconds (`null` = forever). @default 300 */
  timeout?: number | null
  /** Prefix of stored keys. @default '' */
  keyPrefix?: string
  /** Default key version. @default 1 */
  version?: number
  /** Stored-key builder. */
  keyFunction?: KeyFunction
  /**
   * Backend-specific options (`maxEntries`, `strict`, `hashLongKeys`, …). For `chain`, `tiers` is
   * a list of aliases, caches or nested configs.
   */
  options?: Record<string, unknown>
}

/** Built-in backends by name. */
export const BUILTIN_BACKENDS: Readonly<Record<string, CacheClass>> = Object.freeze({
  memory: MemoryCache as unknown as CacheClass,
  file: FileCache as unknown as CacheClass,
  redis: RedisCache as unknown as CacheClass,
  dummy: DummyCache as unknown as CacheClass,
  chain: ChainCache as unknown as CacheClass,
  database: DatabaseCache as unknown as CacheClass,
  memcached: MemcachedCache as unknown as CacheClass,
})

const DEFAULT_CONFIG: Readonly<Record<string, CacheConfig>> = Object.freeze({ default: { backend: 'memory' } })

let config: Record<string, CacheConfig> = { ...DEFAULT_CONFIG }
const instances = new Map<string, BaseCache>()
const loadedModules = new Map<string, CacheClass>()
const creating = new Set<string>()

function isCacheClass(value: unknown): value is CacheClass {
  return typeof value === 'function' && (value === BaseCache || value.prototype instanceof BaseCache)
}

function describeBackend(backend: unknown): string {
  return typeof backend === 'function' ? `class ${backend.name || '(anonymous)'}` : `'${String(backend)}'`
}

function expected(): string {
  return (
    `expected one of ${Object.keys(BUILTIN_BACKENDS).join(', ')}, a BaseCache subclass, ` +
    `or an importable module specifier ('pkg' or 'pkg#ExportName')`
  )
}

function unknownAlias(alias: string): InvalidCacheBackendError {
  const names = Object.keys(config)
  return new InvalidCacheBackendError(
    `Unknown cache alias '${alias}'; configured aliases: ${names.length ? names.join(', ') : '(none)'}`,
  )
}

/** Resolves a backend without importing; undefined for a module not loaded yet. */
function resolveLoaded(backend: string | CacheClass, alias?: string): CacheClass | undefined {
  if (typeof backend === 'function') {
    if (isCacheClass(backend)) return backend
    throw new InvalidCacheBackendError(
      `Cache backend ${describeBackend(backend)}${alias ? ` for alias '${alias}'` : ''} is not a BaseCache subclass; ${expected()}`,
    )
  }
  if (typeof backend !== 'string' || backend === '') {
    throw new InvalidCacheBackendError(
      `Invalid cache backend ${describeBackend(backend)}${alias ? ` for alias '${alias}'` : ''}; ${expected()}`,
    )
  }
  if (Object.hasOwn(BUILTIN_BACKENDS, backend)) return BUILTIN_BACKENDS[backend]
  return backendForUrl(backend) ?? loadedModules.get(backend)
}

function looksLikeModule(name: string): boolean {
  return /[/.#@:]/.test(name)
}

async function resolveBackend(backend: string | CacheClass, alias?: string): Promise<CacheClass> {
  const found = resolveLoaded(backend, alias)
  if (found) return found
  const spec = backend as string
  if (!looksLikeModule(spec)) {
    throw new InvalidCacheBackendError(`Unknown cache backend '${spec}'${alias ? ` for alias '${alias}'` : ''}; ${expected()}`)
  }
  const hash = spec.lastIndexOf('#')
  const [specifier, exportName] = hash > 0 ? [spec.slice(0, hash), spec.slice(hash + 1)] : [spec, 'default']
  let mod: Record<string, unknown>
  try {
    mod = await import(specifier)
  } catch (err) {
    throw new InvalidCacheBackendError(
      `Cannot import cache backend module '${specifier}'${alias ? ` for alias '${alias}'` : ''}: ${(err as Error).message}`,
      { cause: err },
    )
  }
  const cls = mod[exportName]
  if (!isCacheClass(cls)) {
    const exports = Object.keys(mod).filter((k) => isCacheClass(mod[k]))
    throw new InvalidCacheBackendError(
      `Module '${specifier}' has no BaseCache subclass export '${exportName}'; ` +
        `cache exports: ${exports.length ? exports.join(', ') : '(none)'}`,
    )
  }
  loadedModules.set(spec, cls)
  return cls
}

/** Flattens a config into the one options object every backend constructor takes. */
function toOptions(cfg: CacheConfig, alias: string | undefined, cls: CacheClass): Record<string, unknown> {
  const { location, timeout, keyPrefix, version, keyFunction } = cfg
  const opts = mergeDefaults<Record<string, unknown>>({ ...cfg.options }, { location, timeout, keyPrefix, version, keyFunction })
  // A URL backend (`memcached://h1:11211,h2:11211`) is also its location.
  if (opts.location === undefined && backendForUrl(cfg.backend)) opts.location = cfg.backend
  // Django's locmem shares '' between aliases; one store per alias is the less surprising default.
  if (cls === BUILTIN_BACKENDS.memory && opts.location === undefined && alias !== undefined) opts.location = alias
  if (cls === BUILTIN_BACKENDS.chain) opts.tiers = resolveTiers(opts.tiers, alias)
  return opts
}

function resolveTiers(tiers: unknown, alias: string | undefined): BaseCache[] {
  if (!Array.isArray(tiers) || tiers.length === 0) {
    throw new InvalidCacheBackendError(
      `Chain cache${alias ? ` '${alias}'` : ''} needs options.tiers: a non-empty list of aliases, caches or configs`,
    )
  }
  return tiers.map((t, i) => {
    if (t instanceof BaseCache) return t
    if (typeof t === 'string') return caches.get(t)
    if (t && typeof t === 'object' && 'backend' in t) return build(t as CacheConfig, undefined, `${alias ?? 'chain'}[${i}]`)
    throw new InvalidCacheBackendError(`Invalid tier ${i} of chain cache${alias ? ` '${alias}'` : ''}: ${String(t)}`)
  })
}

function build(cfg: CacheConfig, alias: string | undefined, label = alias): BaseCache {
  const cls = resolveLoaded(cfg.backend, label)
  if (!cls) {
    const hint = looksLikeModule(String(cfg.backend))
      ? `; it is a module: load it first with await getCache('${alias ?? label}') or await caches.load()`
      : `; ${expected()}`
    throw new InvalidCacheBackendError(`Cache backend '${String(cfg.backend)}' for '${label}' is not loaded${hint}`)
  }
  return new cls(toOptions(cfg, alias, cls))
}

/** Imports every module backend named in a config (including nested chain tiers). */
async function preload(cfg: CacheConfig, label: string): Promise<void> {
  await resolveBackend(cfg.backend, label)
  const tiers = cfg.options?.tiers
  if (!Array.isArray(tiers)) return
  for (const [i, t] of tiers.entries()) {
    if (typeof t === 'string') {
      if (!Object.hasOwn(config, t)) throw unknownAlias(t)
      await preload(config[t], t)
    } else if (t && typeof t === 'object' && 'backend' in t) await preload(t as CacheConfig, `${label}[${i}]`)
  }
}

/**
 * Declares the cache aliases, replacing the previous configuration (the initial one is
 * `{ default: { backend: 'memory' } }`). Built-in and class backends are checked at once.
 * Instances already created stay open and in use: call {@link closeCaches} first to reconfigure.
 * @param next - alias → config
 * @throws {@link InvalidCacheBackendError} for a backend that cannot be a cache
 */
export function configureCaches(next: Record<string, CacheConfig>): void {
  if (next === null || typeof next !== 'object') {
    throw new InvalidCacheBackendError(`Expected an object of alias → config but received ${String(next)}`)
  }
  for (const [alias, cfg] of Object.entries(next)) {
    if (!cfg || typeof cfg !== 'object') throw new InvalidCacheBackendError(`Cache alias '${alias}' has no config object`)
    const found = resolveLoaded(cfg.backend, alias)
    if (!found && !(typeof cfg.backend === 'string' && looksLikeModule(cfg.backend))) {
      throw new InvalidCacheBackendError(`Unknown cache backend '${String(cfg.backend)}' for alias '${alias}'; ${expected()}`)
    }
  }
  config = { ...next }
}

/** The configured caches, created on first use and shared (Django's `caches`). */
export const caches = Object.freeze({
  /**
   * The cache for an alias (created on first use, then reused).
   * @throws {@link InvalidCacheBackendError} for an unknown alias, or a module backend not loaded
   */
  get(alias: string): BaseCache {
    const existing = instances.get(alias)
    if (existing) return existing
    if (!Object.hasOwn(config, alias)) throw unknownAlias(alias)
    if (creating.has(alias)) throw new InvalidCacheBackendError(`Cache alias '${alias}' refers to itself through chain tiers`)
    creating.add(alias)
    try {
      const cache = build(config[alias], alias)
      instances.set(alias, cache)
      return cache
    } finally {
      creating.delete(alias)
    }
  },
  /** The `default` alias. */
  get default(): BaseCache {
    return caches.get('default')
  },
  /** Whether an alias is configured. */
  has(alias: string): boolean {
    return Object.hasOwn(config, alias)
  },
  /** The configured aliases. */
  aliases(): string[] {
    return Object.keys(config)
  },
  /**
   * The caches of every configured alias, in configuration order, created as needed (Django's
   * `caches.all()`); with `initializedOnly`, only those already created, creating none.
   * @param options - `initializedOnly` (default false)
   */
  all(options: { initializedOnly?: boolean } = {}): BaseCache[] {
    const initializedOnly = bool('initializedOnly', options.initializedOnly ?? false)
    return Object.keys(config)
      .filter((alias) => !initializedOnly || instances.has(alias))
      .map((alias) => caches.get(alias))
  },
  /** Imports the module backends of every alias, so `get` works for all of them. */
  async load(): Promise<void> {
    for (const [alias, cfg] of Object.entries(config)) await preload(cfg, alias)
  },
})

/**
 * Gets a cache: a configured alias gives its shared instance; otherwise `aliasOrBackend` is a
 * backend (built-in name, class or module specifier) built with `params` into a new cache that
 * is not registered (close it yourself).
 * @param aliasOrBackend - alias, backend name, class or module specifier
 * @param params - config for a new cache (`location`, `timeout`, … and `options`)
 * @throws {@link InvalidCacheBackendError}
 */
export async function getCache(
  aliasOrBackend: string | CacheClass,
  params?: Omit<CacheConfig, 'backend'>,
): Promise<BaseCache> {
  if (typeof aliasOrBackend === 'string' && params === undefined && Object.hasOwn(config, aliasOrBackend)) {
    await preload(config[aliasOrBackend], aliasOrBackend)
    return caches.get(aliasOrBackend)
  }
  const cfg: CacheConfig = { ...params, backend: aliasOrBackend }
  if (
    typeof aliasOrBackend === 'string' &&
    !Object.hasOwn(BUILTIN_BACKENDS, aliasOrBackend) &&
    !looksLikeModule(aliasOrBackend)
  ) {
    throw new InvalidCacheBackendError(
      `Unknown cache alias or backend '${aliasOrBackend}'; ` +
        `configured aliases: ${Object.keys(config).join(', ') || '(none)'}; backends: ${expected()}`,
    )
  }
  await preload(cfg, typeof aliasOrBackend === 'string' ? aliasOrBackend : aliasOrBackend.name)
  return build(cfg, undefined, typeof aliasOrBackend === 'string' ? aliasOrBackend : aliasOrBackend.name)
}

/** Closes every cache created through {@link caches} and forgets them (Django closes per request). */
export async function closeCaches(): Promise<void> {
  const all = [...instances.values()]
  instances.clear()
  await Promise.all(all.map((c) => c.close()))
}
