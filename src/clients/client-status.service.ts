/**
 * Disabling or enabling a client, the one way every path does it (portal, `mb client
 * disable|enable`): the status is written to MySQL, applied to this process's connections
 * at once when it runs a front, and announced to every broker sharing the Redis.
 *
 *   set(client, status) ──▶ UPDATE clients ──▶ local IdentityResolver (disabled: open
 *                                              sockets refused, closed ≤ 0.5 s)
 *                                          └─▶ enable: the client's identities into the shared cache
 *                                          └─▶ MULTI { disable marker set / lifted, PUBLISH
 *                                              <prefix>events:client-status } (revocation-listener.ts elsewhere)
 *
 * A status that could not be announced still stands: new connections elsewhere see it once
 * their identity cache expires (`server.identity_cache_ms`), and the caller is told.
 */
import type { ClientsRepository } from '../db/clients.repository.js';
import type { ClientRow } from '../db/schema.js';
import { BrokerError } from '../errors.js';
import { closeSoon, type IdentityResolver } from '../http/client-identity.js';
import type { AnnouncedClientStatus, ClientStatusAnnouncement } from '../queue/client-status-events.js';

export interface ClientStatusDeps {
  clients: Pick<ClientsRepository, 'setStatus'>;
  /** This process's front, when it has one (the portal's broker; not the CLI). */
  identity?: Pick<IdentityResolver, 'forgetClient' | 'disableClient'> | undefined;
  /** Publishes to the other brokers; absent = nobody to tell. */
  announce?: ((announcement: ClientStatusAnnouncement) => Promise<void>) | undefined;
  /** Who announces: `portal@<instance>` or `cli@<host>`. */
  origin: string;
  /**
   * Puts the client's active certificates into the identity cache shared in Redis
   * (src/queue/identity-cache.ts), so that an enabled client is accepted while MySQL is
   * away even if its entries expired meanwhile. Absent = no shared cache.
   */
  shareIdentities?: ((clientId: number) => Promise<void>) | undefined;
}

export interface ClientStatusOutcome {
  /** False when the other brokers could not be told (Redis unreachable). */
  announced: boolean;
}

export class ClientStatusService {
  constructor(private readonly deps: ClientStatusDeps) {}

  async set(
    client: Pick<ClientRow, 'id' | 'name' | 'domain'>,
    status: AnnouncedClientStatus,
  ): Promise<ClientStatusOutcome> {
    const { clients, identity, announce, origin, shareIdentities } = this.deps;
    if (!(await clients.setStatus(client.id, status))) throw new BrokerError('NOT_FOUND');
    // Cached identities carry the client's status: drop them either way; refuse and close when disabling.
    if (identity) {
      if (status === 'disabled') for (const socket of identity.disableClient(client.id)) closeSoon(socket);
      else identity.forgetClient(client.id);
    }
    // Before the announcement, whose transaction lifts the disable marker: written while still masked.
    if (status === 'active') await shareIdentities?.(client.id).catch(() => undefined); // best effort: shared at first lookup otherwise
    if (!announce) return { announced: false };
    try {
      await announce({
        v: 1,
        kind: 'client-status',
        client_id: client.id,
        common_name: `${client.name}.${client.domain}`,
        status,
        origin,
        at: new Date().toISOString(),
      });
      return { announced: true };
    } catch {
      return { announced: false };
    }
  }
}
