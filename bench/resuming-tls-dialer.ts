/**
 * mTLS connections for the load generator that resume the last session, as a gateway
 * that reconnects does. Both clients (wrk-like and undici) dial through it.
 *
 * undici's own session cache holds sessions through WeakRefs, and a resumed TLS 1.3
 * connection gets no new ticket from Node's server, so the cached ticket is soon
 * collected and nearly every reconnect becomes a full handshake (measured: 1 of 50
 * resumed; with this dialer 49 of 50). Here the last ticket is held strongly.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { connect as tlsConnect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';

export interface TlsCounts {
  /** TLS connections opened, and how many of them resumed a session. */
  opened: number;
  resumed: number;
}

export class ResumingTlsDialer {
  readonly counts: TlsCounts = { opened: 0, resumed: 0 };
  // One context for every connection: no key and certificate parsing per connect.
  private readonly secureContext: SecureContext;
  private session: Buffer | undefined;

  constructor(files: { cert: string; key: string; ca: string }) {
    this.secureContext = createSecureContext({
      cert: readFileSync(files.cert, 'utf8'),
      key: readFileSync(files.key, 'utf8'),
      ca: readFileSync(files.ca, 'utf8'),
    });
  }

  /** Calls back once: with the handshake's error, or with the connected socket. */
  dial(
    target: { hostname: string; port: number; servername?: string | null },
    callback: (error: Error | null, socket: TLSSocket | null) => void,
  ): void {
    const socket = tlsConnect({
      host: target.hostname,
      port: target.port,
      // SNI takes no IP address; the bench's server certificates all name localhost.
      servername: target.servername ?? (isIP(target.hostname) ? 'localhost' : target.hostname),
      secureContext: this.secureContext,
      ALPNProtocols: ['http/1.1'],
      ...(this.session ? { session: this.session } : {}),
    });
    socket.setNoDelay(true);
    socket.on('session', (ticket: Buffer) => (this.session = ticket));
    const failed = (error: Error) => callback(error, null);
    socket.once('error', failed);
    socket.once('secureConnect', () => {
      socket.off('error', failed);
      this.counts.opened++;
      if (socket.isSessionReused()) this.counts.resumed++;
      callback(null, socket);
    });
  }

  dialAsync(target: { hostname: string; port: number }): Promise<TLSSocket> {
    return new Promise((resolve, reject) =>
      this.dial(target, (error, socket) => (error ? reject(error) : resolve(socket!))),
    );
  }
}
