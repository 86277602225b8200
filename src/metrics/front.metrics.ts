/**
 * The front's metrics, under the names operators know from the system's first design
 * (`proxy_*`). The handles of each label set are kept, so counting a request costs
 * field increments (fast-series.ts), not label hashing.
 *
 * Messages are counted one by one, the same way on both submit routes: each message newly
 * queued moves `proxy_messages_enqueued_total{domain}` once; each message refused moves
 * `proxy_messages_failed_total{reason}` once, under its own error code (a batch item) or the
 * whole request's (every message of a refused request). An idempotent replay moves neither:
 * it queues and refuses nothing new (it is counted in `mb_api_idempotent_replays_total`).
 * Every known label value is on /metrics from the start, at 0, so that rates and alerts
 * have a series before the first event.
 */
import type { ErrorCode } from '../errors.js';
import { CounterFamily, HistogramFamily, type CounterSeries, type HistogramSeries } from './fast-series.js';

export const UNMATCHED_ENDPOINT = 'unmatched';

const requests = new CounterFamily(
  'proxy_requests_total',
  'HTTP requests answered, by method, route pattern (not the raw URL; "unmatched" for 404s) and status',
  ['method', 'endpoint', 'status'],
);

const durations = new HistogramFamily(
  'proxy_request_duration_seconds',
  'Time from request received to response sent, by method and route pattern',
  ['method', 'endpoint'],
  // The API answers in about a millisecond; the tail (Redis fsync, TLS) in tens.
  [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
);

const enqueued = new CounterFamily(
  'proxy_messages_enqueued_total',
  'Messages newly queued (durable in Redis), one per message on both submit routes, by domain; replays are not counted',
  ['domain'],
);
const failed = new CounterFamily(
  'proxy_messages_failed_total',
  "Messages refused, one per message on both submit routes, by reason (the error_code: the batch item's, or the whole request's); replays are not counted",
  ['reason'],
);
const validations = new CounterFamily(
  'proxy_certificate_validations_total',
  'Client certificate checks on mTLS routes, by result ("valid" or the refusal error_code)',
  ['result'],
);

/** The submit routes, whose messages feed proxy_messages_enqueued_total / _failed_total. */
export const MESSAGES_ROUTE = '/api/v1/messages';
export const BATCH_ROUTE = '/api/v1/messages/batch';

/** What a client certificate check can answer besides `valid` (client-identity.ts). */
const CERTIFICATE_REFUSALS: readonly ErrorCode[] = [
  'UNAUTHORIZED',
  'CERT_UNTRUSTED',
  'CERT_UNKNOWN',
  'CERT_REVOKED',
  'CERT_EXPIRED',
  'CLIENT_DISABLED',
  'CRL_UNAVAILABLE',
  'STORAGE_UNAVAILABLE',
];

/** Every code a submission can be refused with, from its certificate to the queue. */
const SUBMISSION_REFUSALS: readonly ErrorCode[] = [
  'INVALID_PAYLOAD',
  'NO_ROUTE',
  'MALFORMED_JSON',
  'UNSUPPORTED_MEDIA_TYPE',
  'PAYLOAD_TOO_LARGE',
  'REQUEST_TIMEOUT',
  'BAD_REQUEST',
  ...CERTIFICATE_REFUSALS,
  'UNKNOWN_DOMAIN',
  'DOMAIN_DISABLED',
  'TOO_MANY_REQUESTS',
  'QUOTA_EXCEEDED',
  'IDEMPOTENCY_KEY_REUSED',
  'IDEMPOTENCY_IN_PROGRESS',
  'QUEUE_UNAVAILABLE',
  'QUEUE_NOT_DURABLE',
  'QUEUE_FULL',
  'QUEUE_NOT_REPLICATED',
  'ACTOR_UNAVAILABLE',
  'ACTOR_TIMEOUT',
  'SHUTTING_DOWN',
  'INTERNAL_ERROR',
];

for (const result of CERTIFICATE_REFUSALS) validations.series(result);

interface RouteSeries {
  duration: HistogramSeries;
  byStatus: Map<number, CounterSeries>;
}

const routes = new Map<string, Map<string, RouteSeries>>();
const validCertificate = validations.series('valid');
const enqueuedByDomain = new Map<string, CounterSeries>();
const refusedByReason = new Map<string, CounterSeries>(SUBMISSION_REFUSALS.map((r) => [r, failed.series(r)]));

/** Counts one answered request and its duration. */
export function observeRequest(method: string, endpoint: string, status: number, seconds: number): void {
  const route = routeSeries(method, endpoint);
  let counter = route.byStatus.get(status);
  if (!counter) route.byStatus.set(status, (counter = requests.series(method, endpoint, String(status))));
  route.duration.observe(seconds);
  counter.inc();
}

function routeSeries(method: string, endpoint: string): RouteSeries {
  let byEndpoint = routes.get(method);
  if (!byEndpoint) routes.set(method, (byEndpoint = new Map()));
  let route = byEndpoint.get(endpoint);
  if (!route) byEndpoint.set(endpoint, (route = { duration: durations.series(method, endpoint), byStatus: new Map() }));
  return route;
}

/** Shows a route's answers with this status at 0 (and its duration histogram, empty). */
function seedRequests(method: string, endpoint: string, status: number): void {
  const route = routeSeries(method, endpoint);
  if (!route.byStatus.has(status)) route.byStatus.set(status, requests.series(method, endpoint, String(status)));
}

/**
 * Shows every configured domain from the start (at 0), so rates and alerts have a series;
 * and the submit routes' answers, whose rate a dashboard shows before the first message.
 */
export function seedSeries(domains: readonly string[]): void {
  for (const domain of domains) enqueuedByDomain.set(domain, enqueued.series(domain));
  seedRequests('POST', MESSAGES_ROUTE, 202);
  seedRequests('POST', BATCH_ROUTE, 207);
}

/** Messages newly queued (never a replay's). */
export function countEnqueued(domain: string, messages = 1): void {
  let counter = enqueuedByDomain.get(domain);
  if (!counter) enqueuedByDomain.set(domain, (counter = enqueued.series(domain)));
  counter.inc(messages);
}

/** Messages refused (never a replay's), under the refusal's error code. */
export function countRefusedMessage(reason: string, messages = 1): void {
  let counter = refusedByReason.get(reason);
  if (!counter) refusedByReason.set(reason, (counter = failed.series(reason)));
  counter.inc(messages);
}

export function countCertificateValidation(result: string): void {
  if (result === 'valid') validCertificate.inc();
  else validations.series(result).inc();
}
