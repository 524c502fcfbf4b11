/**
 * The last step of a render: store the thumbnail record and, for a shared bucket, upload the
 * file. Which comes first and what the response waits for depends on where answers are sent from.
 * @module
 */
import type { OutputStorageLike, RenderHooks, ThumbnailRecordsLike } from './contracts.js'
import type { ThumbnailRecord } from './thumbnail-records.js'

/**
 * Publishes a freshly written thumbnail and returns its size, plus the upload when it still runs.
 * A shared bucket answered from the local copy: the client is answered now, while the upload and
 * then the record finish under the lock, which the caller releases only after them; so no other
 * host can miss the object and render it again. A failed upload leaves the local copy (this host
 * keeps serving it) and is reported; another host will render it once more.
 * @param output - the output storage (`commit` uploads)
 * @param records - thumbnail records, if any
 * @param record - the record of the new file
 * @param dst - absolute path of the local file
 * @param hooks - receives a failed background upload
 */
export async function publishRendered(
  output: OutputStorageLike,
  records: ThumbnailRecordsLike | null | undefined,
  record: ThumbnailRecord,
  dst: string,
  hooks?: RenderHooks,
): Promise<{ size: number | undefined; published?: Promise<void> }> {
  const size = record.size
  const save = async () => {
    if (records) await Promise.resolve(records.set(record)).catch(() => undefined)
  }
  if (!output.commit) {
    await save()
    return { size }
  }
  if (!output.answersFromLocalCopy) {
    await output.commit(record.path, dst)
    await save()
    return { size }
  }
  const published = output.commit(record.path, dst).then(save, (err: unknown) => hooks?.publishFailed?.(err))
  return { size, published }
}
