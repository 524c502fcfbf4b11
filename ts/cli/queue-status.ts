/**
 * `restthumbs warm --queue redis://… --status`: the queue's progress across every worker.
 * @module
 */
import { openQueue, type QueueLocation, queueStatus, type QueueStatus } from '../warm/queue.js'

/**
 * Prints the status (a table, or JSON) and returns it.
 * @param where - queue URL, key prefix and name
 * @param json - print JSON instead of text
 */
export async function printStatus(where: QueueLocation, json: boolean): Promise<void> {
  const queue = await openQueue(where)
  let s: QueueStatus
  try {
    s = await queueStatus(queue)
  } finally {
    await queue.close()
  }
  if (json) {
    process.stdout.write(JSON.stringify(s) + '\n')
    return
  }
  const total = s.waiting + s.active + s.completed + s.failed + s.delayed
  const eta = s.rate > 0 ? `, eta ${Math.ceil((s.waiting + s.active + s.delayed) / s.rate)} s` : ''
  process.stdout.write(
    [
      `queue ${where.name ?? 'warm'} on ${where.url.replace(/\/\/[^@/]*@/, '//***@')}: ${s.workers} workers`,
      `  waiting   ${s.waiting}`,
      `  active    ${s.active}`,
      `  delayed   ${s.delayed} (retrying)`,
      `  completed ${s.completed}`,
      `  failed    ${s.failed}`,
      `  done      ${total ? (((s.completed + s.failed) * 100) / total).toFixed(1) : '0.0'}% at ${s.rate.toFixed(1)}/s${eta}`,
      ...s.recentFailures.map((f) => `  failed: ${f.source} ${f.preset}: ${f.reason}`),
      '',
    ].join('\n'),
  )
}
