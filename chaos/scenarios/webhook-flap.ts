/**
 * A webhook downstream that flaps under load: up (200), failing (500), gone (connection
 * refused, open connections reset), and taking messages but losing its answers (the
 * socket dies after the downstream has the message), over and over. Every acknowledged message
 * must reach it at least once; duplicates are counted and must carry the same message_id.
 */
import { TestDownstream } from '../../test/support/downstream.js';
import { TcpProxy } from '../../test/support/tcp-proxy.js';
import type { DeliveredHit } from '../ledger.js';
import { runChaos, standardVerdict, type Scenario } from '../scenario-support.js';
import { sleep } from '../ledger-load.js';

type Phase = 'up' | 'error' | 'refused' | 'answer-lost';
const CYCLE: Array<[Phase, number]> = [
  ['up', 1500],
  ['error', 1000],
  ['up', 1000],
  ['refused', 1000],
  ['up', 1000],
  ['answer-lost', 500],
];

export const webhookFlap: Scenario = {
  name: 'webhook-flap',
  proves:
    'Delivery is at-least-once: through a downstream that alternates 200 / 500 / connection refused / answers lost, every acknowledged message is delivered, retries are scheduled in Redis, and every duplicate the downstream sees carries the message_id it was stored under.',
  run: async (options) => {
    const downstream = await new TestDownstream().start();
    const proxy = await TcpProxy.create('127.0.0.1', Number(new URL(downstream.url).port));
    const delivered: DeliveredHit[] = [];
    let phase: Phase = 'up';
    downstream.behaviour = (hit, res) => {
      if (phase === 'error') return void res.writeHead(500).end('flapping');
      // Recorded as delivered before the answer leaves: if the cut eats the answer, the
      // broker retries and the downstream sees the message again (a counted duplicate).
      delivered.push({ messageId: hit.body.message_id });
      // The downstream has it but the broker never hears so: it must retry (a duplicate).
      if (phase === 'answer-lost') return void res.socket?.destroy();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    };
    const url = new URL(downstream.url);
    url.port = String(proxy.port);
    try {
      return await runChaos(
        'webhook-flap',
        {
          fsync: 'always',
          values: {
            delivery: { retry_interval_ms: 300, max_attempts: 10_000, webhook_timeout_ms: 3000, breaker_open_ms: 500 },
            domains: [
              {
                name: 'default',
                target: { type: 'webhook', url: url.toString(), secret: 'chaos', ca_file: downstream.caFile },
              },
            ],
          },
        },
        options,
        async (run) => {
          run.startLoad('webhook');
          const flips: Record<Phase, number> = { up: 0, error: 0, refused: 0, 'answer-lost': 0 };
          const endAt = Date.now() + options.durationS * 1000;
          for (let i = 0; Date.now() < endAt; i++) {
            const [next, ms] = CYCLE[i % CYCLE.length]!;
            phase = next;
            flips[next]++;
            if (next === 'refused') await proxy.cut();
            else await proxy.restore();
            await sleep(Math.min(ms, Math.max(0, endAt - Date.now())));
          }
          phase = 'up';
          await proxy.restore();
          run.notes.push(
            `downstream flapped ${flips.error}× 500, ${flips.refused}× refused, ${flips['answer-lost']}× answers lost`,
          );
          return { delivered: () => delivered };
        },
        (counts, run) => {
          const failures = standardVerdict(counts);
          const d = counts.delivery!;
          run.notes.push(
            `${downstream.hits.length} POSTs, ${d.deliveredDuplicates} delivered duplicates (same message_id)`,
          );
          if (d.undelivered > 0) failures.push(`${d.undelivered} acknowledged never delivered`);
          if (d.unknownDelivered > 0)
            failures.push(`${d.unknownDelivered} delivered under an id storage does not know`);
          return failures;
        },
      );
    } finally {
      await proxy.close();
      await downstream.stop();
    }
  },
};
