/**
 * Removing dead letters by message id, for erasures (`mb purge --client`): the stream is
 * keyed by time, not by message, so it is read in pages and the matching entries dropped.
 * The stream is capped (DEAD_LETTER_MAXLEN), which bounds one pass.
 */
import type { Redis } from 'ioredis';

const PAGE = 1000;

/** XDELs every entry of `deadKey` whose message (field `m`) is in `messageIds`; returns how many went. */
export async function dropDeadLetters(redis: Redis, deadKey: string, messageIds: ReadonlySet<string>): Promise<number> {
  if (messageIds.size === 0) return 0;
  let removed = 0;
  let start = '-';
  for (;;) {
    const page = await redis.xrange(deadKey, start, '+', 'COUNT', PAGE);
    const doomed = page.filter(([, fields]) => messageIds.has(messageIdOf(fields))).map(([id]) => id);
    if (doomed.length > 0) removed += await redis.xdel(deadKey, ...doomed);
    if (page.length < PAGE) return removed;
    start = `(${page[page.length - 1]![0]}`;
  }
}

/** Fields as `DeliverySchedule.deadLetter` writes them: m(essage) among them. */
function messageIdOf(flat: string[]): string {
  for (let i = 0; i + 1 < flat.length; i += 2) if (flat[i] === 'm') return flat[i + 1]!;
  return '';
}
