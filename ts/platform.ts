/**
 * Which prebuilt platform package this process needs, and the error that says how to get it
 * when the binding does not load. The binaries ship as one npm package per target
 * (`restthumbs-linux-x64-gnu`, …), listed in `optionalDependencies` with `os`/`cpu`/`libc`, so
 * npm installs only the one that fits (the same scheme as sharp's `@img/sharp-*` packages).
 * @module
 */
import { NativeBindingError } from './errors.js'

/** napi platform suffixes of the published binaries (`npm/<suffix>/`). */
export const PREBUILT_PLATFORMS: readonly string[] = Object.freeze([
  'linux-x64-gnu',
  'linux-arm64-gnu',
  'linux-x64-musl',
  'linux-arm64-musl',
  'darwin-x64',
  'darwin-arm64',
  'win32-x64-msvc',
])

/** `gnu` or `musl` on Linux (glibc reports its version in the process report), else `''`. */
function libc(): string {
  if (process.platform !== 'linux') return ''
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header
  return header?.glibcVersionRuntime ? 'gnu' : 'musl'
}

/** The napi platform suffix of this process, e.g. `linux-x64-gnu` or `darwin-arm64`. */
export function platformSuffix(): string {
  const base = `${process.platform}-${process.arch}`
  if (process.platform === 'linux') return `${base}-${libc()}`
  if (process.platform === 'win32') return `${base}-msvc`
  return base
}

/**
 * The error thrown when the binding does not load, naming the package and the fix.
 * @param cause - what the napi loader threw
 * @param version - the restthumbs version the platform package must match
 * @param installed - whether the platform package resolves (then its binary failed to load)
 */
export function bindingLoadError(cause: unknown, version: string, installed: boolean): NativeBindingError {
  const suffix = platformSuffix()
  const pkg = `restthumbs-${suffix}`
  let message: string
  if (!PREBUILT_PLATFORMS.includes(suffix)) {
    message =
      `restthumbs has no prebuilt binary for ${suffix} (prebuilt: ${PREBUILT_PLATFORMS.join(', ')}). ` +
      'Build it from source in the restthumbs folder with Rust and nasm installed: `npm run build:native`.'
  } else if (installed) {
    const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause)
    message =
      `The restthumbs binary in ${pkg} failed to load (${reason}). ` +
      `Reinstall it with \`npm install ${pkg}@${version}\`; the Linux gnu binaries need glibc 2.17 or newer.`
  } else {
    message =
      `The restthumbs native binding for ${suffix} is missing: the optional dependency ${pkg} is not installed ` +
      `(npm skips it with --omit=optional or --no-optional, or when node_modules was installed on another platform). ` +
      `Fix: \`npm install ${pkg}@${version}\`.`
  }
  return new NativeBindingError(message, { cause })
}
