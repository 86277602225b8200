/**
 * reclaimStale against the real Redis: entries another consumer (a stopped broker) left
 * pending are claimed and their owner named; this consumer's own pending entries are not
 * (it reads them again itself), and nothing is claimed before it has been idle long enough.
 */
import { expect, it } from 'vitest';
import { DELIVERY_GROUP } from '../../src/queue/keys.js';
import { ensureGroups, reclaimStale } from '../../src/queue/stream-reader.js';
import { useTestRedis } from '../support/test-fixtures.js';

const { redis, prefix } = useTestRedis();

async function readAs(consumer: string, stream: string, count: number): Promise<string[]> {
  const reply = (await redis.xreadgroup(
    'GROUP',
    DELIVERY_GROUP,
    consumer,
    'COUNT',
    count,
    'STREAMS',
    stream,
    '>',
  )) as Array<[string, Array<[string, string[]]>]> | null;
  return (reply ?? []).flatMap(([, items]) => items.map(([id]) => id));
}

const owners = async (stream: string) =>
  ((await redis.call('XPENDING', stream, DELIVERY_GROUP, '-', '+', 100)) as Array<[string, string]>).map(
    ([id, owner]) => `${id} ${owner}`,
  );

it("claims only another consumer's idle entries, and says whose they were", async () => {
  const stream = `${prefix}d:stream`;
  await ensureGroups(redis, [stream]);
  for (let i = 0; i < 3; i++) await redis.xadd(stream, '*', 'm', `m${i}`);
  const gone = await readAs('broker-a', stream, 2);
  const mine = await readAs('broker-b', stream, 1);

  // Not idle long enough yet: nothing moves.
  expect(await reclaimStale(redis, 'broker-b', [stream], 60_000, 10)).toEqual({ claimed: 0, from: [] });

  await new Promise((resolve) => setTimeout(resolve, 30));
  expect(await reclaimStale(redis, 'broker-b', [stream], 20, 10)).toEqual({ claimed: 2, from: ['broker-a'] });
  expect((await owners(stream)).sort()).toEqual([...gone, ...mine].map((id) => `${id} broker-b`).sort());

  // Its own pending entries, however idle, are not "reclaimed from another consumer".
  await new Promise((resolve) => setTimeout(resolve, 30));
  expect(await reclaimStale(redis, 'broker-b', [stream], 20, 10)).toEqual({ claimed: 0, from: [] });
});
