import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { planReload } from './config-reload.js';

describe('planReload', () => {
  const current = loadConfig({ values: { server: { port: 1000 } }, env: {} });

  it('takes domain and delivery changes live', () => {
    const loaded = loadConfig({
      values: { server: { port: 1000 }, delivery: { max_attempts: 9 }, domains: [{ name: 'default', active: false }] },
      env: {},
    });
    const plan = planReload(current, loaded);
    expect(plan.changed.sort()).toEqual(['delivery', 'domains']);
    expect(plan.restartRequired).toEqual([]);
    expect(plan.next.delivery.max_attempts).toBe(9);
    expect(plan.next.domains[0]?.active).toBe(false);
  });

  it('names nested keys and lists by their full path', () => {
    const loaded = loadConfig({
      values: { server: { port: 1000 }, redis: { sentinels: ['s1:26379'] }, instance_id: 'elsewhere' },
      env: {},
    });
    expect(planReload(current, loaded).restartRequired.sort()).toEqual(['instance_id', 'redis.sentinels']);
  });

  it('names what needs a restart and keeps the old values for it', () => {
    const loaded = loadConfig({ values: { server: { port: 2000 }, redis: { url: 'redis://elsewhere:1' } }, env: {} });
    const plan = planReload(current, loaded);
    expect(plan.restartRequired.sort()).toEqual(['redis.url', 'server.port']);
    expect(plan.next.server.port).toBe(1000);
    expect(plan.changed).toEqual([]);
  });
});
