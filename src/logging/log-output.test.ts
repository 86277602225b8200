import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogOutput } from './log-output.js';

const dir = mkdtempSync(join(tmpdir(), 'mb-log-output-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const write = (output: LogOutput, line: string) =>
  new Promise<void>((resolve, reject) => output.write(`${line}\n`, (error) => (error ? reject(error) : resolve())));

describe('LogOutput.reconfigure', () => {
  it('moves to a new log file between two lines, and keeps the old one when the new cannot be opened', async () => {
    const first = join(dir, 'first.log');
    const second = join(dir, 'sub/second.log');
    const output = new LogOutput({ file: first, retentionDays: 7 });
    await write(output, '{"n":1}');
    output.reconfigure({ level: 'info', file: second, retention_days: 7 });
    await write(output, '{"n":2}');
    expect(readFileSync(first, 'utf8')).toBe('{"n":1}\n');
    expect(readFileSync(second, 'utf8')).toBe('{"n":2}\n');

    // A path below a regular file cannot be created: refused, the file in use stays.
    writeFileSync(join(dir, 'blocker'), '');
    expect(() => output.reconfigure({ level: 'info', file: join(dir, 'blocker/x.log'), retention_days: 7 })).toThrow();
    await write(output, '{"n":3}');
    expect(readFileSync(second, 'utf8')).toBe('{"n":2}\n{"n":3}\n');
    expect(output.filePath).toBe(second);

    // No file: stdout only.
    output.reconfigure({ level: 'info', file: '', retention_days: 7 });
    await write(output, '{"n":4}');
    expect(readFileSync(second, 'utf8')).toBe('{"n":2}\n{"n":3}\n');
    expect(output.filePath).toBeUndefined();
  });

  it('applies a new retention_days to the archives at once', () => {
    const path = join(dir, 'keep/broker.log');
    const output = new LogOutput({ file: path, retentionDays: 30 });
    const old = new Date(Date.now() - 10 * 86_400_000).toISOString().slice(0, 10);
    writeFileSync(join(dir, `keep/broker.${old}.log`), '{}\n');
    output.reconfigure({ level: 'info', file: path, retention_days: 30 });
    expect(readFileSync(join(dir, `keep/broker.${old}.log`), 'utf8')).toBe('{}\n');
    output.reconfigure({ level: 'info', file: path, retention_days: 3 });
    expect(() => readFileSync(join(dir, `keep/broker.${old}.log`))).toThrow();
  });
});
