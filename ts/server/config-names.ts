/**
 * Misspelt settings: unknown `RESTTHUMBS_*` variables and config keys are reported with the
 * closest valid name (Levenshtein distance), so `RESTTHUMBS_LOCK_TIMOUT` does not silently
 * keep the default.
 * @module
 */

/** Edit distance between two strings (insertions, deletions, substitutions). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = row
  }
  return prev[b.length]
}

/**
 * The valid name closest to `name` (case-insensitive), or `undefined` when none is near enough
 * to be a plausible typo (more than a third of the name differs).
 * @param name - the unknown name
 * @param valid - the valid names
 */
export function closestName(name: string, valid: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of valid) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return bestDistance <= Math.max(2, Math.ceil(name.length / 3)) ? best : undefined
}

/**
 * "Unknown setting X; did you mean Y?" with the hint only when a close name exists.
 * @param what - how the unknown name is introduced (`environment variable`, `setting`)
 * @param name - the unknown name
 * @param valid - the valid names
 * @param where - optional suffix naming the source (` in config file c.json`)
 */
export function unknownNameMessage(what: string, name: string, valid: readonly string[], where = ''): string {
  const near = closestName(name, valid)
  return `Unknown ${what} ${name}${where}${near ? `; did you mean ${near}?` : ''}`
}
