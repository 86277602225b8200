import { describe, expect, it } from 'vitest';
import { fromStreamEntry, type StatusEventInput, toStreamFields } from './status-event.js';

const retry: StatusEventInput = {
  type: 'retry_scheduled',
  message_id: '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
  client: 7,
  client_id: 'gw-1.default',
  domain: 'default',
  attempt: 2,
  at: '2026-12-07T08:00:00.000Z',
  next_attempt_at: '2026-12-07T08:00:30.000Z',
  error_class: 'http_5xx',
};

describe('status event stream entries', () => {
  it('round-trip in both forms to the same event, keys in wire order', () => {
    const packed = fromStreamEntry('1-0', toStreamFields(retry, 'packed'));
    const fields = fromStreamEntry('1-0', toStreamFields(retry, 'fields'));
    const { client: _client, ...wire } = retry;
    expect(packed).toEqual({ event_id: '1-0', ...wire });
    expect(fields).toEqual(packed);
    // What a subscriber receives is JSON.stringify of the event: the same text either way.
    expect(JSON.stringify(packed)).toBe(JSON.stringify(fields));
    expect(Object.keys(packed!)).toEqual([
      'event_id',
      'type',
      'message_id',
      'client_id',
      'domain',
      'attempt',
      'at',
      'next_attempt_at',
      'error_class',
    ]);
  });

  it('packs into one field, without the id (the stream gives it)', () => {
    const fields = toStreamFields(retry);
    expect(fields).toHaveLength(2);
    expect(fields[0]).toBe('j');
    expect(JSON.parse(fields[1]!)).not.toHaveProperty('event_id');
  });

  it('reads nothing it does not trust: bad JSON, an unknown type, no message id, extra keys dropped', () => {
    expect(fromStreamEntry('1-0', ['j', '{not json'])).toBeUndefined();
    expect(fromStreamEntry('1-0', ['j', '{"type":"hacked","message_id":"m"}'])).toBeUndefined();
    expect(fromStreamEntry('1-0', ['j', '{"type":"queued"}'])).toBeUndefined();
    expect(fromStreamEntry('1-0', ['j', '"queued"'])).toBeUndefined();
    expect(fromStreamEntry('1-0', ['j', 'null'])).toBeUndefined();
    const extra = fromStreamEntry('1-0', [
      'j',
      '{"type":"queued","message_id":"m","client_id":"c.d","domain":"d","attempt":0,"at":"t","body":"secret"}',
    ]);
    expect(extra).toEqual({
      event_id: '1-0',
      type: 'queued',
      message_id: 'm',
      client_id: 'c.d',
      domain: 'd',
      attempt: 0,
      at: 't',
    });
  });
});
