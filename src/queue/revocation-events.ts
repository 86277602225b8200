/**
 * Revocations and CRL updates travel between brokers through Redis:
 *
 *   CA actor / mb CLI ──MULTI { SET <prefix>pki:crl, DEL <prefix>identity:cert:<fp>…,
 *                               PUBLISH <prefix>events:revocations }──▶
 *        every broker's main thread (dedicated subscriber connection)
 *
 * The message carries the new CRL itself, so a broker on a host without the CA (or
 * without a shared certs/ directory) can reload it. The same announcement is kept under
 * a key: a broker that was disconnected or restarting when it was published reads it on
 * (re)connect. Receivers must verify the CRL's signature before trusting it: Redis is a
 * transport, not an authority.
 */
import type { Redis } from 'ioredis';
import { queueForgetIdentities } from './identity-cache.js';
import { latestCrlKey, revocationChannel } from './keys.js';

export interface CrlAnnouncement {
  v: 1;
  /** `revoked`: certificates were just revoked; `crl`: the CRL was re-signed (freshness). */
  kind: 'revoked' | 'crl';
  /** What was revoked by this operation (empty for a re-sign). */
  revoked: Array<{ serial: string; fingerprint: string }>;
  crl_pem: string;
  crl_number: number;
  /** Who announced it: `ca@<instance>` or `cli@<host>`. */
  origin: string;
  at: string;
}

export async function announceCrl(redis: Redis, prefix: string, announcement: CrlAnnouncement): Promise<void> {
  const json = JSON.stringify(announcement);
  // The revoked certificates leave the shared identity cache in the same transaction.
  const multi = queueForgetIdentities(
    redis.multi().set(latestCrlKey(prefix), json),
    prefix,
    announcement.revoked.map((r) => r.fingerprint),
  );
  const results = await multi.publish(revocationChannel(prefix), json).exec();
  const failed = results?.find(([error]) => error);
  if (!results || failed) throw failed?.[0] ?? new Error('the announcement transaction was discarded');
}

export async function readLatestCrl(redis: Redis, prefix: string): Promise<CrlAnnouncement | undefined> {
  const json = await redis.get(latestCrlKey(prefix));
  return json === null ? undefined : parseAnnouncement(json);
}

/** Anything that does not have the expected shape is ignored rather than trusted. */
export function parseAnnouncement(json: string): CrlAnnouncement | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const a = value as Partial<CrlAnnouncement> | null;
  if (a?.v !== 1 || (a.kind !== 'revoked' && a.kind !== 'crl')) return undefined;
  if (typeof a.crl_pem !== 'string' || typeof a.crl_number !== 'number' || !Array.isArray(a.revoked)) return undefined;
  const revoked = a.revoked.filter(
    (r): r is { serial: string; fingerprint: string } =>
      typeof r?.serial === 'string' && typeof r?.fingerprint === 'string',
  );
  return {
    v: 1,
    kind: a.kind,
    revoked,
    crl_pem: a.crl_pem,
    crl_number: a.crl_number,
    origin: String(a.origin ?? ''),
    at: String(a.at ?? ''),
  };
}

/**
 * Subscribes `subscriber` (a connection used for nothing else: a subscribed connection
 * cannot run other commands) and calls `onAnnouncement` for each valid message.
 * `onConnected` runs after every (re)subscription, so the caller can catch up on what
 * it missed while disconnected.
 */
export async function subscribeToCrlAnnouncements(
  subscriber: Redis,
  prefix: string,
  onAnnouncement: (announcement: CrlAnnouncement) => void,
  onConnected: () => void,
): Promise<void> {
  const channel = revocationChannel(prefix);
  subscriber.on('message', (from: string, message: string) => {
    if (from !== channel) return;
    const announcement = parseAnnouncement(message);
    if (announcement) onAnnouncement(announcement);
  });
  // ioredis re-subscribes by itself after a reconnect; 'ready' fires once that is done.
  subscriber.on('ready', onConnected);
  await subscriber.subscribe(channel);
}
