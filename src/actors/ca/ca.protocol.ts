/** Requests served by the CA actor, the only thread that loads the CA private key. */
import type {
  BootstrapRequest,
  BootstrapResult,
  CertificateSummary,
  CrlInfo,
  IssuedBundle,
  IssueRequest,
  MaintenanceResult,
  RenewedBundle,
  RevokeRequest,
  RevokeResult,
} from '../../ca/ca.types.js';
import type { ControlProtocol } from '../actor.protocol.js';

export type CaProtocol = ControlProtocol & {
  /** Makes sure the CA, the server certificate, the CRL, the broker's delivery client certificate and the demo client exist. */
  'ca.bootstrap': {
    request: BootstrapRequest;
    response: BootstrapResult;
  };
  /**
   * Registers a new client `name.domain` and issues its first certificate; a name that exists is
   * CLIENT_EXISTS (renew it). `ip` (optional, every changing request): where the order came from, for the audit log.
   */
  'ca.issue': {
    request: IssueRequest;
    response: IssuedBundle;
  };
  /**
   * New key and certificate, same CN, new serial; the newest before it stays valid (overlap)
   * until it expires or is revoked, older active ones are revoked `superseded` (CRL, announced).
   */
  'ca.renew': {
    request: IssueRequest;
    response: RenewedBundle;
  };
  /**
   * Revokes one serial, or every active certificate of a client; rebuilds and publishes the CRL.
   * With `serial` and `domain` both given, a serial of another domain is CERT_NOT_FOUND (admin scoping).
   */
  'ca.revoke': {
    request: RevokeRequest;
    response: RevokeResult;
  };
  'ca.list': { request: { domain?: string }; response: { certificates: CertificateSummary[] } };
  'ca.crl': { request: Record<string, never>; response: CrlInfo & { pem: string } };
  /**
   * One maintenance run: marks certificates past their end expired, re-signs a CRL past
   * half its life (or re-sends an announcement Redis missed), renews a server certificate
   * near its end. The main thread's timer asks for it (ca.client.ts); runs never overlap.
   */
  'ca.maintain': { request: Record<string, never>; response: MaintenanceResult };
};
