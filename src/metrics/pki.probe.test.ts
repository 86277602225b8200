import { describe, expect, it } from 'vitest';
import { readFastFamilies } from './fast-series.js';
import { PkiProbe } from './pki.probe.js';

describe('PkiProbe', () => {
  it('labels each active client certificate with its CN, its domain and its serial', async () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    const probe = new PkiProbe({
      crlPath: '/nonexistent/crl.pem',
      listCertificates: async () => [
        { serial: '0a', status: 'active', not_after: new Date(now + 86_400_000), client_name: 'alice', domain: 'acme' },
        { serial: '0b', status: 'revoked', not_after: new Date(now + 86_400_000), client_name: 'bob', domain: 'acme' },
      ],
      serverCertificateNotAfter: () => undefined,
      now: () => now,
    });
    await probe.refresh();
    const family = readFastFamilies().find((f) => f.name === 'mb_client_cert_expiry_seconds')!;
    expect(family.values).toEqual([{ value: 86_400, labels: { client: 'alice.acme', domain: 'acme', serial: '0a' } }]);
  });
});
