import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
  writeSync,
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

  it('starts the next line on its own after a full disk took only part of one, and says when it writes again', () => {
    // The disk has room for `room` more bytes: a write takes what fits, then fails (ENOSPC).
    let room = 12;
    const fillingDisk = (fd: number, data: Uint8Array): number => {
      if (room === 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      const n = Math.min(room, data.length);
      room -= n;
      return writeSync(fd, data.subarray(0, n));
    };
    const file = new RotatingLogFile({ path: join(dir, 'logs/broker.log'), retentionDays: 7, writeSync: fillingDisk });
    file.open();
    files.push(file);
    const stderr: string[] = [];
    const original = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => stderr.push(String(chunk)) > 0) as typeof process.stderr.write;
    try {
      file.write('{"a":1}\n');
      file.write('{"b":2}\n'); // only `{"b"` fits
      file.write('{"c":3}\n'); // nothing fits
      room = 1000; // space freed
      file.write('{"d":4}\n');
      file.write('{"e":5}\n');
    } finally {
      process.stderr.write = original;
    }
    const lines = readFileSync(file.path, 'utf8').split('\n');
    expect(lines).toEqual(['{"a":1}', '{"b"', '{"d":4}', '{"e":5}', '']);
    expect(stderr).toHaveLength(2);
    expect(stderr[0]).toContain('not writable');
    expect(stderr[1]).toContain('writable again');
  });
});
