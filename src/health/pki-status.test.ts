import { describe, expect, it } from 'vitest';
import type { CertificateWithClient } from '../db/certificates.repository.js';
import type { ParsedCrl } from '../pki/crl.js';
import { PkiStatus } from './pki-status.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;

function crlEnding(inMs: number): ParsedCrl {
  const now = Date.now();
  return {
    thisUpdate: new Date(now - HOUR),
    nextUpdate: new Date(now + inMs),
    crlNumber: 42,
    revokedSerials: ['0a'],
    revoked: [],
  };
}

function row(
  client: string,
  serial: string,
  daysLeft: number,
  status: CertificateWithClient['status'] = 'active',
): CertificateWithClient {
  const now = Date.now();
  return {
    id: 1,
    serial,
    client_id: 1,
    fingerprint: serial.padEnd(64, '0'),
    subject_cn: `${client}.default`,
    not_before: new Date(now - DAY),
    not_after: new Date(now + daysLeft * DAY),
    status,
    revoked_at: null,
    reason: null,
    created_at: new Date(now - DAY),
    client_name: client,
    domain: 'default',
  };
}

const registryOf = (rows: CertificateWithClient[] | Error) => ({
  list: async () => {
    if (rows instanceof Error) throw rows;
    return rows;
  },
});

describe('crl component', () => {
  it('is up with days to go, degraded within a day of nextUpdate, down past it', () => {
    const at = (ms: number) => new PkiStatus(() => crlEnding(ms), registryOf([])).crlComponent();
    expect(at(6 * DAY)).toMatchObject({ status: 'up', crl_number: 42, revoked: 1 });
    expect(at(6 * DAY).age_s).toBeGreaterThanOrEqual(3599);
    expect(at(6 * DAY).next_update_s).toBeGreaterThan(6 * 86_400 - 5);
    expect(at(20 * HOUR).status).toBe('degraded');
    expect(at(-HOUR)).toMatchObject({
      status: 'down',
      problem: expect.stringContaining('every client handshake fails'),
    });
    expect(new PkiStatus(() => undefined, registryOf([])).crlComponent().status).toBe('degraded');
  });
});

describe('client_certificates component', () => {
  it('counts and lists active certificates that expire within 30 days, soonest first', async () => {
    const status = new PkiStatus(
      () => undefined,
      registryOf([row('a', '01', 200), row('b', '02', 20), row('c', '03', 10), row('d', '04', 3, 'revoked')]),
    );
    const component = await status.clientCertificatesComponent();
    expect(component).toMatchObject({ status: 'up', active: 3, expiring_within_30_days: 2 });
    expect((component.expiring as Array<{ common_name: string }>).map((c) => c.common_name)).toEqual([
      'c.default',
      'b.default',
    ]);
  });

  it('counts a client renewed in time by its newest certificate: the old one ending is no warning', async () => {
    // The overlap: b's old certificate ends in 3 days, its renewal in a year; c has only the old one.
    const status = new PkiStatus(
      () => undefined,
      registryOf([row('b', '01', 3), row('b', '02', 365), row('c', '03', 3)]),
    );
    const component = await status.clientCertificatesComponent();
    expect(component).toMatchObject({ status: 'degraded', active: 3, expiring_within_30_days: 1 });
    expect((component.expiring as Array<{ serial: string }>).map((c) => c.serial)).toEqual(['03']);
    expect((await status.clientsLatestCertificates()).map((c) => c.serial).sort()).toEqual(['02', '03']);
    const renewedOnly = new PkiStatus(() => undefined, registryOf([row('b', '01', 3), row('b', '02', 365)]));
    // Before: degraded, naming b's superseded certificate.
    expect(await renewedOnly.clientCertificatesComponent()).toMatchObject({ status: 'up', expiring_within_30_days: 0 });
  });

  it('is degraded when one expires within a week or the registry cannot be read', async () => {
    expect(
      (await new PkiStatus(() => undefined, registryOf([row('a', '01', 5)])).clientCertificatesComponent()).status,
    ).toBe('degraded');
    expect(
      (await new PkiStatus(() => undefined, registryOf(new Error('db down'))).clientCertificatesComponent()).status,
    ).toBe('degraded');
  });
});
