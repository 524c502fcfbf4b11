import test from 'ava'

import { startRedis } from './helpers/redis.js'

// Alone in its file: it empties PATH for the whole process while it runs.
test('a missing redis-server fails with the apt-get hint instead of skipping', async (t) => {
  const path = process.env.PATH
  process.env.PATH = '/nonexistent-restthumbs-bin'
  try {
    await t.throwsAsync(startRedis(), {
      message: 'redis-server not found: install it with apt-get install redis-server',
    })
  } finally {
    process.env.PATH = path
  }
})

test.serial('the helper starts a server that answers on its port and stops it', async (t) => {
  const server = await startRedis()
  const { Redis } = await import('ioredis')
  const client = new Redis(server.url, { maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on('error', () => {})
  t.is(await client.ping(), 'PONG')
  t.is(await client.config('GET', 'save').then((r) => (r as string[])[1]), '')
  t.is(await client.config('GET', 'appendonly').then((r) => (r as string[])[1]), 'no')
  client.disconnect()
  await server.stop()
  const after = new Redis(server.url, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true })
  after.on('error', () => {})
  await t.throwsAsync(after.connect())
  after.disconnect()
})
