/**
 * One-time hand-off of a freshly issued key and certificate. The CA actor returns the
 * private key once and never stores it; the portal keeps it in memory only until the
 * admin who issued it downloads it — once — or for `TTL_MS` at most. A token is 32
 * random bytes and is bound to the issuing user: a leaked link is useless to anyone else.
 * A broker restart forgets every stashed key (revoke and issue again).
 *
 * The bound is per admin: one admin issuing in bulk (or a stolen admin session spamming
 * issue) evicts only their own oldest pending downloads, never another admin's. Memory
 * stays bounded by admins × `MAX_PER_USER`, each entry a few kilobytes.
 */
import { randomBytes } from 'node:crypto';
import type { IssuedBundle } from '../ca/ca.types.js';
import { zipArchive } from './zip-archive.js';

const TTL_MS = 10 * 60_000;
const MAX_PER_USER = 50;

interface Stashed {
  userId: number;
  bundle: IssuedBundle;
  expiresAt: number;
}

export class BundleStash {
  private readonly entries = new Map<string, Stashed>();

  /** How many pending downloads one admin may hold; the oldest goes first. */
  static readonly maxPerUser = MAX_PER_USER;

  constructor(private readonly now: () => number = Date.now) {}

  put(userId: number, bundle: IssuedBundle): string {
    this.sweep();
    this.evictOldestOf(userId, MAX_PER_USER - 1);
    const token = randomBytes(32).toString('base64url');
    this.entries.set(token, { userId, bundle, expiresAt: this.now() + TTL_MS });
    return token;
  }

  /** The bundle, removed from the stash; undefined if unknown, expired, taken already or not this user's. */
  take(token: string, userId: number): IssuedBundle | undefined {
    this.sweep();
    const entry = this.entries.get(token);
    if (!entry || entry.userId !== userId) return undefined;
    this.entries.delete(token);
    return entry.bundle;
  }

  get ttlMinutes(): number {
    return TTL_MS / 60_000;
  }

  /** Drops this user's oldest entries (Map order is insertion order) until `keep` remain. */
  private evictOldestOf(userId: number, keep: number): void {
    const own: string[] = [];
    for (const [token, entry] of this.entries) if (entry.userId === userId) own.push(token);
    for (const token of own.slice(0, Math.max(0, own.length - keep))) this.entries.delete(token);
  }

  private sweep(): void {
    const now = this.now();
    for (const [token, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(token);
  }
}

/** The download: the same layout as `certs/clients/<cn>/` on the broker host, plus a README. */
export function bundleZip(bundle: IssuedBundle, brokerUrl: string): Buffer {
  const cn = bundle.common_name;
  const readme = [
    `Client certificate ${cn}`,
    `serial ${bundle.serial}, valid ${bundle.not_before} – ${bundle.not_after}`,
    `SHA-256 fingerprint ${bundle.fingerprint}`,
    '',
    'client.key is the private key: keep it secret (chmod 600). The broker has no copy.',
    '',
    'Send a message:',
    `  curl --cert ${cn}/client.crt --key ${cn}/client.key --cacert ${cn}/ca.crt \\`,
    `    -H 'content-type: application/json' \\`,
    `    -d '{"sender_number":"+14155550123","message_body":"Hello"}' \\`,
    `    ${brokerUrl}/api/v1/messages`,
    '',
  ].join('\n');
  return zipArchive([
    { name: `${cn}/client.crt`, data: bundle.cert_pem },
    { name: `${cn}/client.key`, data: bundle.key_pem, mode: 0o600 },
    { name: `${cn}/ca.crt`, data: bundle.ca_pem },
    { name: `${cn}/README.txt`, data: readme },
  ]);
}
