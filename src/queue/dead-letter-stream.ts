/**
 * Removing dead letters by message id, for erasures (`mb purge --client`): the stream is
 * keyed by time, not by message, so it is read in pages and the matching entries dropped.
 * The stream is capped (DEAD_LETTER_MAXLEN), which bounds one pass.
 *
 * And claiming entries for a redrive or retry (claim-dead-letters-2.lua), so that two at
 * once put each message back once.
 */
import type { Redis } from 'ioredis';
import type { DomainKeys } from './keys.js';
import { defineScripts } from './scripts.js';

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

/**
 * Which of `messageIds` have an entry in `deadKey` appended at `sinceMs` or later (a
 * message's entry comes after it was queued, so the pages before are skipped).
 */
export async function listedDeadLetters(
  redis: Redis,
  deadKey: string,
  messageIds: ReadonlySet<string>,
  sinceMs: number,
): Promise<Set<string>> {
  const listed = new Set<string>();
  if (messageIds.size === 0) return listed;
  let start = `${Math.max(0, Math.floor(sinceMs))}-0`;
  for (;;) {
    const page = await redis.xrange(deadKey, start, '+', 'COUNT', PAGE);
    for (const [, fields] of page) {
      const id = messageIdOf(fields);
      if (messageIds.has(id)) listed.add(id);
    }
    if (page.length < PAGE || listed.size === messageIds.size) return listed;
    start = `(${page[page.length - 1]![0]}`;
  }
}

/** Fields as `DeliverySchedule.deadLetter` writes them: m(essage) among them. */
function messageIdOf(flat: string[]): string {
  for (let i = 0; i + 1 < flat.length; i += 2) if (flat[i] === 'm') return flat[i + 1]!;
  return '';
}

/**
 * Claims the entries still listed whose message no other redrive or retry holds, until
 * `now + holdMs`; returns the entry ids claimed. The caller drops the claims of the
 * messages it put back in the MULTI that drops their entries, or releases them.
 */
export async function claimDeadLetters(
  redis: Redis,
  keys: Pick<DomainKeys, 'dead' | 'redriving'>,
  entries: ReadonlyArray<{ entry_id: string; message_id: string }>,
  holdMs: number,
  now = Date.now(),
): Promise<Set<string>> {
  if (entries.length === 0) return new Set();
  const pairs = entries.flatMap((e) => [e.entry_id, e.message_id]);
  return new Set(await defineScripts(redis).mbClaimDeadLetters(keys.dead, keys.redriving, now, now + holdMs, ...pairs));
}

/** Gives up the claims of messages not put back after all: their entries are claimable again at once. */
export async function releaseDeadLetterClaims(
  redis: Redis,
  keys: Pick<DomainKeys, 'redriving'>,
  messageIds: readonly string[],
): Promise<void> {
  if (messageIds.length > 0) await redis.zrem(keys.redriving, ...messageIds);
}
