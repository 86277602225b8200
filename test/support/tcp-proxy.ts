/**
 * A TCP proxy a test can cut, blackhole and restore: the way to make one dependency
 * (MariaDB, Redis, a webhook downstream) unavailable to the broker only, without touching
 * the shared server. TLS passes through untouched.
 *
 *   cut        every open connection is reset and the port refuses new ones (ECONNREFUSED)
 *   blackhole  packets dropped, no RST: open connections stay open and forward nothing,
 *              new ones are accepted and forward nothing either
 *   restore    new connections forward again. A blackholed connection never does: the
 *              client must notice the silence and connect again (as after a real network
 *              partition whose sockets the peer has long forgotten).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { freePort } from './redis-server.js';

export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private blackholed = false;

  private constructor(
    readonly port: number,
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  static async create(targetHost: string, targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(await freePort(), targetHost, targetPort);
    await proxy.restore();
    return proxy;
  }

  get up(): boolean {
    return this.server !== undefined;
  }

  /** Drops everything from now on, on open connections and new ones alike, without closing any. */
  blackhole(): void {
    this.blackholed = true;
    for (const socket of this.sockets) swallow(socket);
  }

  /** Listens again, and new connections forward again (no-op when up and not blackholed). */
  async restore(): Promise<void> {
    this.blackholed = false;
    if (this.server) return;
    const server = createServer((client) => this.pipe(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  /** Resets every connection and stops listening, so new connections are refused. */
  async cut(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.resetAndDestroy();
    this.sockets.clear();
    await closed;
  }

  async close(): Promise<void> {
    await this.cut();
  }

  private pipe(client: Socket): void {
    if (this.blackholed) {
      // Accepted (the handshake a blackhole lets through is the kernel's), then silence.
      this.sockets.add(client);
      client.on('error', () => undefined);
      client.once('close', () => this.sockets.delete(client));
      swallow(client);
      return;
    }
    const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => undefined);
      socket.once('close', () => {
        this.sockets.delete(socket);
        // One side gone: the other goes too, as a real cut would do.
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

/** Stops forwarding: whatever arrives is read and dropped, nothing is sent, nothing closed. */
function swallow(socket: Socket): void {
  socket.unpipe();
  socket.removeAllListeners('data');
  socket.on('data', () => undefined);
  socket.resume();
}
