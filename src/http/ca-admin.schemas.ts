/** JSON schemas of the admin API (src/http/ca-admin.routes.ts, src/http/client-admin.routes.ts). */
import { ADMIN_REVOCATION_REASONS, type RevocationReason } from '../pki/pki.types.js';

const clientName = {
  type: 'string',
  pattern: '^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$',
  description:
    'lowercase letters, digits, - and _; the CN is name.domain, at most 64 characters (a longer one is 422 INVALID_PAYLOAD)',
};
const domain = { type: 'string', minLength: 1, maxLength: 253 };
const days = { type: 'integer', minimum: 1, maximum: 3650, description: 'validity in days (default pki.client_days)' };
const reason = {
  type: 'string',
  enum: [...ADMIN_REVOCATION_REASONS],
  description: 'RFC 5280 CRLReason (not caCompromise or certificateHold: those are the operator’s, through mb)',
};

export const listCertificatesQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    domain,
    status: { type: 'string', enum: ['active', 'revoked', 'expired'] },
    expiring: { type: 'string', enum: ['true', 'false'], description: 'only certificates that expire within 30 days' },
  },
} as const;

export const issueClientBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name: clientName, domain, days },
} as const;

export const renewClientBody = {
  type: 'object',
  additionalProperties: false,
  properties: { domain, days },
} as const;

export const revokeBody = {
  type: 'object',
  additionalProperties: false,
  required: ['reason'],
  properties: { reason, domain },
} as const;

/** A certificate just issued or renewed (IssuedBundle, src/ca/ca.types.ts): 201, the key shown this once. */
export const issuedBundleResponse = {
  type: 'object',
  description: 'The new certificate, its CA and its private key: the key is shown this once and never stored',
  required: ['common_name', 'serial', 'fingerprint', 'cert_pem', 'key_pem', 'ca_pem', 'not_before', 'not_after'],
  properties: {
    common_name: { type: 'string', description: 'name.domain' },
    serial: { type: 'string' },
    fingerprint: { type: 'string', description: 'SHA-256 of the certificate, hex' },
    cert_pem: { type: 'string' },
    key_pem: { type: 'string', description: 'The private key (PEM): hand it to the client only' },
    ca_pem: { type: 'string' },
    not_before: { type: 'string', format: 'date-time' },
    not_after: { type: 'string', format: 'date-time' },
  },
} as const;

/** A renewal (RenewedBundle): the new bundle, and what became of the client's other certificates. */
export const renewedBundleResponse = {
  ...issuedBundleResponse,
  description:
    'The new certificate and its key (shown this once); the newest certificate before it stays valid (overlap), older active ones are revoked as superseded',
  required: [...issuedBundleResponse.required, 'overlaps', 'superseded', 'crl_number', 'announced'],
  properties: {
    ...issuedBundleResponse.properties,
    overlaps: {
      type: ['object', 'null'],
      description: 'The certificate that stays valid beside the new one until it expires or is revoked; null: none',
      required: ['serial', 'not_after'],
      properties: { serial: { type: 'string' }, not_after: { type: 'string', format: 'date-time' } },
    },
    superseded: {
      type: 'array',
      description: 'Older active certificates this renewal revoked (reason superseded); their connections are closed',
      items: {
        type: 'object',
        required: ['serial', 'fingerprint'],
        properties: { serial: { type: 'string' }, fingerprint: { type: 'string' } },
      },
    },
    crl_number: {
      type: ['integer', 'null'],
      description: 'The CRL that lists the superseded ones; null when none was, or the re-sign failed',
    },
    announced: {
      type: 'boolean',
      description:
        'false: superseded certificates are revoked in the registry but the brokers could not be told (Redis unreachable, or the CRL not re-signed); an operator runs `mb crl rebuild`',
    },
  },
} as const;

export const clientStatusBody = {
  type: 'object',
  additionalProperties: false,
  properties: { domain },
} as const;

export const clientStatusReply = {
  type: 'object',
  required: ['client', 'announced'],
  properties: {
    client: {
      type: 'object',
      required: ['name', 'domain', 'common_name', 'status'],
      properties: {
        name: { type: 'string' },
        domain: { type: 'string' },
        common_name: { type: 'string', description: 'name.domain' },
        status: { type: 'string', enum: ['active', 'disabled'] },
      },
    },
    announced: {
      type: 'boolean',
      description:
        'false: the other brokers could not be told (Redis unreachable); they apply the status to new connections within server.identity_cache_ms, and to open ones only once those close. Call again once Redis is back.',
    },
  },
} as const;

export const clientParams = {
  type: 'object',
  required: ['name'],
  properties: { name: clientName },
} as const;

export const serialParams = {
  type: 'object',
  required: ['serial'],
  properties: { serial: { type: 'string', pattern: '^(0x)?[0-9A-Fa-f:]{1,64}$' } },
} as const;

export interface ListCertificatesQuery {
  domain?: string;
  status?: 'active' | 'revoked' | 'expired';
  expiring?: 'true' | 'false';
}
export interface IssueClientBody {
  name: string;
  domain?: string;
  days?: number;
}
export type RenewClientBody = Omit<IssueClientBody, 'name'>;
export interface ClientStatusBody {
  domain?: string;
}
export interface RevokeBody {
  reason: RevocationReason;
  domain?: string;
}
