import { readdirSync } from 'node:fs';
import { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import { defineScripts, loadScript, numberOfKeys, spliceIncludes } from './scripts.js';

const SCRIPTS = readdirSync(new URL('./lua/', import.meta.url))
  .filter((file) => file.endsWith('.lua'))
  .map((file) => file.slice(0, -'.lua'.length));

describe('loadScript', () => {
  it('loads every lua/<name>-<numKeys>.lua, its header first and its includes spliced in', () => {
    expect(SCRIPTS).toContain('enqueue-n');
    for (const name of SCRIPTS) {
      const lua = loadScript(name);
      expect(lua.startsWith(`--[[\n  ${name}: `), name).toBe(true);
      expect(lua, name).not.toMatch(/--@include/);
    }
  });

  it('gives enqueue-n and rate-take-1 the one limits fragment', () => {
    for (const name of ['enqueue-n', 'rate-take-1']) {
      const lua = loadScript(name);
      expect(lua.match(/local function limits_read\(/g), name).toHaveLength(1);
      expect(lua.indexOf('local function limits_clock('), name).toBeLessThan(lua.indexOf('limits_clock()\n'));
    }
  });
});

describe('spliceIncludes', () => {
  const fragments: Record<string, string> = { 'a.lua': 'local A = 1', 'nested.lua': '--@include a.lua' };
  const read = (file: string) => {
    const text = fragments[file];
    if (text === undefined) throw new Error(`no ${file}`);
    return text;
  };

  it('replaces each include line by its fragment and leaves the rest alone', () => {
    expect(spliceIncludes('x.lua', '-- head\n--@include a.lua\nreturn A\n', read)).toBe(
      '-- head\nlocal A = 1\nreturn A\n',
    );
  });

  it('refuses a missing, nested or malformed include', () => {
    expect(() => spliceIncludes('x.lua', '--@include b.lua\n', read)).toThrow(/no b.lua/);
    expect(() => spliceIncludes('x.lua', '--@include nested.lua\n', read)).toThrow(/malformed or nested/);
    expect(() => spliceIncludes('x.lua', '--@include "a.lua"\n', read)).toThrow(/malformed or nested/);
  });
});

describe('numberOfKeys', () => {
  it('reads the key count from the name; -n means it varies', () => {
    expect(numberOfKeys('claim-due-2')).toBe(2);
    expect(numberOfKeys('enqueue-n')).toBeUndefined();
    expect(() => numberOfKeys('limits')).toThrow(/<name>-<numKeys>/);
  });
});

describe('defineScripts', () => {
  it('defines every script once per client, and its pipelines have them', () => {
    const redis = new Redis({ lazyConnect: true });
    const define = vi.spyOn(redis, 'defineCommand');
    const scripted = defineScripts(redis);
    expect(defineScripts(redis)).toBe(scripted);
    expect(define).toHaveBeenCalledTimes(SCRIPTS.length);
    expect(define).toHaveBeenCalledWith('mbEnqueue', { lua: loadScript('enqueue-n') });
    expect(define).toHaveBeenCalledWith('mbRateTake', { lua: loadScript('rate-take-1'), numberOfKeys: 1 });
    expect(typeof (redis.pipeline() as unknown as Record<string, unknown>)['mbEnqueue']).toBe('function');
    redis.disconnect();
  });
});
