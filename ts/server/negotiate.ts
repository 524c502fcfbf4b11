/**
 * `Accept` negotiation of thumbnail formats: a `.jpg`/`.jpeg`/`.png` URL is answered in AVIF or
 * WebP when the request's `Accept` names that type explicitly, with `Vary: Accept`.
 *
 * Only an explicit `image/avif` / `image/webp` counts, as in Next.js (`getSupportedMimeType` in
 * its image optimizer) and imgproxy (`IMGPROXY_AUTO_WEBP`, `IMGPROXY_AUTO_AVIF`): wildcard ranges
 * (`image/*`, any type) are sent by clients that cannot decode either. `q=0` refuses a type
 * (RFC 9110 §12.4.2); among the accepted formats the highest `q` wins and a tie goes to the
 * configured order.
 *
 * The variant of a URL is stored next to the URL's own file, at `<output path>.<format>`, so
 * nginx can serve it without the app (`try_files $uri$variant`); the signature of the URL
 * covers every variant, only the stored file and the `Content-Type` differ.
 * @module
 */
import { FORMATS } from '../image/options.js'
import type { ThumbnailSpec } from './contracts.js'

/** Formats a URL may be answered in instead of its own, in the default order of preference. */
export const NEGOTIABLE_FORMATS = Object.freeze(['avif', 'webp'] as const)
/** A format {@link NEGOTIABLE_FORMATS} lists. */
export type NegotiableFormat = (typeof NEGOTIABLE_FORMATS)[number]

/** URL extensions whose answer depends on `Accept` (the formats AVIF and WebP improve on). */
export const NEGOTIATED_EXTENSIONS = Object.freeze(['.jpg', '.jpeg', '.png'] as const)

/** Matches a path (URL or stored file) whose answer varies with `Accept`. */
export const NEGOTIATED_PATH = /\.(?:jpe?g|png)$/

/**
 * The configured formats this build can encode, in the configured order, without repeats. AVIF
 * turns on by itself once the native encoder lists it.
 * @param wanted - the `negotiate` setting
 * @param encodable - formats the encoder writes
 * @default encodable the output formats of `thumbnail()` (`FORMATS` of the image options)
 */
export function enabledFormats(wanted: readonly string[], encodable: readonly string[] = FORMATS): NegotiableFormat[] {
  const out: NegotiableFormat[] = []
  for (const f of wanted) {
    if ((NEGOTIABLE_FORMATS as readonly string[]).includes(f) && encodable.includes(f) && !out.includes(f as NegotiableFormat)) {
      out.push(f as NegotiableFormat)
    }
  }
  return out
}

// `q` is 0..1 with at most three decimals; a value that does not parse is ignored (q stays 1),
// which is also how the nginx map reads it (it only looks for an explicit zero).
const Q_PARAM = /^\s*q\s*=\s*([0-9.]+)\s*$/i

/**
 * The `q` of every media range an `Accept` header lists, by lower-cased type. A type listed
 * twice keeps its highest `q`.
 * @param accept - the header (node:http joins repeated headers with commas)
 */
export function acceptQualities(accept: string | readonly string[] | undefined): Map<string, number> {
  const out = new Map<string, number>()
  const text = Array.isArray(accept) ? accept.join(',') : ((accept as string | undefined) ?? '')
  // Clients send a handful of ranges; a header longer than this is not worth parsing.
  for (const range of text.slice(0, 4096).split(',')) {
    const [type, ...params] = range.split(';')
    const name = type.trim().toLowerCase()
    if (!name) continue
    let q = 1
    for (const p of params) {
      const m = Q_PARAM.exec(p)
      if (!m) continue
      const n = Number(m[1])
      if (Number.isFinite(n) && n >= 0 && n <= 1) q = n
    }
    out.set(name, Math.max(q, out.get(name) ?? 0))
  }
  return out
}

/**
 * The format to answer in, or `undefined` for the URL's own format.
 * @param accept - the request's `Accept` header
 * @param formats - enabled formats, in order of preference (see {@link enabledFormats})
 */
export function chooseFormat(accept: string | readonly string[] | undefined, formats: readonly NegotiableFormat[]): NegotiableFormat | undefined {
  if (formats.length === 0 || !accept) return undefined
  const q = acceptQualities(accept)
  let best: NegotiableFormat | undefined
  let bestQ = 0
  for (const f of formats) {
    const v = q.get(`image/${f}`) ?? 0
    if (v > bestQ) {
      best = f
      bestQ = v
    }
  }
  return best
}

/**
 * The spec of a URL's variant in another format: the same thumbnail, stored at
 * `<output path>.<format>` (and `<variant path>.<format>` for key rotation).
 * @param spec - the parsed, verified URL
 * @param format - the negotiated format
 */
export function variantSpec<T extends ThumbnailSpec>(spec: T, format: NegotiableFormat): T {
  const ext = `.${format}`
  return {
    ...spec,
    ext,
    outputPath: spec.outputPath + ext,
    ...(spec.variantPath ? { variantPath: spec.variantPath + ext } : {}),
  }
}

/**
 * The PCRE that nginx's `map $http_accept` uses for a format, case-insensitively: the type listed
 * explicitly, not followed (in its own range) by `q=0`. It reads the same headers as
 * {@link chooseFormat} except that it cannot compare two non-zero `q`s, so with
 * `image/avif;q=0.5, image/webp` nginx serves an existing AVIF where the app would pick WebP.
 * @param format - a negotiable format
 */
export function acceptPattern(format: NegotiableFormat): string {
  return `(?:^|[,\\s])image/${format}\\s*(?:$|,|;(?![^,]*\\bq\\s*=\\s*0(?:\\.0{0,3})?\\s*(?:$|[,;])))`
}
