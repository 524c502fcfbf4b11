/**
 * Errors of the warm command, its queue mode and its workers. Each has a stable `code` and a
 * message that says how to fix the problem.
 * @module
 */
import { RestthumbsError } from '../errors.js'

/** An optional package is needed for the feature asked for; the message names the install command. */
export class MissingDependencyError extends RestthumbsError {
  /** The npm package to install. */
  readonly packageName: string
  /**
   * @param packageName - e.g. `bullmq`
   * @param feature - what needs it, e.g. `--queue`
   * @param cause - the import error
   */
  constructor(packageName: string, feature: string, cause?: unknown) {
    super('ERR_MISSING_DEPENDENCY', `${feature} needs the optional package ${packageName}: run npm install ${packageName}`, { cause })
    this.packageName = packageName
  }
}

/** A preset (`--preset` or a line of `--preset-file`) is malformed. */
export class InvalidPresetError extends RestthumbsError {
  /** @param message - expected vs received; @param cause - the parser's error */
  constructor(message: string, cause?: unknown) {
    super('ERR_INVALID_PRESET', message, { cause })
  }
}

/** The source listing could not be read (missing folder or list file, HTTP error of a listing URL). */
export class SourceListError extends RestthumbsError {
  /** @param message - what could not be read and why; @param cause - the underlying error */
  constructor(message: string, cause?: unknown) {
    super('ERR_SOURCE_LIST', message, { cause })
  }
}

/** Some thumbnails of a warm run failed; they are listed in the report. */
export class WarmFailedError extends RestthumbsError {
  /** @param failed - failures; @param total - thumbnails attempted; @param report - report path, if any */
  constructor(failed: number, total: number, report?: string) {
    super('ERR_WARM_FAILED', `${failed} of ${total} thumbnails failed${report ? `; see ${report}` : ' (listed above; --report <file> writes them as JSON lines)'}`)
  }
}
