import { describe, expect, it } from 'vitest';
import { statusEventSchema } from '../http/events.schemas.js';
import { AMQP_ERRORS } from './delivery-transport.js';
import { failureReason, UNDECRYPTABLE } from './delivery.metrics.js';

describe('failureReason', () => {
  // An event's error_class is this reason: a client that checks events against the
  // OpenAPI document (or decodes them into an enum) must know every value it can take.
  it('names only error classes the status events document, amqp reasons included', () => {
    const failures = [
      { status: 503, error: 'HTTP 503' },
      { status: 404, error: 'HTTP 404' },
      { status: 301, error: 'HTTP 301' },
      { error: UNDECRYPTABLE },
      { error: `${AMQP_ERRORS.unroutable}: no queue bound` },
      { error: `${AMQP_ERRORS.nack}: nacked` },
      { error: `${AMQP_ERRORS.timeout}: no confirm` },
      { error: `${AMQP_ERRORS.disconnected}: no connection` },
      { error: 'UND_ERR_HEADERS_TIMEOUT' },
      { error: 'ECONNREFUSED' },
    ];
    const reasons = failures.map((failure) => failureReason({ ok: false, retryable: true, ...failure }));
    expect(reasons).toEqual(expect.arrayContaining(['unroutable', 'nack']));
    const documented: readonly string[] = statusEventSchema.properties.error_class.enum;
    for (const reason of reasons) expect(documented, reason).toContain(reason);
  });
});
