/**
 * `GET /portal/live`: a WebSocket that tells an open overview or message list that
 * something changed, so the page fetches itself again (src/portal/assets/live.js) instead
 * of being reloaded. It carries hints only — `{"type":"changed","status":…}` — never
 * message content: what the page then shows comes from the page route, with its tenant
 * rules. The hints themselves follow the same scope: a user's socket listens to its own
 * client's events, an admin's to the clients of their domain, a superadmin's to all.
 *
 * Authenticated by the session cookie (the portal's session hook runs first) and refused
 * unless the Origin is this portal's own (a cross-site page could otherwise open it with
 * the victim's cookie: WebSockets are not bound by CORS). An admin's or superadmin's socket
 * looks for clients created since it opened every `clientsRefreshMs` (a user's scope is one
 * client, fixed), subscribes to them and hints the page at once: what such a client did
 * before it was found shows on that refresh.
 */
import type { FastifyInstance } from 'fastify';
import type { ClientsRepository } from '../db/clients.repository.js';
import { BrokerError } from '../errors.js';
import type { EventHub } from '../events/event-hub.js';
import type { StatusEvent } from '../events/status-event.js';
import type { Scope } from './tenant-scope.js';

export interface LiveRouteDeps {
  events: EventHub;
  clients: Pick<ClientsRepository, 'list'>;
  /**
   * How often a domain-wide or global socket looks for new clients (one SELECT per open page).
   * @defaultValue 5000
   */
  clientsRefreshMs?: number;
}

/** Hints sent per second at most; the page refreshes once per burst anyway. */
const HINT_INTERVAL_MS = 250;
const CLIENTS_REFRESH_MS = 5000;

async function clientIdsOf(clients: LiveRouteDeps['clients'], scope: Scope): Promise<number[]> {
  switch (scope.kind) {
    case 'client':
      return [scope.clientId];
    case 'domain':
      return (await clients.list({ domain: scope.domain })).map((c) => c.id);
    case 'all':
      return (await clients.list()).map((c) => c.id);
    case 'none':
      return [];
  }
}

export function registerLiveRoute(app: FastifyInstance, deps: LiveRouteDeps): void {
  app.route({
    method: 'GET',
    url: '/live',
    preValidation: async (request) => {
      const origin = request.headers.origin;
      if (origin !== `https://${request.host}`)
        throw new BrokerError('FORBIDDEN', 'The live socket is for this portal’s own pages');
    },
    handler: async () => {
      throw new BrokerError('UPGRADE_REQUIRED');
    },
    wsHandler: (socket, request) => {
      const scope = request.portal!.scope;
      const unsubscribes: Array<() => void> = [];
      let closed = false;
      let pending: StatusEvent | undefined;
      let timer: NodeJS.Timeout | undefined;
      // One hint per interval, the latest: the page re-fetches, whatever changed.
      const hint = (event: StatusEvent) => {
        pending = event;
        timer ??= setTimeout(() => {
          timer = undefined;
          if (closed || !pending) return;
          socket.send(JSON.stringify({ type: 'changed', status: pending.type, at: pending.at }));
          pending = undefined;
        }, HINT_INTERVAL_MS);
      };
      const keepalive = setInterval(() => socket.ping(), 30_000);
      keepalive.unref();
      let refresher: NodeJS.Timeout | undefined;
      socket.once('close', () => {
        closed = true;
        clearTimeout(timer);
        clearInterval(keepalive);
        clearInterval(refresher);
        for (const unsubscribe of unsubscribes) unsubscribe();
      });
      const subscribed = new Set<number>();
      /** Subscribes to the scope's clients not subscribed yet; how many there were. */
      const subscribeNew = async (): Promise<number> => {
        let added = 0;
        for (const client of await clientIdsOf(deps.clients, scope)) {
          if (closed) return added;
          if (subscribed.has(client)) continue;
          subscribed.add(client);
          const { unsubscribe } = await deps.events.subscribe({ client, deliver: hint }).catch((error: unknown) => {
            subscribed.delete(client); // tried again at the next look
            throw error;
          });
          if (closed) unsubscribe();
          else unsubscribes.push(unsubscribe);
          added++;
        }
        return added;
      };
      const lookForNewClients = () => {
        let running = false;
        refresher = setInterval(() => {
          if (running || closed) return;
          running = true;
          subscribeNew()
            .then((added) => {
              if (added > 0 && !closed) socket.send(JSON.stringify({ type: 'changed', status: 'clients' }));
            })
            .catch((error: unknown) =>
              request.log.debug({ err: (error as Error).message }, 'live portal: looking for new clients failed'),
            )
            .finally(() => {
              running = false;
            });
        }, deps.clientsRefreshMs ?? CLIENTS_REFRESH_MS);
        refresher.unref();
      };
      void (async () => {
        try {
          await subscribeNew();
          if (closed) return;
          socket.send(JSON.stringify({ type: 'subscribed' }));
          if (scope.kind === 'domain' || scope.kind === 'all') lookForNewClients();
        } catch (error) {
          request.log.warn({ err: (error as Error).message }, 'live portal subscription failed');
          socket.close(1011, 'EVENTS_UNAVAILABLE');
        }
      })();
    },
  });
}
