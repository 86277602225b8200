/**
 * How many TLS connections the front holds: `server.max_connections` in all (Node closes
 * any beyond at once), and `server.max_connections_per_client` per client certificate —
 * per address for a connection without a trusted one (the portal's browsers, scrapers,
 * strangers). Each connection holds ≈ 80 KB of TLS and socket state and a file descriptor,
 * and nothing bounded them: one client's certificate, or one address, could open
 * connections until the broker ran out of memory or descriptors, and every other tenant
 * with it. A connection over its owner's limit is not cut (a client would read that as a
 * network error and retry at once): each request on it is answered 429
 * TOO_MANY_CONNECTIONS with `Connection: close`, and the socket closes after the answer.
 */
import type { Server } from 'node:http';
import type { TLSSocket } from 'node:tls';

const overLimit = new WeakSet<object>();

export function limitConnections(server: Server, limits: { total: number; perClient: number }): void {
  server.maxConnections = limits.total;
  const open = new Map<string, number>();
  server.on('secureConnection', (socket: TLSSocket) => {
    const owner = ownerOf(socket);
    const count = (open.get(owner) ?? 0) + 1;
    open.set(owner, count);
    socket.once('close', () => {
      const left = (open.get(owner) ?? 1) - 1;
      if (left === 0) open.delete(owner);
      else open.set(owner, left);
    });
    if (count > limits.perClient) overLimit.add(socket);
  });
}

/** Whether the request's socket is one over its owner's limit (see above). */
export function overConnectionLimit(socket: object): boolean {
  return overLimit.has(socket);
}

/** A trusted client certificate's fingerprint, else the peer's address. */
function ownerOf(socket: TLSSocket): string {
  if (socket.authorized) {
    const fingerprint = socket.getPeerX509Certificate()?.fingerprint256;
    if (fingerprint) return `cert:${fingerprint}`;
  }
  return `address:${socket.remoteAddress ?? ''}`;
}
