/**
 * The broker's automatic server certificate renewal, seen from outside: plant a server
 * certificate near its end in certs/ (as if it had been running for months), then wait
 * until the broker serves a renewed one — without a restart.
 */
import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { CertStore } from '../../src/pki/cert-store.js';
import { issueServerCertificate } from '../../src/pki/issue.js';
import { waitUntil } from './broker-harness.js';

const DAY = 86_400_000;

/** The certificate the broker at `url` serves in a TLS handshake (trusting `caPem`). */
export function servedCertificate(url: string, caPem: string): Promise<X509Certificate> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ca: caPem, servername: hostname }, () => {
      const cert = new X509Certificate(socket.getPeerX509Certificate()!.raw);
      socket.destroy();
      resolve(cert);
    });
    socket.once('error', reject);
  });
}

/**
 * Plants a server certificate with 5 days left of a 105-day life in `certsDir`, then waits
 * (up to 20 s) until the broker serves one that is neither the one it served before nor the
 * planted one: the renewal. Resolves with it.
 */
export async function plantExpiringServerCertificate(
  url: string,
  certsDir: string,
  caPem: string,
): Promise<X509Certificate> {
  const original = await servedCertificate(url, caPem);
  const store = new CertStore(certsDir);
  const planted = issueServerCertificate(store.loadCa(), {
    commonName: 'localhost',
    hostnames: ['localhost', '127.0.0.1', '::1'],
    days: 105,
    notBefore: new Date(Date.now() - 100 * DAY),
    notAfter: new Date(Date.now() + 5 * DAY),
  });
  store.saveServer(planted);
  return waitUntil(
    async () => {
      const cert = await servedCertificate(url, caPem);
      return cert.serialNumber !== original.serialNumber && cert.serialNumber.toLowerCase() !== planted.serialHex
        ? cert
        : undefined;
    },
    20_000,
    'a renewed server certificate to be served',
  );
}
