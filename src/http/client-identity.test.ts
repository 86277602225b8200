/**
 * The CN as the front reads it from `X509Certificate.subject`, checked against what
 * OpenSSL writes for real certificates with plain, escaped and multi-line subjects; and
 * the resolver's handling of a client status change that races a lookup.
 */
import { execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BrokerError } from '../errors.js';
import { commonNameOf, IdentityResolver, type IdentityRow, refusalFromTls } from './client-identity.js';

const dir = mkdtempSync(join(tmpdir(), 'mb-cn-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function subjectOf(dn: string): string {
  const out = join(dir, 'c.crt');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'c.key'),
      '-out',
      out,
      '-days',
      '1',
      '-utf8',
      '-subj',
      dn,
    ],
    { stdio: 'ignore' },
  );
  return new X509Certificate(readFileSync(out)).subject;
}

describe('commonNameOf', () => {
  it('reads the CN of a certificate our CA issues, among other attributes', () => {
    expect(commonNameOf(subjectOf('/O=Message Broker/CN=gateway-7.alpha'))).toBe('gateway-7.alpha');
  });

  it('undoes OpenSSL escaping, including UTF-8 bytes, and takes the first CN', () => {
    expect(commonNameOf(subjectOf('/O=Acme, Inc./CN=we"ird\\, näme/CN=second'))).toBe('we"ird, näme');
  });

  it('cannot be fooled by a newline in another attribute', () => {
    const subject = subjectOf('/O=x\nCN=admin.alpha/CN=real.alpha');
    expect(commonNameOf(subject)).toBe('real.alpha');
  });

  it('answers undefined when there is no CN', () => {
    expect(commonNameOf(subjectOf('/O=No Name'))).toBeUndefined();
  });
});

