/**
 * A client disabled or enabled on one broker (portal, `mb client disable|enable`) must take
 * effect on every broker sharing the database, also on connections they already hold:
 *
 *   portal / mb CLI ──UPDATE clients──▶ MySQL
 *                   ──MULTI { SET|DEL <prefix>identity:client:<id>:disabled,
 *                             PUBLISH <prefix>events:client-status }──▶ every broker's main thread
 *                                                                     (the revocation subscriber)
 *
 * The message is a hint, not an authority: a receiver drops what it has cached about the
 * client and reads the status from the database before it closes anything, so a message
 * forged by whoever can PUBLISH on Redis cannot cut a client off while MySQL answers. The
 * disable marker is what a broker goes by while MySQL is away (the shared identity cache);
 * a broker that was not listening forgets every cached identity when it reconnects.
 */
import type { Redis } from 'ioredis';
import { queueClientStatusMark } from './identity-cache.js';
import { clientStatusChannel } from './keys.js';

export type AnnouncedClientStatus = 'active' | 'disabled';

export interface ClientStatusAnnouncement {
  v: 1;
  kind: 'client-status';
  /** `clients.id`. */
  client_id: number;
  /** `name.domain`, for the logs. */
  common_name: string;
  status: AnnouncedClientStatus;
  /** Who announced it: `portal@<instance>` or `cli@<host>`. */
  origin: string;
  at: string;
}

export async function announceClientStatus(
  redis: Redis,
  prefix: string,
  announcement: ClientStatusAnnouncement,
): Promise<void> {
  // The marker and the message together: a broker that cannot read MySQL refuses the client
  // from the marker (src/queue/identity-cache.ts), whether or not it heard the message.
  const multi = queueClientStatusMark(redis.multi(), prefix, announcement.client_id, announcement.status);
  const results = await multi.publish(clientStatusChannel(prefix), JSON.stringify(announcement)).exec();
  const failed = results?.find(([error]) => error);
  if (!results || failed) throw failed?.[0] ?? new Error('the announcement transaction was discarded');
}

/** Anything that does not have the expected shape is ignored rather than trusted. */
export function parseClientStatusAnnouncement(json: string): ClientStatusAnnouncement | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const a = value as Partial<ClientStatusAnnouncement> | null;
  if (a?.v !== 1 || a.kind !== 'client-status') return undefined;
  if (typeof a.client_id !== 'number' || !Number.isSafeInteger(a.client_id) || a.client_id <= 0) return undefined;
  if (a.status !== 'active' && a.status !== 'disabled') return undefined;
  if (typeof a.common_name !== 'string') return undefined;
  return {
    v: 1,
    kind: 'client-status',
    client_id: a.client_id,
    common_name: a.common_name,
    status: a.status,
    origin: String(a.origin ?? ''),
    at: String(a.at ?? ''),
  };
}

/**
 * Subscribes `subscriber` (the connection that carries the CRL announcements too) and calls
 * `onAnnouncement` for each valid message on the client status channel.
 */
export async function subscribeToClientStatus(
  subscriber: Redis,
  prefix: string,
  onAnnouncement: (announcement: ClientStatusAnnouncement) => void,
): Promise<void> {
  const channel = clientStatusChannel(prefix);
  subscriber.on('message', (from: string, message: string) => {
    if (from !== channel) return;
    const announcement = parseClientStatusAnnouncement(message);
    if (announcement) onAnnouncement(announcement);
  });
  await subscriber.subscribe(channel);
}
