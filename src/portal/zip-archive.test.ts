import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { zipArchive } from './zip-archive.js';

describe('zipArchive', () => {
  it('writes an archive unzip extracts byte for byte, with the file modes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mb-zip-'));
    try {
      const key = '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n';
      const binary = Buffer.from(Array.from({ length: 300 }, (_, i) => i % 256));
      const zip = zipArchive([
        { name: 'demo.default/client.key', data: key, mode: 0o600 },
        { name: 'demo.default/blob.bin', data: binary },
        { name: 'demo.default/README.txt', data: 'héllo ✓\n' },
      ]);
      writeFileSync(join(dir, 'bundle.zip'), zip);
      execFileSync('unzip', ['-t', '-qq', 'bundle.zip'], { cwd: dir });
      execFileSync('unzip', ['-qq', 'bundle.zip'], { cwd: dir });
      expect(readFileSync(join(dir, 'demo.default/client.key'), 'utf8')).toBe(key);
      expect(readFileSync(join(dir, 'demo.default/blob.bin')).equals(binary)).toBe(true);
      expect(readFileSync(join(dir, 'demo.default/README.txt'), 'utf8')).toBe('héllo ✓\n');
      expect(statSync(join(dir, 'demo.default/client.key')).mode & 0o777).toBe(0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
