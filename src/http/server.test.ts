import { describe, expect, it } from 'vitest';
import { slowClientDeadlines } from './server.js';

describe('slowClientDeadlines', () => {
  it('bounds the handshake and the headers by headers_timeout_ms, the request by request_timeout_ms, and sweeps often enough', () => {
    expect(slowClientDeadlines({ headers_timeout_ms: 5000, request_timeout_ms: 10_000 })).toEqual({
      handshakeTimeout: 5000,
      headersTimeout: 5000,
      requestTimeout: 10_000,
      connectionsCheckingInterval: 1000,
    });
    expect(
      slowClientDeadlines({ headers_timeout_ms: 2000, request_timeout_ms: 4000 }).connectionsCheckingInterval,
    ).toBe(500);
  });

  it('caps the header deadline at the request deadline (Node refuses the other way round)', () => {
    expect(slowClientDeadlines({ headers_timeout_ms: 5000, request_timeout_ms: 300 })).toMatchObject({
      headersTimeout: 300,
      requestTimeout: 300,
      connectionsCheckingInterval: 75,
    });
  });
});
