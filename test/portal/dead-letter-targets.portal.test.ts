/**
 * The dead letters of a domain with several webhook targets: the page shows one target at
 * a time, and its "Redrive all" redrives that target's dead letters only — which is what
 * its description, its confirmation and the notice afterwards must say (they once said
 * "every dead letter of the domain", while the other targets' stayed dead).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { targetKeys } from '../../src/queue/keys.js';
import { DeliverySchedule } from '../../src/queue/schedule.js';
import { defineScripts } from '../../src/queue/scripts.js';
import { PortalClient } from '../support/portal-client.js';
import { startPortalHarness, type PortalHarness } from '../support/portal-harness.js';

let h: PortalHarness;
const webhook = (name: string) => ({ type: 'webhook', url: `https://127.0.0.1:9/${name}`, secret: `${name}-secret` });

beforeAll(async () => {
  h = await startPortalHarness({
    values: {
      domains: [
        {
          name: 'alpha',
          targets: { eu: webhook('eu'), us: webhook('us') },
          routes: [
            { name: 'uk', match: { sender_prefix: '+44' }, target: 'eu' },
            { name: 'rest', target: 'us' },
          ],
        },
        { name: 'beta', target: { type: 'store' } },
      ],
    },
  });
});
afterAll(async () => {
  await h?.close();
});

it("says that Redrive all takes the open target's dead letters, and leaves the other target's", async () => {
  const domain = h.config.domains.find((d) => d.name === 'alpha')!;
  const schedule = new DeliverySchedule(h.redis, defineScripts(h.redis));
  const [eu, us] = await h.addMessages(h.seed.clients.a1, 'alpha', [
    { body: 'dead at eu', sender: '+447700900111', status: 'failed', target: 'eu', route: 'uk' },
    { body: 'dead at us', sender: '+14155550111', status: 'failed', target: 'us', route: 'rest' },
  ]);
  for (const [target, id] of [
    ['eu', eu!],
    ['us', us!],
  ] as const)
    await schedule.deadLetter(targetKeys(h.config.redis.key_prefix, domain, target), [
      { message_id: id, attempts: 5, last_error: `HTTP 500 from ${target}` },
    ]);

  const admin = await PortalClient.signedIn(h.app, 'admin@alpha.test');
  const page = await admin.get('/portal/admin/dead-letters?domain=alpha&target=eu');
  expect(page.statusCode).toBe(200);
  expect(page.body).toContain('data-confirm="Queue every dead letter of alpha to target eu again?"');
  expect(page.body).toContain(
    "queues every dead letter of alpha to target eu (the other targets' stay where they are)",
  );

  const redrive = await admin.post('/portal/admin/dead-letters/alpha/redrive-all?target=eu', {});
  expect(redrive.statusCode).toBe(303);
  expect(redrive.headers.location).toBe('/portal/admin/dead-letters?domain=alpha&target=eu&notice=redrive-scheduled');
  const after = await admin.get(redrive.headers.location as string);
  expect(after.body).toContain('Every dead letter of the list is queued again');
  expect(after.body).not.toContain('of the domain is queued again');
  // What the texts say: us's dead letter is still there.
  expect(await h.redis.xlen(targetKeys(h.config.redis.key_prefix, domain, 'eu').dead)).toBe(0);
  expect(await h.redis.xlen(targetKeys(h.config.redis.key_prefix, domain, 'us').dead)).toBe(1);
});
