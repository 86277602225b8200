/**
 * `GET /api/v1/events`: a WebSocket, upgraded over the client's own mTLS connection, on
 * which the broker pushes the status events of the client's messages (never another
 * client's: the hub reads only the stream of the certificate's client). Resume with
 * `last_event_id`; filter by message ids and types in the query or with a filter frame.
 *
 * A revoked certificate or a disabled client closes the socket at once with 4403 (the
 * identity resolver tells it before the connection is destroyed, as for HTTP requests).
 */
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RawData, WebSocket } from 'ws';
import type { LiveConfig } from '../config/live-config.js';
import { BrokerError } from '../errors.js';
import type { EventHub } from '../events/event-hub.js';
import { eventSubscribers } from '../events/event-subscribers.metrics.js';
import { STATUS_EVENT_TYPES } from '../events/status-event.js';
import type { IdentityResolver } from './client-identity.js';
import { CLOSE_CODES, EventSocket, filterOf, type EventFilter } from './event-socket.js';
import { eventsQuery, eventsUpgradeResponse, MAX_FILTER_IDS, UUID_RULE, type EventsQuery } from './events.schemas.js';
import { mutualTls, unthrottledErrorResponses } from './messages.schemas.js';
import { requireClient } from './require-client.js';

export interface EventRoutesDeps {
  config: LiveConfig;
  identity: IdentityResolver;
  hub: EventHub;
}

/**
 * The event sockets open on this broker, all of them (`events.ws_max_subscribers`) and per
 * client (`events.ws_max_subscribers_per_client`). Counted here, not as the hub's
 * subscriptions: the portal's live pages subscribe to the hub too, a superadmin's page once
 * per client of the installation, so a few open overview tabs filled the cap and refused
 * every client's socket.
 */
class OpenSockets {
  total = 0;
  private readonly byClient = new Map<number, number>();

  of(client: number): number {
    return this.byClient.get(client) ?? 0;
  }

  opened(client: number): void {
    this.total++;
    this.byClient.set(client, this.of(client) + 1);
  }

  closed(client: number): void {
    this.total--;
    const left = this.of(client) - 1;
    if (left > 0) this.byClient.set(client, left);
    else this.byClient.delete(client);
  }
}

/**
 * A filter frame (JSON text) as a filter, or what is wrong with it: the error frame says
 * which part to fix (an id that is no UUID, a type that does not exist, too many ids),
 * not only the frame's shape.
 */
export function parseFilterFrame(data: string): EventFilter | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return { problem: 'the frame is not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { problem: 'the frame is not a JSON object' };
  const { message_ids: ids, types, ...rest } = value as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) return { problem: `${unknown.join(', ')} is not a filter field` };
  const strings = (v: unknown) => v === undefined || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
  if (!strings(ids)) return { problem: 'message_ids must be a list of strings' };
  if (!strings(types)) return { problem: 'types must be a list of strings' };
  const idList = ids as string[] | undefined;
  const typeList = types as string[] | undefined;
  if (idList && idList.length > MAX_FILTER_IDS)
    return { problem: `message_ids holds ${idList.length} ids, at most ${MAX_FILTER_IDS}` };
  const badId = idList?.find((id) => !UUID_RULE.test(id));
  if (badId !== undefined) return { problem: `message_ids: ${JSON.stringify(badId.slice(0, 64))} is not a UUID` };
  const badType = typeList?.find((t) => !(STATUS_EVENT_TYPES as readonly string[]).includes(t));
  if (badType !== undefined)
    return {
      problem: `types: ${JSON.stringify(badType.slice(0, 64))} is not one of ${STATUS_EVENT_TYPES.join(', ')}`,
    };
  return filterOf(idList, typeList);
}

