import { describe, expect, it } from 'vitest';
import { parseWrkResult } from './native-wrk.js';

describe('--client wrk-c', () => {
  it("reads wrk's RESULT line and bash's times as the bench's load result", () => {
    const out =
      'Running 20s test @ https://127.0.0.1:8443\n' +
      'RESULT requests=1000 duration_s=2.000 p50_ms=1.50 p90_ms=3.00 p99_ms=9.52 max_ms=40.09 accepted=990 ' +
      'status=202:990,429:7,503:3 errors=connect:0,read:2,write:0,timeout:1\n' +
      '0m0.004s 0m0.002s\n0m1.250s 0m0.750s\n';
    const result = parseWrkResult(out, 10_000, 12_100, 50);
    expect(result).toEqual({
      sent: 1000,
      accepted: 990,
      errors: { HTTP_429: 7, HTTP_503: 3, socket_read: 2, socket_timeout: 1 },
      started_at: 10_100,
      ended_at: 12_100,
      latency_ms: { p50: 1.5, p90: 3, p99: 9.52, max: 40.09 },
      cpu_s: 2,
      tls: { opened: 50, resumed: 0 },
    });
  });

  it('refuses output without a RESULT line', () => {
    expect(() => parseWrkResult('unable to connect\n', 0, 1, 2)).toThrow(/no RESULT line/);
  });
});
