/**
 * WebSocket upgrades only where a route takes one. @fastify/websocket answers an
 * `Upgrade: websocket` request to any other route with 101 and closes the socket at once,
 * and `ws` refuses a malformed handshake with an HTML 400 of its own: neither is the
 * broker's error schema, and the first reads as a WebSocket that opened and died. This
 * refuses both before the route runs, as a JSON 400 (`BAD_REQUEST`) naming what is wrong.
 */
import type { FastifyInstance } from 'fastify';
import { BrokerError } from '../errors.js';

/** What `ws` accepts (its handleUpgrade): a 16-byte base64 key, protocol version 8 or 13. */
const WEBSOCKET_KEY = /^[+/0-9A-Za-z]{22}==$/;

export function guardUpgrades(app: FastifyInstance): void {
  const websocketRoutes = new Set<string>();
  app.addHook('onRoute', (route) => {
    if ((route as { websocket?: boolean }).websocket || (route as { wsHandler?: unknown }).wsHandler)
      websocketRoutes.add(route.url);
  });
  app.addHook('onRequest', (request, reply, done) => {
    // Node's parser marks (undocumented, untyped) a request whose Connection says upgrade
    // and which names an Upgrade: it is the one Node hands to the 'upgrade' listener.
    if ((request.raw as { upgrade?: boolean }).upgrade !== true) return done();
    const refuse = (message: string) => {
      // The socket is no longer the HTTP server's (Node handed it to the 'upgrade'
      // listener): nobody else would close it after the answer. A listener on the refused
      // request only, not an onResponse hook every request would run.
      reply.raw.once('finish', () => request.raw.socket.end());
      done(new BrokerError('BAD_REQUEST', message));
    };
    const path = request.routeOptions.url;
    if (path === undefined || !websocketRoutes.has(path))
      return refuse(`${request.url.split('?')[0]} takes no protocol upgrade: send a plain request`);
    const { upgrade, 'sec-websocket-key': key, 'sec-websocket-version': version } = request.headers;
    if (String(upgrade).toLowerCase() !== 'websocket') return refuse('Only an upgrade to websocket is offered here');
    if (typeof key !== 'string' || !WEBSOCKET_KEY.test(key))
      return refuse('Sec-WebSocket-Key is missing or not a base64 16-byte key');
    if (version !== '13' && version !== '8') return refuse('Sec-WebSocket-Version must be 13');
    done();
  });
}