/** Needs @fastify/websocket registered on the server (buildServer does). */
export async function eventRoutes(app: FastifyInstance, deps: EventRoutesDeps): Promise<void> {
  const { config, identity, hub } = deps;
  const open = new OpenSockets();
  // One listener for every socket (`this` is the socket): what @fastify/websocket does, without a closure over the request.
  const onSocketError = function (this: WebSocket, error: Error) {
    app.log.warn({ err: error.message }, 'event socket error');
    this.terminate();
  };

  app.route<{ Querystring: EventsQuery }>({
    method: 'GET',
    url: '/api/v1/events',
    onRequest: requireClient(identity),
    preValidation: async (request) => {
      const settings = config.current().events;
      // Per client as well: one client (a reconnect loop, a hostile tenant) could otherwise
      // hold every socket of the broker and leave the other tenants with 503.
      if (open.of(request.client!.client_id) >= settings.ws_max_subscribers_per_client)
        throw new BrokerError('CLIENT_SUBSCRIBERS_FULL');
      if (open.total >= settings.ws_max_subscribers) throw new BrokerError('SUBSCRIBERS_FULL');
    },
    schema: {
      summary: 'Status events of your messages, pushed (WebSocket)',
      description:
        'Upgrade to a WebSocket on the same mutual-TLS connection. Events of every message of your client (or those the filter keeps), ' +
        'whichever broker of the deployment accepted or delivered them. Reconnect with last_event_id to lose nothing.',
      tags: ['messages'],
      security: mutualTls,
      querystring: eventsQuery,
      // No limit counts an upgrade: its refusals are certificate, query and capacity ones.
      response: { 101: eventsUpgradeResponse, ...unthrottledErrorResponses },
    },
    // A plain GET (no Upgrade) lands here.
    handler: async () => {
      throw new BrokerError('UPGRADE_REQUIRED');
    },
    wsHandler: (socket, request) => {
      releaseUpgrade(socket, request.raw, onSocketError);
      const client = request.client!;
      const settings = config.current().events;
      const query = request.query;
      const log = request.log;
      const subscriber = new EventSocket(
        socket,
        client.client_id,
        filterOf(query.message_id?.split(','), query.type?.split(',')),
        {
          maxBufferedBytes: settings.ws_max_buffered_bytes,
          pingIntervalMs: settings.ws_ping_interval_ms,
          transport: request.raw.socket,
        },
      );
      eventSubscribers.inc();
      open.opened(client.client_id);
      let unsubscribe: (() => void) | undefined;
      let closed = false;
      const stopRefusal = identity.onRefusal(request.raw.socket, (code) =>
        subscriber.close(CLOSE_CODES.REFUSED, code, 'refused'),
      );
      socket.on('message', (data: RawData, isBinary: boolean) => {
        const parsed = isBinary ? { problem: 'the frame is binary, not text' } : parseFilterFrame(data.toString());
        if (!('problem' in parsed)) subscriber.setFilter(parsed);
        else
          subscriber.sendControl({
            type: 'error',
            error_code: 'INVALID_PAYLOAD',
            message: `A filter frame is JSON: {"message_ids": [uuid…], "types": [type…]}; ${parsed.problem}`,
          });
      });
      socket.once('close', () => {
        closed = true;
        eventSubscribers.dec();
        open.closed(client.client_id);
        stopRefusal();
        unsubscribe?.();
      });
      hub.subscribe(subscriber, query.last_event_id).then(
        (subscription) => {
          if (closed) subscription.unsubscribe();
          else {
            unsubscribe = subscription.unsubscribe;
            subscriber.sendControl({ type: 'subscribed', last_event_id: subscription.startAfter });
          }
        },
        (error: unknown) => {
          log.warn({ err: (error as Error).message }, 'event subscription failed');
          subscriber.close(CLOSE_CODES.UNAVAILABLE, 'EVENTS_UNAVAILABLE', 'error');
        },
      );
    },
  });
}

/**
 * Lets the upgrade's request go once the WebSocket is open: @fastify/websocket's error
 * listener closes over the Fastify request and reply, and the `ServerResponse` it made for
 * the upgrade stays assigned to the socket, which keeps the `IncomingMessage` (headers, the
 * upgrade's head buffer) alive with it: ≈ 3 KB of heap per idle subscriber, for nothing
 * after the 101 (bench/connection-memory.ts). The listener is replaced by `onError` (log,
 * terminate: what the plugin's own did).
 */
export function releaseUpgrade(
  socket: WebSocket,
  raw: IncomingMessage,
  onError: (this: WebSocket, error: Error) => void,
): void {
  socket.removeAllListeners('error').on('error', onError);
  const response = (raw.socket as { _httpMessage?: ServerResponse | null } | null)?._httpMessage;
  if (response && raw.socket) response.detachSocket(raw.socket);
}
