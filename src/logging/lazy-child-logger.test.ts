import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { lazyChildLogger } from './lazy-child-logger.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write: (chunk: Buffer, _e, done) => {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

describe('lazyChildLogger', () => {
  it('makes no child for lines below the level, and binds the request on lines that are written', () => {
    const { lines, stream } = capture();
    const parent = createLogger('warn', {}, stream);
    let children = 0;
    const child = parent.child.bind(parent);
    parent.child = ((...args: Parameters<typeof child>) => {
      children++;
      return child(...args);
    }) as typeof parent.child;
    const log = lazyChildLogger(parent, { tracking_id: 'req-1' });
    log.info({ message_id: 'm1' }, 'message queued');
    log.debug('nothing');
    expect(children).toBe(0);
    expect(log.isLevelEnabled('info')).toBe(false);
    log.warn({ sender_number: '+14155550123' }, 'refused');
    expect(children).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ tracking_id: 'req-1', msg: 'refused', sender_number: '[redacted]' });
    log.error('again');
    expect(children).toBe(1);
    expect(lines[1]).toMatchObject({ tracking_id: 'req-1', msg: 'again' });
  });

  it('honours a per-route level and can be re-levelled', () => {
    const { lines, stream } = capture();
    const parent = createLogger('info', {}, stream);
    const quiet = lazyChildLogger(parent, { tracking_id: 'r' }, { level: 'error' });
    quiet.warn('hidden');
    expect(lines).toHaveLength(0);
    expect(quiet.level).toBe('error');
    quiet.level = 'debug';
    quiet.debug('shown');
    expect(lines).toHaveLength(1);
    expect((quiet.child({ extra: 1 }) as ReturnType<typeof createLogger>).bindings()).toMatchObject({
      tracking_id: 'r',
      extra: 1,
    });
  });
});
