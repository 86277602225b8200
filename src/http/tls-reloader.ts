/**
 * The front's TLS context, reloaded without a restart: a new CRL (a revocation, a
 * re-sign) or a renewed server certificate replaces the server's secure context for
 * every later handshake (`setSecureContext`). Open connections keep the old one, which
 * is why revocation also closes a client's sockets (see revocation-listener.ts).
 *
 * Every reload also rotates the TLS session-ticket keys: a revoked client cannot skip
 * the CRL check by resuming a session it got before the revocation.
 */
import { SERVER_TLS_POLICY } from './tls-policy.js';
import { randomBytes, X509Certificate } from 'node:crypto';
import type { SecureVersion, Server as TlsServer, TLSSocket } from 'node:tls';
import type { Logger } from '../logger.js';
import { isCrlIssuedBy, parseCrl, type ParsedCrl } from '../pki/crl.js';
import { countCertificateValidation } from '../metrics/front.metrics.js';
import { tryNormalizeSerialHex } from '../pki/serial.js';
import { peerCertificateOfSocket } from './client-identity.js';
import type { TlsMaterial } from './server.js';

export class TlsReloader {
  private current: TlsMaterial;
  private parsedCrl: ParsedCrl | undefined;
  private serverNotAfter: Date;
  private server: TlsServer | undefined;

  constructor(
    material: TlsMaterial,
    private readonly minVersion: SecureVersion,
    private readonly logger: Logger,
  ) {
    this.current = { ...material };
    this.serverNotAfter = notAfterOf(material.cert);
    this.parsedCrl = material.crl ? parseCrl(material.crl) : undefined;
  }

  /** What `buildServer` starts with. */
  get material(): TlsMaterial {
    return { ...this.current };
  }

  get crl(): ParsedCrl | undefined {
    return this.parsedCrl;
  }

  get serverCertificateNotAfter(): Date {
    return this.serverNotAfter;
  }

  /**
   * Takes the listening server. A handshake whose certificate the CRL revokes is cut at
   * once: with `rejectUnauthorized: false` it would otherwise complete and reach the
   * routes. Other verification failures still get their structured 401/403 there.
   * The cut is counted and logged as those are (`proxy_certificate_validations_total`,
   * one line naming the certificate): the client gets no answer, so the operator is the
   * only one who can see why a revoked client keeps failing to connect.
   */
  attach(server: TlsServer): void {
    this.server = server;
    server.on('secureConnection', (socket: TLSSocket) => {
      if (String(socket.authorizationError ?? '') !== 'CERT_REVOKED') return;
      const peer = peerCertificateOfSocket(socket);
      const serial = socket.getPeerX509Certificate()?.serialNumber;
      const remoteAddress = socket.remoteAddress; // gone once destroyed
      socket.destroy();
      countCertificateValidation('CERT_REVOKED');
      this.logger.info(
        {
          error_code: 'CERT_REVOKED',
          client: peer.commonName,
          serial: serial === undefined ? undefined : (tryNormalizeSerialHex(serial) ?? serial),
          fingerprint: peer.fingerprint,
          remote_address: remoteAddress,
        },
        'handshake with a revoked certificate cut',
      );
    });
  }

  /**
   * Loads a CRL if our CA signed it and it is newer than the one in use. Returns the CRL
   * now in force when `pem` was accepted or is the one already loaded, undefined when it
   * was refused (foreign, malformed, or older).
   */
  loadCrl(pem: string, source: string): ParsedCrl | undefined {
    let parsed: ParsedCrl;
    try {
      if (!isCrlIssuedBy(pem, this.current.ca)) {
        this.logger.warn({ source }, 'ignored a CRL not signed by our CA');
        return undefined;
      }
      parsed = parseCrl(pem);
    } catch (error) {
      this.logger.warn({ source, err: (error as Error).message }, 'ignored an unreadable CRL');
      return undefined;
    }
    const loaded = this.parsedCrl?.crlNumber ?? -1;
    if (parsed.crlNumber === loaded) return this.parsedCrl;
    if (parsed.crlNumber < loaded) return undefined;
    this.current = { ...this.current, crl: pem };
    this.parsedCrl = parsed;
    this.apply();
    this.logger.info(
      {
        source,
        crl_number: parsed.crlNumber,
        next_update: parsed.nextUpdate.toISOString(),
        revoked: parsed.revokedSerials.length,
      },
      'CRL reloaded',
    );
    return parsed;
  }

  /** A renewed server certificate; the caller has checked that key and certificate match. */
  loadServerCertificate(pair: { certPem: string; keyPem: string }): void {
    if (pair.certPem === this.current.cert && pair.keyPem === this.current.key) return;
    this.current = { ...this.current, cert: pair.certPem, key: pair.keyPem };
    this.serverNotAfter = notAfterOf(pair.certPem);
    this.apply();
    this.logger.info({ not_after: this.serverNotAfter.toISOString() }, 'server certificate reloaded');
  }

  private apply(): void {
    if (!this.server) return; // not listening yet: buildServer reads `material`
    const { key, cert, ca, crl } = this.current;
    this.server.setSecureContext({
      key,
      cert,
      ca,
      ...(crl ? { crl } : {}),
      minVersion: this.minVersion,
      maxVersion: 'TLSv1.3',
      ...SERVER_TLS_POLICY,
    });
    // Said outright rather than left to the new context: tickets issued before a
    // revocation must not resume (a resumed session skips the CRL check).
    this.server.setTicketKeys(randomBytes(48));
  }
}

function notAfterOf(certPem: string): Date {
  return new Date(new X509Certificate(certPem).validTo);
}
