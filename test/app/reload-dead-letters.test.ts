/**
 * A reload that drops a target still holding dead letters is refused, naming the domain,
 * the target, how many and what to do: nothing reads a dropped target's dead letters, so
 * neither `mb dead-letter` nor the portal could list or redrive them any more. Before, the
 * reload was accepted and they were out of reach. Once they are gone it applies.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createReloader } from '../../src/app/reload.js';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { LiveConfig } from '../../src/config/live-config.js';
import { targetKeys } from '../../src/queue/keys.js';
import { workLeftBehind } from '../../src/queue/work-left-behind.js';
import { useTestRedis } from '../support/test-fixtures.js';

const { redis, prefix } = useTestRedis();
const hook = { type: 'webhook', url: 'https://127.0.0.1:9/hook', secret: 'reload-dead' };

const configOf = (targets: Record<string, unknown>) =>
  loadConfig({
    values: {
      redis: { key_prefix: prefix },
      bootstrap: { demo_client: false },
      domains: [{ name: 'routed', targets, routes: [{ target: 'archive' }] }],
    },
    env: {},
  });

describe('a reload that drops a target with dead letters', () => {
  it('is refused with what holds them and how to redrive them, and applies once they are gone', async () => {
    const before = configOf({ archive: { type: 'store' }, eu: hook });
    const after = configOf({ archive: { type: 'store' } });
    const live = new LiveConfig(before);
    const reloader = createReloader({
      live,
      logger: pino({ level: 'silent' }),
      logOutput: { reconfigure: () => {} },
      actors: { reconfigure: async () => ({}) },
      readConfig: () => after,
      workLeftBehind: (current, next) => workLeftBehind(redis, prefix, current.domains, next.domains),
    });
    const dead = targetKeys(prefix, before.domains[0]!, 'eu').dead;
    for (const id of ['m1', 'm2', 'm3']) await redis.xadd(dead, '*', 'm', id, 'a', '5', 'e', 'HTTP 503');

    const refused = await reloader.reloadFromFile().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(ConfigError);
    const message = (refused as Error).message;
    expect(message).toContain('routed: 3 eu dead letters');
    expect(message).toContain('mb dead-letter redrive --domain routed --target eu --all');
    expect(live.current().domains[0]!.targets.map((t) => t.name)).toEqual(['archive', 'eu']);

    // Redriven (or dropped by retention): nothing is left behind, and the reload applies.
    await redis.del(dead);
    expect((await reloader.reloadFromFile()).changed).toContain('domains');
    expect(live.current().domains[0]!.targets.map((t) => t.name)).toEqual(['archive']);
  });
});
