/**
 * A dispatcher stopped (a config reload, a shutdown) while a claimed attempt's row is read
 * and its envelope opened must not count that attempt: it was never sent. It goes back on
 * the schedule, due now, its attempt count and status untouched. Before, while the stop
 * waited for another attempt under way, it was settled as failed ("delivery stopped") —
 * on its last attempt dead-lettered without ever reaching the downstream.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { MessagesRepository } from '../../src/db/messages.repository.js';
import { retryPolicyOf } from '../../src/delivery/retry-policy.js';
import { SlotAllocator } from '../../src/delivery/slot-allocator.js';
import { TargetDispatcher } from '../../src/delivery/target-dispatcher.js';
import { WebhookClient } from '../../src/delivery/webhook-client.js';
import { WebhookTransport } from '../../src/delivery/webhook-transport.js';
import { targetKeys } from '../../src/queue/keys.js';
import { DeliverySchedule } from '../../src/queue/schedule.js';
import { defineScripts } from '../../src/queue/scripts.js';
import { useTestDatabase, useTestRedis } from '../support/test-fixtures.js';

const { handle } = useTestDatabase();
const { redis, prefix } = useTestRedis();

describe('a dispatcher stopped while it starts attempts', () => {
  it('gives the claimed attempts back to the schedule instead of spending (and dead-lettering) them', async () => {
    const config = loadConfig({
      values: {
        redis: { key_prefix: prefix },
        bootstrap: { demo_client: false },
        domains: [
          {
            name: 'hooks',
            // The last attempt: counted as failed, it is dead-lettered.
            max_attempts: 1,
            target: { type: 'webhook', url: 'https://127.0.0.1:9/never', secret: 's' },
          },
        ],
      },
      env: {},
    });
    const domain = config.domains[0]!;
    const target = domain.target;
    const keys = targetKeys(prefix, domain, target.name);
    const messages = new MessagesRepository(handle.db);
    const schedule = new DeliverySchedule(redis, defineScripts(redis));
    const insert = async (id: string) => {
      await messages.insertBatch([
        {
          message_id: id,
          client_id: 1,
          domain: 'hooks',
          sender_hash: randomBytes(32).toString('hex'),
          pepper_id: 'p1',
          sender_masked: '+123****7890',
          sender_enc: randomBytes(60),
          body_enc: randomBytes(100),
          key_id: 'k1',
          queued_at: new Date(),
          status: 'queued',
          attempt_count: 0,
        },
      ]);
      await schedule.scheduleNew(keys, [id], Date.now());
    };
    // A downstream that takes the connection and never answers: the stop waits for it.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const hanging = randomUUID();
    await insert(hanging);

    // The encryption actor answers the second claim only once the dispatcher has been told to stop.
    let calls = 0;
    let opening!: () => void;
    const opened = new Promise<void>((resolve) => {
      opening = resolve;
    });
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => {
      answer = resolve;
    });
    const encryption = {
      call: async (_type: string, request: { items: Array<{ message_id: string }> }) => {
        if (++calls === 2) {
          opening();
          await answered;
        }
        return {
          items: request.items.map(() => ({ ok: true, message_body: 'Gate 4 open', sender_number: '+14155550123' })),
        };
      },
    };
    const client = new WebhookClient({}, 4);
    const dispatcher = new TargetDispatcher({
      domain,
      target,
      keys,
      slots: new SlotAllocator(4).register('hooks/default', 0),
      policy: retryPolicyOf(domain, target),
      timeoutMs: 1000,
      pollIntervalMs: 60_000,
      heldMax: 0,
      logger: pino({ level: 'silent' }),
      messages,
      schedule,
      encryption: encryption as never,
      transport: new WebhookTransport(client, { url: `https://127.0.0.1:${port}/`, secret: 's', timeoutMs: 1000 }),
      breaker: { failures: 5, openMs: 30_000 },
      events: { prefix, retention: config.events, format: config.queue.entry_format },
      onOutcome: () => {},
      onBreakerChange: () => {},
    });
    dispatcher.start();
    await expect.poll(() => sockets.length).toBe(1);
    const id = randomUUID();
    await insert(id);
    void (dispatcher as unknown as { poll(): Promise<void> }).poll();
    await opened;
    const stopping = dispatcher.stop();
    answer();
    await stopping;
    for (const socket of sockets) socket.destroy();
    silent.close();
    await client.close();

    expect(await messages.findOne(id)).toMatchObject({ status: 'queued', attempt_count: 0, last_error: null });
    const dead = await redis.xrange(keys.dead, '-', '+');
    expect(dead.map(([, fields]) => fields[1])).not.toContain(id);
    expect(await redis.zscore(keys.inflight, id)).toBeNull();
    expect(Number(await redis.zscore(keys.schedule, id))).toBeLessThanOrEqual(Date.now());
  });
});
