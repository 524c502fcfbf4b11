/**
 * Source listings for warm, as streams: a folder walked one directory at a time, or a list of
 * names (a file, `-` for stdin, or an `http(s)://` listing URL). Nothing holds the whole listing,
 * so a tree of millions of files costs the memory of one directory read-ahead and the stack of
 * folders still to visit.
 * @module
 */
import { createReadStream, type Dir } from 'node:fs'
import { opendir } from 'node:fs/promises'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'

import { SourceListError } from './errors.js'

/** A source name relative to the source root, or a place the listing could not read. */
export interface SourceItem {
  /** Source name with `/` separators (`animals/kitten.jpg`). */
  name: string
  /** Set when this entry could not be listed (e.g. an unreadable folder). */
  error?: unknown
}

/** File names warm renders when walking a folder. */
export const SOURCE_IMAGE = /\.(jpe?g|png|webp|gif|avif|tiff?)$/i

/**
 * Walks `root` depth first and yields every image file's name relative to it. Hidden entries
 * (`.name`, which is also how temp files are named) and symlinks are skipped. An unreadable
 * sub-folder is yielded as an item with `error`, and the walk goes on.
 * @param root - the source root
 * @throws {@link SourceListError} when `root` itself cannot be opened
 */
export async function* walkSources(root: string): AsyncGenerator<SourceItem> {
  const stack: string[] = ['']
  let first = true
  while (stack.length) {
    const rel = stack.pop()!
    let dir: Dir
    try {
      dir = await opendir(path.join(root, rel), { bufferSize: 256 })
    } catch (err) {
      if (first) throw new SourceListError(`Cannot read the source folder ${root}: ${(err as Error).message}`, err)
      yield { name: rel, error: err }
      continue
    }
    first = false
    const subdirs: string[] = []
    for await (const entry of dir) {
      if (entry.name.startsWith('.')) continue
      const name = rel ? `${rel}/${entry.name}` : entry.name
      if (entry.isDirectory()) subdirs.push(name)
      else if (entry.isFile() && SOURCE_IMAGE.test(entry.name)) yield { name }
    }
    // Reversed so the walk visits sub-folders in the order the directory listed them.
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i])
  }
}

/** Options of {@link readSourceList}. */
export interface SourceListOptions {
  /** Origin the server fetches sources from; lines that are URLs under it become names. */
  sourceUrl?: string
  /** Standard input, for `-`. @default process.stdin */
  stdin?: NodeJS.ReadableStream
}

/**
 * Reads source names, one per line; blank lines and lines starting with `#` are ignored. A line
 * that is a URL under `sourceUrl` (the origin's own listing) becomes the name after that prefix,
 * percent-decoded. Names are checked later, when their thumbnail URL is built.
 * @param list - a file path, `-` for stdin, or an `http(s)://` URL of a listing
 * @param options - see {@link SourceListOptions}
 * @throws {@link SourceListError} when the list cannot be opened or fetched
 */
export async function* readSourceList(list: string, options: SourceListOptions = {}): AsyncGenerator<SourceItem> {
  const input = await openList(list, options.stdin ?? process.stdin)
  const prefix = options.sourceUrl ? options.sourceUrl.replace(/\/*$/, '/') : undefined
  try {
    for await (const raw of createInterface({ input, crlfDelay: Infinity })) {
      const line = raw.trim()
      if (line === '' || line.startsWith('#')) continue
      if (prefix && line.startsWith(prefix)) {
        const rest = line.slice(prefix.length).split(/[?#]/)[0]
        try {
          yield { name: rest.split('/').map((s) => decodeURIComponent(s)).join('/') }
        } catch (err) {
          yield { name: rest, error: err }
        }
      } else {
        yield { name: line }
      }
    }
  } catch (err) {
    throw new SourceListError(`Cannot read the source list ${list}: ${(err as Error).message}`, err)
  }
}

async function openList(list: string, stdin: NodeJS.ReadableStream): Promise<NodeJS.ReadableStream> {
  if (list === '-') return stdin
  if (/^https?:\/\//i.test(list)) {
    let res: Response
    try {
      res = await fetch(list)
    } catch (err) {
      throw new SourceListError(`Cannot fetch the source list ${list}: ${(err as Error).message}`, err)
    }
    if (!res.ok || !res.body) throw new SourceListError(`Cannot fetch the source list ${list}: HTTP ${res.status}`)
    return Readable.fromWeb(res.body as import('node:stream/web').ReadableStream)
  }
  const stream = createReadStream(list, 'utf8')
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve())
    stream.once('error', (err) => reject(new SourceListError(`Cannot read the source list ${list}: ${err.message}`, err)))
  })
  return stream
}
