/**
 * Which brokers run on the installation's CA right now, for `mb ca init --force`: replacing
 * the CA under a running broker leaves it trusting the old one in memory while the CA
 * actor, the CRL and every new certificate use the new one (revocations it then ignores as
 * "not signed by our CA"). Two sources, since either may miss one:
 *
 *   - the heartbeats in the shared Redis: every broker of the installation, on any host;
 *   - this host's listener on `server.port`, when its certificate is signed by the CA in
 *     `pki.dir`: a broker of this config that the heartbeats miss (Redis away, a beat late).
 */
import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { listInstances } from '../instances/instance-registry.js';
import type { CliContext } from './cli-context.js';

/** How long the listener probe waits for a handshake. */
const PROBE_TIMEOUT_MS = 2000;

/** One line per running broker (`id (host pid N)`, or the address it listens on); empty when none. */
export async function runningBrokers(context: CliContext, caPem: string): Promise<string[]> {
  const beating = await heartbeats(context);
  if (beating.length > 0) return beating;
  const { host, port } = context.config.server;
  const address = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return (await listensWithCa(address, port, caPem)) ? [`a broker listening on ${address}:${port}`] : [];
}

async function heartbeats(context: CliContext): Promise<string[]> {
  let instances;
  try {
    instances = await listInstances(await context.redis(), context.config.redis.key_prefix);
  } catch {
    return []; // Redis away: the listener probe still sees this host's broker
  }
  return instances.map((i) => `${i.instance_id} (${i.host} pid ${i.pid})`);
}

/** Whether something on host:port completes a TLS handshake with a certificate the CA signed. */
function listensWithCa(host: string, port: number, caPem: string): Promise<boolean> {
  const ca = new X509Certificate(caPem);
  return new Promise((resolve) => {
    // Only the server's certificate is read: no client certificate is sent, nothing is asked.
    const socket = connect({ host, port, rejectUnauthorized: false, servername: 'localhost' });
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, () => done(false));
    socket.once('error', () => done(false));
    socket.once('secureConnect', () => {
      const served = socket.getPeerX509Certificate();
      done(served?.checkIssued(ca) === true && served.verify(ca.publicKey));
    });
  });
}
