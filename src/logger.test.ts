import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

describe('createLogger', () => {
  it("passes a new level on to the children made before (a reload's log.level reaches them all)", () => {
    const lines: Array<{ level: number; msg: string }> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()));
        done();
      },
    });
    const root = createLogger('info', {}, sink);
    const child = root.child({ component: 'heartbeat' });
    const grandchild = child.child({ request: 1 });
    grandchild.debug('hidden');
    root.level = 'debug';
    grandchild.debug('shown');
    child.debug('shown too');
    root.level = 'warn';
    child.info('hidden again');
    expect(lines.map((l) => l.msg)).toEqual(['shown', 'shown too']);
  });
});
