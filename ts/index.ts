/**
 * restthumbs: on-the-fly thumbnails from signed URLs, and a Django-style cache framework, over a
 * Rust core. This is the one public entry point.
 * @module
 */
export * from './errors.js'
export * from './hash.js'
export { makeCacheKey, MAKE_CACHE_KEY_DEFAULTS, MAX_KEY_SIZE, type MakeCacheKeyOptions } from './cache/keys.js'
export * from './cache/errors.js'
export * from './cache/options.js'
export { serialize, deserialize } from './cache/serialize.js'
export { BaseCache, type CacheEntries, type CacheEntry, type MadeKey, type Ttl } from './cache/base.js'
export { CacheBackend } from './cache/backend.js'
export { CACHE_KEY_WARNING, CACHE_KEY_WARNING_CODE, cacheKeyProblem } from './cache/key-rules.js'
export { MemoryCache, MEMORY_CACHE_DEFAULTS, type MemoryCacheOptions } from './cache/memory.js'
export { LruStore, LRU_STORE_DEFAULTS, type LruStoreOptions, type StoreEntry } from './store.js'
export { RedisCache, REDIS_CACHE_DEFAULTS, type RedisCacheOptions } from './cache/redis.js'
export { RedisClient, type RedisClientOptions } from './cache/redis-client.js'
export { DummyCache } from './cache/dummy.js'
export { FileCache, FILE_CACHE_DEFAULTS, FILE_CACHE_SUFFIX, type FileCacheOptions } from './cache/file.js'
export { ChainCache, type ChainCacheOptions } from './cache/chain.js'
export { MemcachedCache, MEMCACHED_CACHE_DEFAULTS, type MemcachedCacheOptions } from './cache/memcached.js'
export { parseMemcachedServers } from './cache/memcached-format.js'
export { HashRing } from './cache/hash-ring.js'
export { backendForUrl, cacheFromUrl } from './cache/url.js'
export { cachePage, CACHE_PAGE_DEFAULTS, type CachePageOptions, type PageCache, type NodeHandler } from './cache/page.js'
export { getCacheKey, learnCacheKey, type PageRequest } from './cache/page-keys.js'
export { makeTemplateFragmentKey } from './cache/fragment.js'
export { DatabaseCache, DATABASE_CACHE_DEFAULTS, DEFAULT_TABLE as DATABASE_CACHE_TABLE, type DatabaseCacheOptions, type CreateTableResult } from './cache/database.js'
export { createCacheTable, type CreateCacheTableOptions } from './cache/database-table.js'
export { caches, configureCaches, getCache, closeCaches, BUILTIN_BACKENDS, type CacheConfig, type CacheClass } from './cache/registry.js'
export * from './server/errors.js'
export {
  parseThumbnailPath,
  parseSize,
  PARSE_DEFAULTS,
  METHODS as THUMBNAIL_METHODS,
  EXTENSIONS as THUMBNAIL_EXTENSIONS,
  type ParseOptions,
  type ThumbnailRequest,
  type ThumbnailMethod,
  type ThumbnailExtension,
} from './server/url.js'
export { Signer, SIGNER_DEFAULTS, type SignerOptions } from './server/signing.js'
export { thumbnailUrl, type ThumbnailUrlOptions, type SizeInput } from './server/url-builder.js'
export { safeResolve, SafeRoot, SAFE_ROOT_DEFAULTS, type SafeResolveOptions, type SafeRootOptions, type SafeLookup } from './server/paths.js'
export { LocalSourceStorage, LOCAL_SOURCE_DEFAULTS, type LocalSourceStorageOptions } from './server/storage/local-source.js'
export { LocalOutputStorage, type LocalOutputStorageOptions } from './server/storage/local-output.js'
export { HttpSourceStorage, HTTP_SOURCE_DEFAULTS, type HttpSourceStorageOptions } from './server/storage/http-source.js'
export { HostAllowlist } from './server/net/host-allowlist.js'
export { RenderSlots, RenderQueueFullError, defaultRenderSlots, libuvPoolSize } from './server/render-slots.js'
export { S3SourceStorage, type S3SourceStorageOptions } from './server/storage/s3-source.js'
export { S3OutputStorage, type S3OutputStorageOptions } from './server/storage/s3-output.js'
export { S3Connection, type S3ConnectionOptions } from './server/storage/s3-client.js'
export { ThumbnailMetrics, type ThumbnailMetricsOptions, type RequestOutcome } from './server/metrics.js'
export { createLogger, TrustedProxies, Episodes, type LoggerOptions, type EpisodeKind } from './server/log.js'
export { DogpileLock, SingleFlight, waitFor, LOCK_DEFAULTS, LockOptionError, type DogpileLockOptions, type LockCache, type LockHandle, type WaitForOptions } from './lock.js'
export { resolveConfig, configFromEnv, configFromFile, envName, SERVER_DEFAULTS, type ServerConfig, type ResponseMode, type WaiterMode, type LogFormat, type LogLevel, type ConfigSources } from './server/config.js'
export { ThumbnailGenerator } from './server/generator.js'
export type { HandlerStats, ThumbnailSpec, RendererLike, SourceStorageLike, OutputStorageLike, ThumbnailRecordsLike, GeneratorCache, EnsureTrace, RenderHooks } from './server/contracts.js'
export { sendStream, sendNginx, sendApache, sendError, etagFor, contentTypeFor, NEVER_CACHE, type ThumbnailFile } from './server/responses.js'
export { createThumbnailHandler, type ThumbnailHandler, type ThumbnailHandlerOptions, type HandlerDependencies } from './server/handler.js'
export { createServer, type ServerOptions, type ThumbnailServer } from './server/server.js'
export { nginxConfig, NGINX_DEFAULTS, type NginxConfigOptions } from './server/nginx-config.js'
export { chooseFormat, enabledFormats, NEGOTIABLE_FORMATS, type NegotiableFormat } from './server/negotiate.js'
export { cacheMemoize, cacheMemoizeIter, CACHE_MEMOIZE_DEFAULTS, type CacheMemoizeOptions, type ItemsSource } from './cache/memoize.js'
export { ThumbnailCache, thumbnailRecordProblem, THUMBNAIL_CACHE_DEFAULTS, type ThumbnailCacheOptions, type ThumbnailRecord } from './server/thumbnail-records.js'
export { thumbnail, thumbnailFile, probe, probeFile, type Thumbnail, type ThumbnailFileInfo, type ProbeInfo } from './image/thumbnail.js'
export {
  THUMBNAIL_DEFAULTS,
  resolveThumbnailOptions,
  type ThumbnailOptions,
  type ThumbnailFileOptions,
  type ThumbnailFormat,
  type Gravity,
  type ThumbnailMethod as ImageMethod,
} from './image/options.js'
export { parsePreset, parsePresets, readPresetFile, type Preset } from './warm/presets.js'
export { walkSources, readSourceList, SOURCE_IMAGE, type SourceItem, type SourceListOptions } from './warm/sources.js'
export { warmTasks, warmTaskGroups, specFor, type WarmTask, type UrlSettings } from './warm/tasks.js'
export { runWarm, createCounters, failureOf, type WarmCounters, type WarmFailure, type WarmRunOptions, type WarmRunResult } from './warm/runner.js'
export { createWarmEngine, signerOf, type WarmEngine } from './warm/engine.js'
export { MissingDependencyError, InvalidPresetError, SourceListError, WarmFailedError } from './warm/errors.js'
export { createThumbnailer, getThumbnail, THUMBNAILER_DEFAULTS, type Thumbnailer, type ThumbnailerOptions, type GetThumbnailOptions, type ThumbnailResult, type ThumbnailAlternative } from './server/get-thumbnail.js'
export { parseThumbnailSize, parseCrop, type CropPoint } from './server/thumbnail-size.js'
export type { LookupFunction } from './server/net/guarded-connect.js'
export type { ThumbnailSize } from './server/url.js'
export type { EnsureResult, GeneratorOptions } from './server/generator.js'
export type { RenderInfo, RenderOptions } from './server/contracts.js'
export type { RespondOptions, HotFiles, HotEntry } from './server/responses.js'
export type {
  NativeThumbnailOptions,
  NativeThumbnail,
  NativeThumbnailFileInfo,
  NativeProbeInfo,
  ThumbnailDefaults,
  InputFormat,
} from './native.js'
export type { CullPolicy } from './cache/database-driver.js'
export type { CircuitBreakerOptions, CircuitState } from './cache/breaker.js'
export type { ScriptedClient } from './cache/redis-client.js'
export type { EpisodeLogger } from './server/log.js'
