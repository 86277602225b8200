/**
 * One target's dispatcher in-process against the test's own Redis keys and database, with
 * a stand-in transport (what the downstream answers) and encryption actor (every envelope
 * opens): for tests of what the dispatcher and its settler do with the schedule, the
 * leases, the rows and the dead letters. Stop it (and only then) at the end of the test.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { loadConfig, type BrokerConfig, type DomainConfig } from '../../src/config/config.js';
import type { DatabaseHandle } from '../../src/db/database.js';
import { MessagesRepository } from '../../src/db/messages.repository.js';
import type { DeliveryOutcome, DeliveryTransport } from '../../src/delivery/delivery-transport.js';
import { retryPolicyOf } from '../../src/delivery/retry-policy.js';
import { SlotAllocator } from '../../src/delivery/slot-allocator.js';
import { TargetDispatcher } from '../../src/delivery/target-dispatcher.js';
import type { Logger } from '../../src/logger.js';
import { targetKeys, type DomainKeys } from '../../src/queue/keys.js';
import { DeliverySchedule } from '../../src/queue/schedule.js';
import { defineScripts } from '../../src/queue/scripts.js';

export interface TestDispatcher {
  dispatcher: TargetDispatcher;
  /** The broker's config: its one domain, `hooks`, on the test's key prefix. */
  config: Readonly<BrokerConfig>;
  domain: DomainConfig;
  keys: DomainKeys;
  messages: MessagesRepository;
  schedule: DeliverySchedule;
  /** Every attempt's message id, in the order the transport was handed them. */
  attempted: string[];
  /** Stores a queued message of client 1 (`queued_at` as given) and schedules it, due now. */
  enqueue(options?: { queuedAt?: Date }): Promise<string>;
  /** A look at the schedule now (the poll interval is long: the test says when). */
  poll(): Promise<void>;
}

export function startTestDispatcher(options: {
  db: DatabaseHandle;
  redis: Redis;
  prefix: string;
  /** The domain `hooks`'s settings besides its name and target. */
  domain?: Record<string, unknown>;
  /** Where its lines go (silent unless given). */
  logger?: Logger;
  answer(payload: { message_id: string; attempt: number }): DeliveryOutcome;
}): TestDispatcher {
  const { redis, prefix } = options;
  const config = loadConfig({
    values: {
      redis: { key_prefix: prefix },
      bootstrap: { demo_client: false },
      domains: [
        {
          name: 'hooks',
          ...options.domain,
          target: { type: 'webhook', url: 'https://127.0.0.1:9/unused', secret: 's' },
        },
      ],
    },
    env: {},
  });
  const domain = config.domains[0]!;
  const keys = targetKeys(prefix, domain, domain.target.name);
  const messages = new MessagesRepository(options.db.db);
  const schedule = new DeliverySchedule(redis, defineScripts(redis));
  const attempted: string[] = [];
  const transport: DeliveryTransport = {
    deliver: async (payload) => {
      attempted.push(payload.message_id);
      return options.answer(payload);
    },
    close: async () => {},
  };
  const encryption = {
    call: async (_type: string, request: { items: Array<{ message_id: string }> }) => ({
      items: request.items.map(() => ({ ok: true, message_body: 'Gate 4 open', sender_number: '+14155550123' })),
    }),
  };
  const dispatcher = new TargetDispatcher({
    domain,
    target: domain.target,
    keys,
    slots: new SlotAllocator(4).register('hooks/default', 0),
    policy: retryPolicyOf(domain, domain.target),
    timeoutMs: 1000,
    pollIntervalMs: 60_000,
    heldMax: 0,
    logger: options.logger ?? pino({ level: 'silent' }),
    messages,
    schedule,
    encryption: encryption as never,
    transport,
    breaker: { failures: 100, openMs: 30_000 },
    events: { prefix, retention: config.events, format: config.queue.entry_format },
    onOutcome: () => {},
    onBreakerChange: () => {},
  });
  dispatcher.start();
  return {
    dispatcher,
    config,
    domain,
    keys,
    messages,
    schedule,
    attempted,
    enqueue: async ({ queuedAt = new Date() } = {}) => {
      const id = randomUUID();
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
          queued_at: queuedAt,
          status: 'queued',
          attempt_count: 0,
        },
      ]);
      await schedule.scheduleNew(keys, [id], Date.now());
      return id;
    },
    poll: () => (dispatcher as unknown as { poll(): Promise<void> }).poll(),
  };
}
