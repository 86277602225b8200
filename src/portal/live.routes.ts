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
 *
 * A socket outlives the request that opened it, so the session is checked again — the
 * pages' own check (`auth.authenticate`: signature, expiry, the account's token_version,
 * disabled) — at every refresh and before a hint when the last check is older than a
 * second. A session that ended (logout, password change, disable, expiry) closes the
 * socket with 4401 SESSION_ENDED; a changed scope (role, domain, client) is subscribed
 * afresh and the page hinted. The socket holds the cookie it opened with: once that
 * token's idle window passes it closes too, and live.js opens a new one with the cookie
 * the page's own requests renewed meanwhile.
 */
import type { FastifyInstance } from 'fastify';
import type { ClientsRepository } from '../db/clients.repository.js';
import { BrokerError } from '../errors.js';
import type { EventHub } from '../events/event-hub.js';
import type { StatusEvent } from '../events/status-event.js';
import type { AuthService } from './auth.service.js';
import { SESSION_COOKIE } from './session-tokens.js';
import { scopeOf, type Scope } from './tenant-scope.js';
import { describeError } from '../db/database.js';

export interface LiveRouteDeps {
  events: Pick<EventHub, 'subscribe'>;
  clients: Pick<ClientsRepository, 'list'>;
  /** The pages' session check, run again while the socket is open. */
  auth: Pick<AuthService, 'authenticate'>;
  /**
   * How often a socket checks its session again and (domain-wide or global) looks for new
   * clients: one SELECT of the user, and one of the clients, per open page.
   * @defaultValue 5000
   */
  clientsRefreshMs?: number;
  /**
   * Live sockets one account may hold open on this broker (its open tabs of the overview
   * and the message list). Each costs a SELECT every `clientsRefreshMs` and a hub
   * subscription per client in its scope: unbounded, one account could open thousands.
   * @defaultValue 20
   */
  maxSocketsPerUser?: number;
}

/** Hints sent per second at most; the page refreshes once per burst anyway. */
const HINT_INTERVAL_MS = 250;
const CLIENTS_REFRESH_MS = 5000;
/** A hint goes out only after a session check this recent (one SELECT per second at most). */
const HINT_RECHECK_MS = 1000;
const MAX_SOCKETS_PER_USER = 20;
/** The close code of a socket whose session ended (4xxx: the application's own range). */
export const SESSION_ENDED_CLOSE = 4401;

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

const sameScope = (a: Scope, b: Scope) => JSON.stringify(a) === JSON.stringify(b);

