/**
 * A separate process for the SQLite multi-process test: races for one `add` lock and does 50
 * `incr`s on a shared file, then reports whether it won the lock.
 */
import { DatabaseCache } from '../../ts/index.js'

const [file, id] = process.argv.slice(2)
const cache = new DatabaseCache({ location: `sqlite:${file}`, table: 'multi', commandTimeout: 10_000, logger: { warn: () => {}, info: () => {} } })
const added = await cache.add('lock', `worker-${id}`, 60)
for (let i = 0; i < 50; i++) await cache.incr('n')
await cache.close()
process.send?.({ added }, () => process.exit(0))
