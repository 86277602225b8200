import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { planReload } from './config-reload.js';
import { LiveConfig } from './live-config.js';

describe('LiveConfig', () => {
  const initial = loadConfig({
    values: { domains: [{ name: 'alpha' }, { name: 'beta' }], bootstrap: { demo_domain: 'alpha' } },
    env: {},
  });

  it('hands out the config in force and its domains, and tells subscribers of a change', () => {
    const live = new LiveConfig(initial);
    expect(live.current()).toBe(initial);
    expect(live.domain('alpha')?.active).toBe(true);
    const seen: Array<{ level: string; changed: readonly string[]; previous: string }> = [];
    const unsubscribe = live.subscribe((next, change) =>
      seen.push({ level: next.log.level, changed: [...change.changed].sort(), previous: change.previous.log.level }),
    );
    const plan = planReload(
      live.current(),
      loadConfig({
        values: {
          bootstrap: { demo_domain: 'alpha' },
          log: { level: 'debug' },
          domains: [{ name: 'alpha', active: false }, { name: 'beta' }],
        },
        env: {},
      }),
    );
    live.apply(plan.next, plan.changed);
    expect(live.current().log.level).toBe('debug');
    expect(live.domain('alpha')?.active).toBe(false);
    expect(Object.isFrozen(live.current().domains[0])).toBe(true);
    expect(seen).toEqual([{ level: 'debug', changed: ['domains', 'log'], previous: 'info' }]);
    unsubscribe();
    live.apply(initial, ['log']);
    expect(seen).toHaveLength(1);
  });
});
