/** Route guard for the mTLS API: the request proceeds only with a registered, valid client certificate. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BrokerError } from '../errors.js';
import { countCertificateValidation } from '../metrics/front.metrics.js';
import type { ClientIdentity, IdentityResolver } from './client-identity.js';

declare module 'fastify' {
  interface FastifyRequest {
    client?: ClientIdentity;
  }
}

export function requireClient(identity: IdentityResolver) {
  // Callback style, and no promise once the connection's identity is known: this runs on
  // every API request, and all but a connection's first read the identity kept on it.
  return function requireClientHook(request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void): void {
    const known = identity.known(request.raw.socket);
    if (known) {
      countCertificateValidation('valid');
      request.client = known;
      done();
      return;
    }
    checkClientCertificate(identity, request).then(
      (client) => {
        request.client = client;
        done();
      },
      (error: unknown) => {
        // A revoked or expired certificate or a disabled client gets its answer and loses the connection with
        // it (a refusal is kept on the socket: once re-enabled, the client reconnects to be heard). So does a
        // refusal for a stale CRL: the connection's verification never changes, only a new handshake sees a fresh CRL.
        if (
          error instanceof BrokerError &&
          (error.code === 'CERT_REVOKED' ||
            error.code === 'CLIENT_DISABLED' ||
            error.code === 'CERT_EXPIRED' ||
            error.code === 'CRL_UNAVAILABLE')
        )
          void reply.header('connection', 'close');
        done(error as Error);
      },
    );
  };
}

/** The caller's identity from its certificate (or the refusal), counted in proxy_certificate_validations_total. */
export async function checkClientCertificate(
  identity: IdentityResolver,
  request: FastifyRequest,
): Promise<ClientIdentity> {
  try {
    const client = await identity.resolve(request.raw.socket);
    countCertificateValidation('valid');
    return client;
  } catch (error) {
    countCertificateValidation(error instanceof BrokerError ? error.code : 'INTERNAL_ERROR');
    throw error;
  }
}
