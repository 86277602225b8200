/**
 * What users expect beside the code: the licence, the changelog, the security policy,
 * and Node versions that agree between package.json, .nvmrc, CI and the Dockerfile.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/broker-harness.js';

const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');
const pkg = JSON.parse(read('package.json')) as { version: string; license: string; engines: { node: string } };

/** Whether `version` satisfies the engines range (the `^x.y.z || >=x.y.z` forms we use). */
function satisfies(version: string, range: string): boolean {
  const parse = (v: string) => v.split('.').map(Number) as [number, number, number];
  const cmp = (a: number[], b: number[]) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!;
  const v = parse(version);
  return range.split('||').some((part) => {
    const m = /^\s*(\^|>=)(\d+\.\d+\.\d+)\s*$/.exec(part);
    if (!m) throw new Error(`unexpected range part ${part}`);
    const base = parse(m[2]!);
    return m[1] === '>=' ? cmp(v, base) >= 0 : v[0] === base[0] && cmp(v, base) >= 0;
  });
}

describe('project files', () => {
  it('LICENSE is the Apache License 2.0, as package.json says', () => {
    const license = read('LICENSE');
    expect(license).toContain('Apache License');
    expect(license).toContain('Version 2.0, January 2004');
    expect(license).toContain('END OF TERMS AND CONDITIONS');
    expect(pkg.license).toBe('Apache-2.0');
  });

  it('CHANGELOG.md keeps a changelog: Unreleased first, then the current version', () => {
    const changelog = read('CHANGELOG.md');
    expect(changelog).toContain('[Keep a Changelog](https://keepachangelog.com/');
    const versions = [...changelog.matchAll(/^## \[([^\]]+)\]/gm)].map((m) => m[1]);
    expect(versions[0]).toBe('Unreleased');
    expect(versions).toContain(pkg.version);
    expect(changelog).toMatch(
      new RegExp(`^## \\[${pkg.version.replace(/\./g, '\\.')}\\] - \\d{4}-\\d{2}-\\d{2}$`, 'm'),
    );
  });

  it('SECURITY.md says how to report and what is supported', () => {
    const security = read('SECURITY.md');
    expect(security).toMatch(/^## Supported versions$/m);
    expect(security).toMatch(/^## Reporting a vulnerability$/m);
    expect(security).toContain(pkg.version.split('.').slice(0, 2).join('.'));
  });

  it('engines, .nvmrc, CI and the Dockerfile agree on Node: 22 and 24, not 20', () => {
    const range = pkg.engines.node;
    expect(satisfies('20.20.2', range)).toBe(false);
    expect(satisfies('22.12.0', range)).toBe(false); // undici 8 needs 22.19
    expect(satisfies('22.19.0', range)).toBe(true);
    expect(satisfies('24.0.0', range)).toBe(true);
    const nvmrc = read('.nvmrc').trim();
    expect(satisfies(`${nvmrc}.0.0`, range)).toBe(true);
    expect(read('.ci/run')).toContain('scripts/fetch-node.sh');
    expect(read('scripts/fetch-node.sh')).toContain('.nvmrc');
    expect(read('Dockerfile')).toContain(`node:${nvmrc}-bookworm-slim`);
  });
});
