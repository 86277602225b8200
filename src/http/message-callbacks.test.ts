import { describe, expect, it } from 'vitest';
import type { DomainConfig } from '../config/config.js';
import { refuseCallbackUrl } from './message-callbacks.js';

const domain = {
  status_callback: { secret: 'cb-secret', allowed_hosts: ['hooks.example', 'cb.example:8443'] },
} as unknown as DomainConfig;

describe("a message's own callback_url", () => {
  it('is taken towards an allowed host, by name or name:port', () => {
    expect(refuseCallbackUrl(domain, 'https://hooks.example/status')).toBeUndefined();
    expect(refuseCallbackUrl(domain, 'https://HOOKS.example:444/status?x=1')).toBeUndefined();
    expect(refuseCallbackUrl(domain, 'https://cb.example:8443/in')).toBeUndefined();
  });

  it('is refused towards any other host', () => {
    expect(refuseCallbackUrl(domain, 'https://cb.example/in')?.details).toEqual([
      expect.objectContaining({ field: 'callback_url', rule: 'allowed_hosts' }),
    ]);
  });

  // As a client's own callback URL is (callbackUrlProblem): the HTTP client drops the
  // credentials, so the receiver never sees them, and the password would sit in Redis.
  it('is refused with a user name or password, even towards an allowed host', () => {
    for (const url of ['https://user:pass@hooks.example/status', 'https://token@cb.example:8443/in']) {
      const refusal = refuseCallbackUrl(domain, url);
      expect(refusal?.code, url).toBe('INVALID_PAYLOAD');
      expect(refusal?.message, url).toMatch(/^callback_url must not carry a user name or password/);
      expect(refusal?.details, url).toEqual([expect.objectContaining({ field: 'callback_url', rule: 'url' })]);
    }
  });
});
