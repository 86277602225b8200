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
 * the victim's cookie: WebSockets are not bound by CORS). Clients created after the socket
 * opened are heard from after the page's next reconnect.
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
}

/** Hints sent per second at most; the page refreshes once per burst anyway. */
const HINT_INTERVAL_MS = 250;

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
      socket.once('close', () => {
        closed = true;
        clearTimeout(timer);
        clearInterval(keepalive);
        for (const unsubscribe of unsubscribes) unsubscribe();
      });
      void (async () => {
        try {
          const ids = await clientIdsOf(deps.clients, scope);
          for (const client of ids) {
            if (closed) return;
            const { unsubscribe } = await deps.events.subscribe({ client, deliver: hint });
            if (closed) unsubscribe();
            else unsubscribes.push(unsubscribe);
          }
          if (!closed) socket.send(JSON.stringify({ type: 'subscribed' }));
        } catch (error) {
          request.log.warn({ err: (error as Error).message }, 'live portal subscription failed');
          socket.close(1011, 'EVENTS_UNAVAILABLE');
        }
      })();
    },
  });
}
