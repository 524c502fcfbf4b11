/**
 * Django's `make_template_fragment_key`, for template engines that cache fragments.
 * @module
 */
import { createHash } from 'node:crypto'

/**
 * The cache key of a template fragment: `template.cache.<name>.<md5>`, where the MD5 covers each
 * `varyOn` value as a netstring (`<byte length>:<value>,`), exactly as Django 6 builds it, so a
 * fragment cached by a Django site sharing the cache has the same key.
 * @param name - the fragment name
 * @param varyOn - values the fragment depends on (stringified with `String`)
 * @example
 * makeTemplateFragmentKey('sidebar', [user.id, 'en']) // 'template.cache.sidebar.<32 hex>'
 */
export function makeTemplateFragmentKey(name: string, varyOn: Iterable<unknown> = []): string {
  const hasher = createHash('md5')
  for (const arg of varyOn) {
    const data = Buffer.from(String(arg))
    hasher.update(`${data.length}:`)
    hasher.update(data)
    hasher.update(',')
  }
  return `template.cache.${name}.${hasher.digest('hex')}`
}
