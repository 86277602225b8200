/**
 * `server.connection_max_lifetime_ms`: a TLS connection is closed once it is that old, so
 * that a long-lived socket never outlives a revocation for good. It is closed between
 * requests, never under one: cut while a request is under way, the socket would lose its
 * answer — a submit the broker had accepted (202, durable) would read as a network error,
 * and a client without an Idempotency-Key that sends it again would queue it twice. A busy
 * socket's current response says `Connection: close` instead, and Node closes the socket
 * once that response is sent. An idle one is destroyed, not ended: after a FIN Node still
 * reads, so a request the client sent meanwhile would be handled with no way to answer it;
 * destroyed, the socket reads nothing more and such a request is never handled (as when
 * Node's own keep-alive timeout closes a socket).
 */
import type { Server, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';

export function boundConnectionLifetime(server: Server, maxLifetimeMs: number): void {
  server.on('secureConnection', (socket: TLSSocket) => {
    const timer = setTimeout(() => closeBetweenRequests(socket), maxLifetimeMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  });
}

function closeBetweenRequests(socket: TLSSocket): void {
  // The response Node has attached to the socket: set from a request's headers until its
  // response is finished, so none means no request is under way (or an upgraded socket).
  const response = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
  if (!response || response.writableFinished) socket.destroy();
  else if (!response.headersSent) response.setHeader('connection', 'close');
  else response.once('finish', () => socket.destroy());
}
