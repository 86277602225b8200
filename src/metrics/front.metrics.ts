/**
 * The front's metrics, under the names operators know from the system's first design
 * (`proxy_*`). The handles of each label set are kept, so counting a request costs
 * field increments (fast-series.ts), not label hashing.
 */
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
  'Messages accepted with a 202 (durable in Redis), by domain',
  ['domain'],
);
const failed = new CounterFamily(
  'proxy_messages_failed_total',
  'Message submissions refused, by reason (the error_code of the answer)',
  ['reason'],
);
const validations = new CounterFamily(
  'proxy_certificate_validations_total',
  'Client certificate checks on mTLS routes, by result ("valid" or the refusal error_code)',
  ['result'],
);

interface RouteSeries {
  duration: HistogramSeries;
  byStatus: Map<number, CounterSeries>;
}

const routes = new Map<string, Map<string, RouteSeries>>();
const validCertificate = validations.series('valid');
const enqueuedByDomain = new Map<string, CounterSeries>();

/** Counts one answered request and its duration. */
export function observeRequest(method: string, endpoint: string, status: number, seconds: number): void {
  let byEndpoint = routes.get(method);
  if (!byEndpoint) routes.set(method, (byEndpoint = new Map()));
  let route = byEndpoint.get(endpoint);
  if (!route) byEndpoint.set(endpoint, (route = { duration: durations.series(method, endpoint), byStatus: new Map() }));
  let counter = route.byStatus.get(status);
  if (!counter) route.byStatus.set(status, (counter = requests.series(method, endpoint, String(status))));
  route.duration.observe(seconds);
  counter.inc();
}

/** Shows every configured domain from the start (at 0), so rates and alerts have a series. */
export function initDomains(domains: readonly string[]): void {
  for (const domain of domains) enqueuedByDomain.set(domain, enqueued.series(domain));
}

export function countEnqueued(domain: string): void {
  let counter = enqueuedByDomain.get(domain);
  if (!counter) enqueuedByDomain.set(domain, (counter = enqueued.series(domain)));
  counter.inc();
}

/** The submit route, whose answers feed proxy_messages_enqueued_total / _failed_total. */
export const MESSAGES_ROUTE = '/api/v1/messages';

export function countRefusedMessage(reason: string): void {
  failed.series(reason).inc();
}

export function countCertificateValidation(result: string): void {
  if (result === 'valid') validCertificate.inc();
  else validations.series(result).inc();
}