describe('IdentityResolver and client status changes', () => {
  const row = (status: IdentityRow['client_status']): IdentityRow => ({
    serial: '0a',
    fingerprint: 'f1',
    cert_status: 'active',
    not_before: new Date(Date.now() - 60_000),
    not_after: new Date(Date.now() + 60_000),
    client_id: 7,
    client_name: 'gw',
    domain: 'alpha',
    client_status: status,
  });
  const socket = () => new EventEmitter() as unknown as Socket;
  const peer = () => ({ present: true, authorized: true, fingerprint: 'f1', commonName: 'gw.alpha' });

  it('does not keep what a lookup read before a status change announced while it ran', async () => {
    let status: IdentityRow['client_status'] = 'active';
    let release: () => void = () => undefined;
    let lookups = 0;
    const identity = new IdentityResolver(
      async () => {
        lookups++;
        const read = row(status); // read before the change…
        if (lookups === 1) await new Promise<void>((r) => (release = r)); // …answered after it
        return read;
      },
      60_000,
      peer,
    );
    const pending = identity.resolve(socket());
    await new Promise((r) => setImmediate(r));
    status = 'disabled';
    identity.forgetClient(7);
    release();
    await expect(pending).rejects.toSatisfy((e) => e instanceof BrokerError && e.code === 'CLIENT_DISABLED');
    await expect(identity.resolve(socket())).rejects.toSatisfy(
      (e) => e instanceof BrokerError && e.code === 'CLIENT_DISABLED',
    );
    expect(lookups).toBe(2); // asked again once, then cached
  });

  it('disableClient refuses the open connections of every certificate of the client, and only those', async () => {
    const identity = new IdentityResolver(async () => row('active'), 60_000, peer);
    const open = socket();
    await identity.resolve(open);
    expect(identity.disableClient(8).size).toBe(0);
    expect([...identity.disableClient(7)]).toEqual([open]);
    await expect(identity.resolve(open)).rejects.toSatisfy(
      (e) => e instanceof BrokerError && e.code === 'CLIENT_DISABLED',
    );
  });

  it('known() gives a connection its identity without a promise once resolved, and forgets it with every refusal', async () => {
    let lookups = 0;
    const identity = new IdentityResolver(
      async () => {
        lookups++;
        return row('active');
      },
      0, // no cache across connections: every new lookup is counted
      peer,
    );
    const open = socket();
    expect(identity.known(open)).toBeUndefined();
    const pending = identity.resolve(open);
    expect(identity.known(open)).toBeUndefined(); // still looking up
    await pending;
    expect(identity.known(open)).toMatchObject({ client_id: 7, common_name: 'gw.alpha' });
    expect(lookups).toBe(1);

    identity.forgetClient(7);
    expect(identity.known(open)).toBeUndefined();
    await identity.resolve(open);
    expect(lookups).toBe(2);
    expect(identity.known(open)?.client_id).toBe(7);

    identity.forgetAll();
    expect(identity.known(open)).toBeUndefined();
    await identity.resolve(open);
    expect(identity.invalidate('f1').has(open)).toBe(true);
    expect(identity.known(open)).toBeUndefined();
    await identity.resolve(open);

    identity.revoke('f1');
    expect(identity.known(open)).toBeUndefined();
    await expect(identity.resolve(open)).rejects.toSatisfy(
      (e) => e instanceof BrokerError && e.code === 'CERT_REVOKED',
    );
    expect(identity.known(open)).toBeUndefined();

    const other = socket();
    await identity.resolve(other);
    identity.disableClient(7);
    expect(identity.known(other)).toBeUndefined();
  });

  it('refuses an open connection from the moment its certificate ends, tells its WebSocket, then closes it', async () => {
    const ending: IdentityRow = { ...row('active'), not_after: new Date(Date.now() + 150) };
    const identity = new IdentityResolver(async () => ending, 60_000, peer);
    let destroyed = false;
    const open = Object.assign(new EventEmitter(), {
      destroyed: false,
      destroy: () => {
        destroyed = true;
      },
    }) as unknown as Socket;
    const refusals: string[] = [];
    identity.onRefusal(open, (code) => refusals.push(code));
    await identity.resolve(open);
    expect(identity.known(open)?.client_id).toBe(7);
    await new Promise((r) => setTimeout(r, 250));
    expect(identity.known(open)).toBeUndefined();
    await expect(identity.resolve(open)).rejects.toSatisfy(
      (e) => e instanceof BrokerError && e.code === 'CERT_EXPIRED',
    );
    expect(refusals).toEqual(['CERT_EXPIRED']);
    await new Promise((r) => setTimeout(r, 600)); // the grace a request on the wire gets
    expect(destroyed).toBe(true);
  });

  it('known() stays empty for a connection whose lookup failed', async () => {
    const identity = new IdentityResolver(async () => undefined, 0, peer);
    const open = socket();
    await expect(identity.resolve(open)).rejects.toSatisfy(
      (e) => e instanceof BrokerError && e.code === 'CERT_UNKNOWN',
    );
    expect(identity.known(open)).toBeUndefined();
  });
});

describe('refusalFromTls', () => {
  it('names why OpenSSL refused the certificate', () => {
    expect(refusalFromTls('CERT_HAS_EXPIRED').code).toBe('CERT_EXPIRED');
    expect(refusalFromTls('CERT_REVOKED').code).toBe('CERT_REVOKED');
    // Our CA issued it (the server's certificate, say), but not for clients: not "not ours".
    const purpose = refusalFromTls('INVALID_PURPOSE');
    expect(purpose.code).toBe('CERT_UNTRUSTED');
    expect(purpose.message).toBe('The certificate is not made for client authentication');
    expect(refusalFromTls('UNABLE_TO_GET_ISSUER_CERT_LOCALLY').message).toBe(
      'The client certificate is not issued by this broker',
    );
    // Our CRL past its nextUpdate is the broker's fault; a foreign certificate's missing CRL is not.
    expect(refusalFromTls('CRL_HAS_EXPIRED').code).toBe('CRL_UNAVAILABLE');
    expect(refusalFromTls('UNABLE_TO_GET_CRL').code).toBe('CERT_UNTRUSTED');
  });
});
