import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RotatingLogFile } from './rotating-log-file.js';

const DAY = 86_400_000;
let dir: string;
let files: RotatingLogFile[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mb-logs-'));
});
afterEach(() => {
  for (const f of files) f.close();
  files = [];
  rmSync(dir, { recursive: true, force: true });
});

function open(now: { t: number }, retentionDays = 7): RotatingLogFile {
  const file = new RotatingLogFile({ path: join(dir, 'logs/broker.log'), retentionDays, now: () => now.t });
  file.open();
  files.push(file);
  return file;
}

describe('RotatingLogFile', () => {
  it('writes to the configured name, creating its directory, readable by owner and group only', () => {
    const file = open({ t: Date.parse('2030-03-10T08:00:00Z') });
    file.write('{"a":1}\n');
    expect(readFileSync(file.path, 'utf8')).toBe('{"a":1}\n');
    expect(statSync(file.path).mode & 0o777).toBe(0o640);
  });

  it('rotates at the first write after midnight UTC into <name>.<day>.log', () => {
    const now = { t: Date.parse('2030-03-10T23:59:59Z') };
    const file = open(now);
    file.write('day one\n');
    now.t += 2000;
    file.write('day two\n');
    expect(readFileSync(join(dir, 'logs/broker.2030-03-10.log'), 'utf8')).toBe('day one\n');
    expect(readFileSync(file.path, 'utf8')).toBe('day two\n');
  });

  it('keeps retention_days of archives and deletes older ones', () => {
    const now = { t: Date.parse('2030-03-01T12:00:00Z') };
    const file = open(now, 3);
    for (let day = 0; day < 6; day++) {
      file.write(`day ${day}\n`);
      now.t += DAY;
    }
    file.write('today\n');
    const names = readdirSync(join(dir, 'logs')).sort();
    // Today is 03-07: kept are the three days before it.
    expect(names).toEqual(['broker.2030-03-04.log', 'broker.2030-03-05.log', 'broker.2030-03-06.log', 'broker.log']);
  });

  it('archives a file an earlier run left on an earlier day, without overwriting an archive of that day', () => {
    const logs = join(dir, 'logs');
    const now = { t: Date.parse('2030-05-02T09:00:00Z') };
    const first = open(now);
    first.close();
    writeFileSync(join(logs, 'broker.2030-05-01.log'), 'archived earlier\n');
    writeFileSync(join(logs, 'broker.log'), 'left over\n');
    const yesterday = new Date('2030-05-01T20:00:00Z');
    utimesSync(join(logs, 'broker.log'), yesterday, yesterday);
    open(now);
    expect(readFileSync(join(logs, 'broker.2030-05-01.log'), 'utf8')).toBe('archived earlier\n');
    expect(readFileSync(join(logs, 'broker.2030-05-01.1.log'), 'utf8')).toBe('left over\n');
    expect(existsSync(join(logs, 'broker.log'))).toBe(true);
    expect(readFileSync(join(logs, 'broker.log'), 'utf8')).toBe('');
  });
});
