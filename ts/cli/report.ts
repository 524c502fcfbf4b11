/**
 * How the command line reports a failed command, shared by commander's path and the `url` fast
 * path so both print the same.
 * @module
 */

/**
 * Prints `error: <code>: <message>` (the code when it is one of ours) and sets exit code 1.
 * @param err - what the command threw
 */
export function reportError(err: unknown): void {
  const e = err as Error & { code?: string }
  process.stderr.write(`error: ${e.code && /^ERR_/.test(e.code) ? `${e.code}: ` : ''}${e.message}\n`)
  process.exitCode = 1
}
