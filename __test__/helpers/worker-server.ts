/**
 * A thumbnail server in its own process, for multi-process tests. Started with
 * `child_process.fork`; settings come from `RESTTHUMBS_*` variables. Reports its URL with
 * `{ type: 'ready', url }` and answers `{ type: 'stats' }` with `{ type: 'stats', stats }`.
 */
import { resolveConfig } from '../../ts/server/config.js'
import { createServer } from '../../ts/server/server.js'

const config = resolveConfig({ port: 0, accessLog: false }, { env: process.env })
const server = createServer(config)
const url = await server.start()
process.send!({ type: 'ready', url })
process.on('message', (msg: { type: string }) => {
  if (msg.type === 'stats') process.send!({ type: 'stats', stats: { ...server.handler.stats } })
  if (msg.type === 'stop') void server.stop().then(() => process.exit(0))
})
process.on('disconnect', () => process.exit(0))
