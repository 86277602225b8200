/**
 * `npx tsx bench/tls-connection-floor.ts [--kind net|tls|https] [--reply BYTES] [--count 1000]`
 *
 * What an idle connection costs bare Node, without the broker: the floor under
 * `npm run bench:connections`. A server process (this file, forked with `--serve`) accepts
 * `count` connections from this one — plain TCP, mutual TLS (client certificate, as the
 * broker asks for), or HTTPS keep-alive after one request — each sends a few bytes and the
 * server answers with `reply` bytes (default: an echo) in one corked burst of 1.5 KB
 * writes, as a busy event socket gets its events. Reported: the server's RSS after two
 * full GCs with 0, half and all connections open, per connection, and after every
 * connection is closed again (glibc keeps what it freed, so that one does not go back down).
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { connect as netConnect, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { createCa } from '../src/pki/ca.js';
import { issueClientCertificate, issueServerCertificate } from '../src/pki/issue.js';

type Kind = 'net' | 'tls' | 'https';

function option(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

function rssKb(): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
}

/** The server side: listens, says its port, and answers `measure` with its RSS after GC. */
function serve(kind: Kind, reply: number, tlsFiles: { key: string; cert: string; ca: string }): void {
  const answer = (socket: Socket, data: Buffer) => {
    if (reply === 0) return void socket.write(data);
    socket.cork();
    for (let sent = 0; sent < reply; sent += 1500) socket.write(Buffer.alloc(Math.min(1500, reply - sent), 120));
    socket.uncork();
  };
  const tlsOptions = { ...tlsFiles, requestCert: true, rejectUnauthorized: false, maxVersion: 'TLSv1.3' as const };
  let server: Server;
  if (kind === 'net') server = createNetServer((socket) => socket.on('data', (d: Buffer) => answer(socket, d)));
  else if (kind === 'tls')
    server = createTlsServer(tlsOptions, (socket) => socket.on('data', (d: Buffer) => answer(socket, d)));
  else
    server = createHttpsServer({ ...tlsOptions, keepAliveTimeout: 600_000 }, (request, response) => {
      request.resume();
      request.on('end', () => response.end(reply > 0 ? Buffer.alloc(reply, 120) : 'ok'));
    });
  const gc = (globalThis as { gc?: () => void }).gc!;
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as { port: number }).port }));
  process.on('message', () => {
    gc();
    gc();
    setTimeout(() => process.send!({ rss_kb: rssKb() }), 500);
  });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const kind = (option(argv, 'kind') ?? 'tls') as Kind;
  const reply = Number(option(argv, 'reply') ?? 0);
  if (argv.includes('--serve')) {
    return serve(kind, reply, JSON.parse(option(argv, 'serve')!) as { key: string; cert: string; ca: string });
  }
  const count = Number(option(argv, 'count') ?? 1000);
  const ca = createCa({ commonName: 'Connection Floor CA', days: 1 });
  const serverCert = issueServerCertificate(ca, { commonName: 'localhost', hostnames: ['localhost'], days: 1 });
  const client = issueClientCertificate(ca, { commonName: 'floor.default', days: 1 });
  const files = JSON.stringify({ key: serverCert.keyPem, cert: serverCert.certPem, ca: ca.certPem });
  const child = fork(import.meta.filename, ['--serve', files, '--kind', kind, '--reply', String(reply)], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
  });
  const next = async <T>() => ((await once(child, 'message')) as [T])[0];
  const { port } = await next<{ port: number }>();
  const context = createSecureContext({ cert: client.certPem, key: client.keyPem, ca: ca.certPem });
  const want = Math.max(1, reply);
  const open: Socket[] = [];
  const connectOne = () =>
    new Promise<void>((resolve, reject) => {
      const socket: Socket | TLSSocket =
        kind === 'net'
          ? netConnect(port, '127.0.0.1')
          : tlsConnect({ port, host: '127.0.0.1', secureContext: context, servername: 'localhost' });
      open.push(socket);
      socket.once('error', reject);
      socket.once(kind === 'net' ? 'connect' : 'secureConnect', () => {
        socket.write(kind === 'https' ? 'GET / HTTP/1.1\r\nhost: localhost\r\n\r\n' : 'hello');
        let got = 0;
        socket.on('data', (d: Buffer) => {
          got += d.length;
          if (got < want) return;
          socket.removeAllListeners('data');
          resolve();
        });
      });
    });
  const measure = async () => {
    await new Promise((r) => setTimeout(r, 1500));
    child.send('measure');
    return (await next<{ rss_kb: number }>()).rss_kb;
  };
  const rss: Record<string, number> = {};
  for (const target of [0, Math.floor(count / 2), count]) {
    while (open.length < target)
      await Promise.all(Array.from({ length: Math.min(50, target - open.length) }, connectOne));
    rss[`open_${target}_mb`] = Math.round(((await measure()) / 1024) * 10) / 10;
  }
  for (const socket of open) socket.destroy();
  rss.all_closed_mb = Math.round(((await measure()) / 1024) * 10) / 10;
  const perConnection = Math.round(((rss[`open_${count}_mb`]! - rss.open_0_mb!) * 1024) / count);
  process.stdout.write(
    `${JSON.stringify({ kind, reply_bytes: reply, node: process.version, openssl: process.versions.openssl, rss, per_connection_kb: perConnection })}\n`,
  );
  child.kill();
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
});
