/**
 * RabbitMQ killed (SIGKILL) and started again under load, for an amqp target: the broker's
 * connection and channels recover by themselves, attempts that met no RabbitMQ (or lost
 * their confirm) are retried, and every acknowledged message reaches the queue at least
 * once. Duplicates come only from a lost confirm (or a consumer ack lost with the node)
 * and carry the message_id they were stored under.
 */
import { consumeQueue, declareTopology } from '../../test/support/amqp-queue.js';
import { TestRabbitServer } from '../../test/support/rabbitmq-server.js';
import type { DeliveredHit } from '../ledger.js';
import { sleep } from '../ledger-load.js';
import { runChaos, standardVerdict, type Scenario } from '../scenario-support.js';

const TOPOLOGY = { exchange: 'mb.chaos', queue: 'chaos-in', routingKey: 'sms.default' };

export const amqpRestart: Scenario = {
  name: 'amqp-restart',
  proves:
    'An amqp target survives RabbitMQ killed and restarted under load: the connection and its confirm channels recover by themselves, a message is delivered only once RabbitMQ confirmed it (durable queue, persistent message), and every acknowledged message reaches the queue; duplicates carry the same message_id.',
  run: async (options) => {
    const rabbit = await TestRabbitServer.create();
    await declareTopology(rabbit.url, TOPOLOGY);
    const consumer = await consumeQueue(rabbit.url, TOPOLOGY.queue);
    const delivered = (): DeliveredHit[] =>
      consumer.received.map((m) => ({ messageId: String(m.properties.messageId) }));
    try {
      return await runChaos(
        'amqp-restart',
        {
          fsync: 'always',
          values: {
            delivery: { retry_interval_ms: 300, max_attempts: 10_000, webhook_timeout_ms: 3000, breaker_open_ms: 500 },
            domains: [
              {
                name: 'default',
                target: {
                  type: 'amqp',
                  url: rabbit.url,
                  exchange: TOPOLOGY.exchange,
                  routing_key: 'sms.{domain}',
                  // A node of the test's own on loopback.
                  allow_insecure_amqp: true,
                },
              },
            ],
          },
        },
        options,
        async (run) => {
          run.startLoad('amqp');
          const outageMs = (options.outageS ?? 2) * 1000;
          const endAt = Date.now() + options.durationS * 1000;
          let kills = 0;
          // Up a while, killed, away for the outage, started again (which itself takes
          // seconds): as often as the run allows, at least once.
          do {
            await sleep(Math.min(1500, Math.max(0, endAt - Date.now())));
            await rabbit.stop('SIGKILL');
            kills++;
            run.log(`amqp-restart: RabbitMQ killed (${kills})`);
            await sleep(outageMs);
            await rabbit.start();
            run.log('amqp-restart: RabbitMQ back');
          } while (Date.now() + 1500 + outageMs < endAt);
          await run.until(options.durationS);
          run.notes.push(`RabbitMQ killed ${kills}× (SIGKILL), away ${outageMs / 1000} s each`);
          return { delivered };
        },
        (counts, run) => {
          const failures = standardVerdict(counts);
          const d = counts.delivery!;
          run.notes.push(`${consumer.received.length} consumed, ${d.deliveredDuplicates} duplicates (same message_id)`);
          if (d.undelivered > 0) failures.push(`${d.undelivered} acknowledged never reached the queue`);
          if (d.unknownDelivered > 0) failures.push(`${d.unknownDelivered} consumed under an id storage does not know`);
          return failures;
        },
      );
    } finally {
      await consumer.close();
      await rabbit.destroy();
    }
  },
};
