/**
 * The one error catalogue. Every error the broker can raise — to an API client, to a
 * portal user, across a thread boundary or at start — is declared here with a stable
 * code, an HTTP status and a default message. Nothing else throws bare strings across
 * module boundaries.
 *
 * Errors cross threads as data (`{code, message, details}`, see `toErrorData` /
 * `fromErrorData`): a class does not survive `postMessage`.
 */

export interface ErrorSpec {
  readonly status: number;
  readonly message: string;
}

export const ERRORS = {
  // ── Client input ────────────────────────────────────────────────────────────────
  INVALID_PAYLOAD: { status: 422, message: 'The request body does not match the message schema' },
  MALFORMED_JSON: { status: 400, message: 'The request body is not valid JSON' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Content-Type must be application/json' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large' },
  NOT_FOUND: { status: 404, message: 'Not found' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed' },
  UPGRADE_REQUIRED: { status: 426, message: 'This endpoint speaks WebSocket only (Upgrade: websocket)' },
  BAD_REQUEST: { status: 400, message: 'Bad request' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request took too long to arrive' },
  EXPECTATION_FAILED: { status: 417, message: 'Only Expect: 100-continue is supported' },
  NO_ROUTE: {
    status: 422,
    message:
      "No route of the domain matches the message and the domain has no default route; it was not queued (see the domain's routes)",
  },

  // ── Client identity (mTLS) ──────────────────────────────────────────────────────
  UNAUTHORIZED: { status: 401, message: 'A client certificate is required' },
  CERT_UNTRUSTED: { status: 401, message: 'The client certificate is not issued by this broker' },
  CERT_UNKNOWN: { status: 403, message: 'The client certificate is not registered' },
  CERT_REVOKED: { status: 403, message: 'The client certificate has been revoked' },
  CERT_EXPIRED: { status: 403, message: 'The client certificate has expired or is not yet valid' },
  CLIENT_DISABLED: { status: 403, message: 'The client is disabled' },
  UNKNOWN_DOMAIN: { status: 403, message: 'The client certificate names a domain this broker does not serve' },
  DOMAIN_DISABLED: { status: 409, message: 'The domain is not accepting messages' },
  METRICS_FORBIDDEN: { status: 403, message: 'This client certificate may not read metrics' },
  METRICS_IDENTITY_RESERVED: {
    status: 403,
    message: 'This client name is a metrics identity (metrics.client_names): only a superadmin or the CLI may issue it',
  },

  // ── Portal (sessions, forms) ────────────────────────────────────────────────────
  SESSION_REQUIRED: { status: 401, message: 'Sign in to continue' },
  LOGIN_FAILED: { status: 401, message: 'Wrong email or password, or the account is locked for a while' },
  // Only for a password that opens accounts of the email in several domains: whoever sees
  // it knows that password already (docs/security.md, "Tenants' accounts").
  LOGIN_DOMAIN_NEEDED: {
    status: 401,
    message: 'This email and password open accounts in several domains: enter the domain of the one you mean',
  },
  LOGIN_THROTTLED: { status: 429, message: 'Too many failed sign-ins from this address; wait a few minutes' },
  // A password change whose wrong current password used up the sign-in allowance: the
  // account is locked like after failed sign-ins, and the session that guessed ends.
  ACCOUNT_LOCKED: {
    status: 403,
    message: 'Too many wrong passwords: the account is locked for a while, and its sessions have ended',
  },
  CSRF_INVALID: {
    status: 403,
    message: 'The form has expired or did not come from this site; reload the page and try again',
  },
  FORM_INVALID: { status: 422, message: 'Some fields need attention' },
  CONFLICT: { status: 409, message: 'That already exists' },
  RELOAD_REFUSED: { status: 422, message: 'The config reload was refused; the broker runs on with the config it has' },
  // ── Certificate authority (CLI and admin API) ───────────────────────────────────
  FORBIDDEN: { status: 403, message: 'Not allowed for this account' },
  CLIENT_EXISTS: {
    status: 409,
    message: 'A client with that name already exists in the domain; renew its certificate instead',
  },
  CLIENT_NOT_FOUND: { status: 404, message: 'No such client' },
  CERT_NOT_FOUND: { status: 404, message: 'No such certificate' },
  CERT_ALREADY_REVOKED: { status: 409, message: 'The certificate is already revoked' },
  CA_EXISTS: {
    status: 409,
    message: 'A certificate authority already exists; pass the overwrite option to replace it',
  },
  CA_NOT_INITIALIZED: { status: 503, message: 'The certificate authority has not been created yet (mb ca init)' },
  CA_IN_USE: {
    status: 409,
    message: 'A running broker uses the certificate authority; stop every broker before replacing it',
  },

  // ── Throttling ──────────────────────────────────────────────────────────────────
  TOO_MANY_REQUESTS: { status: 429, message: 'Too many requests' },
  QUOTA_EXCEEDED: { status: 429, message: 'Daily quota exceeded' },
  SENDER_SEARCH_LIMITED: {
    status: 429,
    message: 'Too many searches by sender number for now; the other filters still work, try again later',
  },

  // ── Idempotency ─────────────────────────────────────────────────────────────────
  /** Not raised today: a request and its key are checked and recorded in one atomic Redis script, so a concurrent duplicate simply waits its turn. Kept so clients can handle it should that change. */
  IDEMPOTENCY_IN_PROGRESS: {
    status: 409,
    message: 'A request with this Idempotency-Key is still being processed; retry shortly',
  },
  IDEMPOTENCY_KEY_REUSED: { status: 422, message: 'This Idempotency-Key was already used for a different request' },

  // ── Availability ────────────────────────────────────────────────────────────────
  QUEUE_UNAVAILABLE: { status: 503, message: 'The message queue is unavailable; the message was not accepted' },
  QUEUE_NOT_DURABLE: {
    status: 503,
    message:
      'Redis cannot keep messages right now (a failed AOF write, out of memory, an evicting policy, a read-only replica, or fewer replicas online than queue.replicas); the message was not accepted',
  },
  QUEUE_NOT_REPLICATED: {
    status: 503,
    message:
      'The message reached the Redis master but fewer replicas than queue.replicas confirmed it in time, so it is not acknowledged as durable; retry with the same Idempotency-Key',
  },
  QUEUE_FULL: {
    status: 503,
    message:
      'Redis holds as much as the broker lets it (redis.max_backlog_bytes or redis.max_memory_percent of maxmemory) while the backlog is stored; the message was not accepted, try again later',
  },
  // The broker's own CRL is past its nextUpdate (the CA has not re-signed it): OpenSSL then
  // refuses every certificate, but the fault is the broker's, not the client's.
  CRL_UNAVAILABLE: {
    status: 503,
    message:
      "The broker's certificate revocation list is out of date, so no client certificate can be checked; try again later",
  },
  ACTOR_UNAVAILABLE: { status: 503, message: 'A broker component is restarting; try again' },
  STORAGE_UNAVAILABLE: { status: 503, message: 'The database is unavailable' },
  SHUTTING_DOWN: { status: 503, message: 'The broker is shutting down' },
  ACTOR_TIMEOUT: { status: 503, message: 'A broker component did not answer in time' },
  SUBSCRIBERS_FULL: {
    status: 503,
    message: 'This broker serves as many event subscribers as it may; try another or later',
  },
  LIVE_SOCKETS_FULL: {
    status: 429,
    message: 'You have as many live portal pages open as you may; close one, or reload without live updates',
  },
  TOO_MANY_CONNECTIONS: {
    status: 429,
    message:
      'Your client (or address) holds as many connections to this broker as it may (server.max_connections_per_client): this one closes after this answer; send on the ones you have',
  },
  CLIENT_SUBSCRIBERS_FULL: {
    status: 429,
    message:
      'Your client has as many event WebSockets open on this broker as it may (events.ws_max_subscribers_per_client); close one first',
  },

  // ── Internal ────────────────────────────────────────────────────────────────────
  INTERNAL_ERROR: { status: 500, message: 'Internal error' },
  CONFIG_INVALID: { status: 500, message: 'The configuration is invalid' },
  CRYPTO_FAILURE: { status: 500, message: 'Decryption or key lookup failed' },
  CA_FAILURE: { status: 500, message: 'The certificate authority could not complete the operation' },
  CA_KEY_LOCKED: {
    status: 500,
    message:
      'The CA private key could not be opened: its passphrase file (pki.ca_key_passphrase_file) is missing or wrong',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** What an error looks like on the wire between threads. */
export interface ErrorData {
  code: ErrorCode;
  message: string;
  details?: unknown;
}

export class BrokerError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: unknown;

  constructor(code: ErrorCode, message?: string, details?: unknown) {
    super(message ?? ERRORS[code].message);
    this.name = 'BrokerError';
    this.code = code;
    this.status = ERRORS[code].status;
    if (details !== undefined) this.details = details;
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERRORS, value);
}

/** Flattens any thrown value into data that survives `postMessage`. */
export function toErrorData(error: unknown): ErrorData {
  if (error instanceof BrokerError) {
    return error.details === undefined
      ? { code: error.code, message: error.message }
      : { code: error.code, message: error.message, details: error.details };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'INTERNAL_ERROR', message };
}

/**
 * 503 for a message whose append may or may not have reached Redis (the ingest actor died,
 * or the connection broke with the command on the wire). Not "not accepted": the chaos
 * runs found such messages stored. `details.outcome: 'unknown'` tells a client to retry
 * with the same Idempotency-Key.
 */
export function queueOutcomeUnknown(cause: string): BrokerError {
  return new BrokerError(
    'QUEUE_UNAVAILABLE',
    'The message may or may not have been queued; retry with the same Idempotency-Key',
    { cause, outcome: 'unknown' },
  );
}

/**
 * 503 for a batch the master appended but fewer than `queue.replicas` replicas confirmed
 * within the wait: a failover now could lose it, so no 202. It may still be delivered
 * (the master has it), hence `outcome: 'unknown'`, as for a broken connection.
 */
export function queueNotReplicated(wanted: number, acknowledged: number): BrokerError {
  return new BrokerError('QUEUE_NOT_REPLICATED', undefined, { wanted, acknowledged, outcome: 'unknown' });
}

/** Rebuilds a BrokerError from its wire form. */
export function fromErrorData(data: ErrorData): BrokerError {
  const code = isErrorCode(data.code) ? data.code : 'INTERNAL_ERROR';
  return new BrokerError(code, data.message, data.details);
}

/** The body every error response shares, API and portal alike. */
export interface ErrorBody {
  error_code: ErrorCode;
  message: string;
  details?: unknown;
  tracking_id: string;
  timestamp: string;
}

export function errorBody(error: BrokerError, trackingId: string, timestamp = new Date().toISOString()): ErrorBody {
  const body: ErrorBody = {
    error_code: error.code,
    // Internal errors never echo their cause to the client; the log has it.
    message: error.status >= 500 && error.code === 'INTERNAL_ERROR' ? ERRORS.INTERNAL_ERROR.message : error.message,
    tracking_id: trackingId,
    timestamp,
  };
  if (error.details !== undefined) body.details = error.details;
  return body;
}