export function registerLiveRoute(app: FastifyInstance, deps: LiveRouteDeps): void {
  /** Open live sockets per account (user id). */
  const openByUser = new Map<number, number>();
  const maxPerUser = deps.maxSocketsPerUser ?? MAX_SOCKETS_PER_USER;
  app.route({
    method: 'GET',
    url: '/live',
    preValidation: async (request) => {
      const origin = request.headers.origin;
      if (origin !== `https://${request.host}`)
        throw new BrokerError('FORBIDDEN', 'The live socket is for this portal’s own pages');
      if ((openByUser.get(request.portal!.user.id) ?? 0) >= maxPerUser) throw new BrokerError('LIVE_SOCKETS_FULL');
    },
    handler: async () => {
      throw new BrokerError('UPGRADE_REQUIRED');
    },
    wsHandler: (socket, request) => {
      const userId = request.portal!.user.id;
      openByUser.set(userId, (openByUser.get(userId) ?? 0) + 1);
      const token = request.cookies[SESSION_COOKIE];
      let scope = request.portal!.scope;
      let checkedAt = Date.now();
      const subscriptions = new Map<number, () => void>();
      let closed = false;
      let pending: StatusEvent | undefined;
      let timer: NodeJS.Timeout | undefined;
      const send = (frame: object) => {
        if (!closed) socket.send(JSON.stringify(frame));
      };
      const unsubscribeAll = () => {
        for (const unsubscribe of subscriptions.values()) unsubscribe();
        subscriptions.clear();
      };
      const end = () => {
        if (closed) return;
        closed = true;
        unsubscribeAll(); // at once: nothing more is heard while the close handshake runs
        socket.close(SESSION_ENDED_CLOSE, 'SESSION_ENDED');
      };
      /**
       * The session again, as a page request would see it: false (and the socket closed)
       * once it ended. A changed scope drops every subscription; the caller subscribes anew.
       */
      const sessionHolds = async (): Promise<boolean> => {
        const session = await deps.auth.authenticate(token);
        checkedAt = Date.now();
        if (closed) return false;
        if (!session) {
          end();
          return false;
        }
        const now = scopeOf(session.user);
        if (!sameScope(now, scope)) {
          scope = now;
          unsubscribeAll();
        }
        return true;
      };
      // One hint per interval, the latest: the page re-fetches, whatever changed.
      const hint = (event: StatusEvent) => {
        pending = event;
        timer ??= setTimeout(() => {
          void (async () => {
            try {
              // Not a word to a session that has ended since the last look.
              if (Date.now() - checkedAt >= HINT_RECHECK_MS && !(await sessionHolds())) return;
            } catch (error) {
              request.log.debug({ err: describeError(error) }, 'live portal: session check failed');
              return;
            } finally {
              timer = undefined;
            }
            if (closed || !pending) return;
            send({ type: 'changed', status: pending.type, at: pending.at });
            pending = undefined;
          })();
        }, HINT_INTERVAL_MS);
      };
      const keepalive = setInterval(() => socket.ping(), 30_000);
      keepalive.unref();
      let refresher: NodeJS.Timeout | undefined;
      socket.once('close', () => {
        const left = (openByUser.get(userId) ?? 1) - 1;
        if (left > 0) openByUser.set(userId, left);
        else openByUser.delete(userId);
        closed = true;
        clearTimeout(timer);
        clearInterval(keepalive);
        clearInterval(refresher);
        unsubscribeAll();
      });
      /** Subscribes to the scope's clients not subscribed yet; how many there were. */
      const subscribeNew = async (): Promise<number> => {
        const forScope = scope;
        let added = 0;
        for (const client of await clientIdsOf(deps.clients, forScope)) {
          // Closed, or the scope changed meanwhile (the next refresh subscribes the new one).
          if (closed || forScope !== scope) return added;
          if (subscriptions.has(client)) continue;
          subscriptions.set(client, () => undefined); // taken, while the subscription starts
          const { unsubscribe } = await deps.events.subscribe({ client, deliver: hint }).catch((error: unknown) => {
            subscriptions.delete(client); // tried again at the next look
            throw error;
          });
          if (closed || forScope !== scope) unsubscribe();
          else subscriptions.set(client, unsubscribe);
          added++;
        }
        return added;
      };
      const refresh = () => {
        let running = false;
        refresher = setInterval(() => {
          if (running || closed) return;
          running = true;
          const before = scope;
          sessionHolds()
            .then(async (holds) => {
              if (!holds) return;
              const scopeChanged = before !== scope;
              // A user's one client is subscribed once; a changed scope or a domain may hold new ones.
              const added = scopeChanged || scope.kind === 'domain' || scope.kind === 'all' ? await subscribeNew() : 0;
              if (scopeChanged) send({ type: 'changed', status: 'scope' });
              else if (added > 0) send({ type: 'changed', status: 'clients' });
            })
            .catch((error: unknown) =>
              request.log.debug({ err: describeError(error) }, 'live portal: refreshing the session or clients failed'),
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
          send({ type: 'subscribed' });
          refresh();
        } catch (error) {
          request.log.warn({ err: (error as Error).message }, 'live portal subscription failed');
          if (!closed) socket.close(1011, 'EVENTS_UNAVAILABLE');
        }
      })();
    },
  });
}
