import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError } from 'commander';
import { loadConfig } from '../config/config.js';
import { BrokerError } from '../errors.js';
import {
  ensurePrivateDir,
  parsePositiveInt,
  printTable,
  removeIfEmpty,
  requireConfiguredDomain,
  resolveClient,
  terminalSafe,
} from './cli-support.js';

const oneDomain = loadConfig({ values: {}, env: {} });
const twoDomains = loadConfig({ values: { domains: [{ name: 'default' }, { name: 'acme.example' }] }, env: {} });

describe('resolveClient', () => {
  it('splits a CN at its first dot (client names have none, domains may)', () => {
    expect(resolveClient(twoDomains, 'alice.acme.example', undefined)).toEqual({
      name: 'alice',
      domain: 'acme.example',
    });
    expect(resolveClient(twoDomains, 'alice.acme.example', 'acme.example')).toEqual({
      name: 'alice',
      domain: 'acme.example',
    });
  });

  it('takes --domain, or the only configured domain', () => {
    expect(resolveClient(twoDomains, 'alice', 'default')).toEqual({ name: 'alice', domain: 'default' });
    expect(resolveClient(oneDomain, 'alice', undefined)).toEqual({ name: 'alice', domain: 'default' });
  });

  it('refuses a contradiction and a missing domain when several exist', () => {
    expect(() => resolveClient(twoDomains, 'alice.default', 'acme.example')).toThrow(BrokerError);
    expect(() => resolveClient(twoDomains, 'alice', undefined)).toThrow(/give --domain/);
  });
});

describe('parsePositiveInt', () => {
  it('accepts whole positive numbers only, as a usage error otherwise', () => {
    expect(parsePositiveInt('30')).toBe(30);
    for (const bad of ['0', '-1', '1.5', 'ten', '']) expect(() => parsePositiveInt(bad)).toThrow(InvalidArgumentError);
  });
});

describe('requireConfiguredDomain', () => {
  it('refuses a domain the config does not name, with UNKNOWN_DOMAIN', () => {
    expect(() => requireConfiguredDomain(twoDomains, 'acme.example')).not.toThrow();
    expect(() => requireConfiguredDomain(twoDomains, 'nosuch')).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_DOMAIN', message: 'Domain nosuch is not configured' }),
    );
  });
});

describe('ensurePrivateDir and removeIfEmpty', () => {
  it('says whether it made the directory, and a made one that stayed empty is removed again', () => {
    const root = mkdtempSync(join(tmpdir(), 'mb-cli-dir-'));
    try {
      const fresh = join(root, 'clients', 'eve.default');
      expect(ensurePrivateDir(fresh)).toBe(true);
      expect(ensurePrivateDir(fresh)).toBe(false);
      removeIfEmpty(fresh);
      expect(existsSync(fresh)).toBe(false);
      const used = join(root, 'clients', 'alice.default');
      ensurePrivateDir(used);
      writeFileSync(join(used, 'client.crt'), 'kept');
      removeIfEmpty(used);
      expect(existsSync(join(used, 'client.crt'))).toBe(true);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('terminalSafe and the table printer', () => {
  it('writes control and format characters as escapes, never raw', () => {
    expect(terminalSafe('a\u001b[2Jb\u0007c\td\u202ee\u200df')).toBe('a\\x1b[2Jb\\x07c\\x09d\\u202ee\\u200df');
    expect(terminalSafe('plain ünïcödé ☃')).toBe('plain ünïcödé ☃');
  });

  it('escapes every cell of a table', () => {
    const written: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    try {
      printTable(['NAME', 'DOMAIN'], [['x\u001b]0;owned\u0007', 'd\u202e']]);
    } finally {
      spy.mockRestore();
    }
    const output = written.join('');
    expect(output.replace(/[\t\n]/g, '')).not.toMatch(/[\p{Cc}\p{Cf}]/u);
    expect(output).toContain('x\\x1b]0;owned\\x07');
    expect(output).toContain('d\\u202e');
  });
});
