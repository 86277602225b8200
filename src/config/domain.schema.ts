/**
 * The domains' part of the one config schema (`config.schema.ts` holds the rest and
 * re-exports this): a domain (tenant) with its limits, status callback and routes, and its
 * delivery targets — store, webhook, amqp — each with its doc, type and default.
 */
import { ConfigError, bool, int, oneOf, parseShape, recordList, str, strList, type ValueOf } from './config-fields.js';
import { optionalInt, recordMap } from './config-fields.js';
import { checkRoutes, parseRoute, ROUTING_NAME } from './config-routes.js';
import { callbackUrlProblem } from '../events/callback-url.js';

const DOMAIN_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Overrides of the client limits for one domain or one client; unset (null) inherits. */
const limitOverrideShape = {
  rate_limit: optionalInt('Requests per window; 0 = no limit; unset = inherit', { min: 0 }),
  rate_window_ms: optionalInt('Length of the rate-limit window; unset = inherit', { min: 1000 }),
  daily_quota: optionalInt('Messages per UTC day; 0 = no quota; unset = inherit', { min: 0 }),
};

export type LimitOverride = ValueOf<typeof limitOverrideShape>;

export function parseClientOverride(commonName: string, item: unknown, path: string): LimitOverride {
  if (!/^[^.\s]+\./.test(commonName)) throw new ConfigError(`${path} must be keyed by a client CN (name.domain)`);
  return parseShape(limitOverrideShape, item, path);
}

const targetShape = {
  type: oneOf(
    'store: delivered once stored; webhook: POST to url; amqp: publish to a RabbitMQ exchange at url, delivered on its publisher confirm',
    'store',
    ['store', 'webhook', 'amqp'],
  ),
  url: str('Downstream HTTPS URL (webhook), or the RabbitMQ URL amqps://user:password@host:port/vhost (amqp)', '', {
    allowEmpty: true,
  }),
  secret: str(
    'HMAC-SHA256 signing secret (webhook) of X-MB-Signature (keyed with the text as written) and webhook-signature (Standard Webhooks: a whsec_<base64> secret keys with the decoded bytes, any other with its UTF-8 bytes)',
    '',
    { allowEmpty: true },
  ),
  timeout_ms: int(
    'Timeout of one attempt (webhook: the POST; amqp: publish until the confirm); 0 = delivery.webhook_timeout_ms',
    0,
    { min: 0 },
  ),
  ca_file: str('PEM file of the CA that signs the downstream or RabbitMQ (default: system CAs)', '', {
    allowEmpty: true,
  }),
  allow_insecure_http: bool(
    'Accept an http:// url (webhook): the decrypted body and sender number then travel in clear, without our client certificate; health shows it degraded and the log warns',
    false,
  ),
  exchange: str('Exchange each message is published to (amqp); empty = the default exchange', '', {
    allowEmpty: true,
  }),
  routing_key: str(
    'Routing key of each message (amqp); {domain} is replaced by the domain name, {route} and {match} by the route and the value it matched (empty without routing)',
    '{domain}',
    { allowEmpty: true },
  ),
  cert_file: str(
    "PEM client certificate presented to RabbitMQ (amqp, with key_file); empty = the broker's own delivery certificate (certs/delivery-client.crt) when there is one",
    '',
    { allowEmpty: true },
  ),
  key_file: str('PEM private key of cert_file (amqp)', '', { allowEmpty: true }),
  allow_insecure_amqp: bool(
    'Accept an amqp:// url (amqp): the decrypted body and sender number then travel in clear, without our client certificate; health shows it degraded and the log warns',
    false,
  ),
};

/** The routing-key placeholders an amqp target may use. */
export const ROUTING_KEY_PLACEHOLDERS = ['domain', 'route', 'match'] as const;

/** One of a domain's named `targets`: a target, and the delivery settings it may hold apart from its domain's. */
const namedTargetShape = {
  ...targetShape,
  retry_interval_ms: int("Override of the domain's retry_interval_ms for this target; 0 = inherit", 0, { min: 0 }),
  max_attempts: int("Override of the domain's max_attempts for this target; 0 = inherit", 0, { min: 0 }),
  backoff: oneOf("Override of the domain's backoff for this target; inherit = use it", 'inherit', [
    'inherit',
    'fixed',
    'exponential',
  ]),
  concurrency_share: int(
    "Delivery slots guaranteed to this target (webhook, amqp), as a single-target domain's concurrency_share; 0 = an equal share",
    0,
    { min: 0 },
  ),
};

export type RawTargetConfig = ValueOf<typeof targetShape>;
export type RawNamedTargetConfig = ValueOf<typeof namedTargetShape>;

/** The target of a domain configured with the single `target:` (and of its one default route). */
export const DEFAULT_TARGET_NAME = 'default';

function parseNamedTarget(name: string, item: unknown, path: string): RawNamedTargetConfig {
  if (!ROUTING_NAME.test(name))
    throw new ConfigError(`${path}: a target name must match ${ROUTING_NAME} (lower case, digits, _ and -)`);
  const target = parseShape(namedTargetShape, item, path);
  checkTarget(target, path);
  return target;
}

const domainShape = {
  name: str('Domain name (the part of the client CN after the first dot)', 'default', { pattern: DOMAIN_NAME }),
  key_prefix: str('Redis key segment of this domain; empty = its name', '', { allowEmpty: true }),
  active: bool('Accepts messages (false: submissions get 409 DOMAIN_DISABLED)', true),
  operational: bool('Delivers messages (false: accepted and stored, deliveries paused)', true),
  target: targetShape,
  targets: recordMap(
    'Named targets of this domain (instead of target), each picked by routes: {name: {type: store|webhook|amqp, …}}',
    {},
    parseNamedTarget,
  ),
  routes: recordList(
    'Ordered routes: the first that matches a message (header, sender_prefix, metadata, or none = default) names its target',
    [],
    parseRoute,
  ),
  retry_interval_ms: int('Override of delivery.retry_interval_ms; 0 = inherit', 0, { min: 0 }),
  max_attempts: int('Override of delivery.max_attempts; 0 = inherit', 0, { min: 0 }),
  backoff: oneOf('Override of delivery.backoff; inherit = use it', 'inherit', ['inherit', 'fixed', 'exponential']),
  max_age_ms: int('A message older than this is failed instead of attempted again; 0 = no limit', 0, { min: 0 }),
  concurrency_share: int(
    'Delivery slots guaranteed to this domain (a minimum, not a cap: a domain may use every slot others leave free; while domains wait for a slot, those below their share are served first); 0 = an equal share of what the others leave of delivery.concurrency, at least 35 when delivery.concurrency allows it. Single target only: named targets set their own',
    0,
    { min: 0 },
  ),
  rate_per_s: int(
    'Most delivery attempts started per second, per webhook or amqp target (a recovering backlog drains at this rate); 0 = no limit',
    0,
    { min: 0 },
  ),
  retention_days: int('Override of retention.days; -1 = inherit, 0 = keep forever', -1, { min: -1 }),
  limits: limitOverrideShape,
  status_callback: {
    url: str(
      'HTTPS URL every client of the domain has its status events POSTed to, unless the client has its own (clients.status_callback_url); empty = none',
      '',
      { allowEmpty: true },
    ),
    secret: str(
      'Signing secret of status callbacks (Standard Webhooks headers and X-MB-Signature, as for webhooks); required for any callback in the domain',
      '',
      { allowEmpty: true },
    ),
    ca_file: str('PEM file of the CA that signs the callback receivers (default: system CAs)', '', {
      allowEmpty: true,
    }),
    allowed_hosts: strList(
      'Hosts (name, or name:port) a client of the domain may name in a message’s own callback_url, and the domain’s own admins in a client’s callback URL (beside status_callback.url’s host); empty = no per-message callbacks',
      [],
    ),
  },
};

export type RawDomainConfig = ValueOf<typeof domainShape>;

export function parseDomain(item: unknown, path: string): RawDomainConfig {
  const domain = parseShape(domainShape, item, path);
  if (domain.key_prefix === '') domain.key_prefix = domain.name;
  const named = Object.keys(domain.targets).length > 0;
  const hasTarget = typeof item === 'object' && item !== null && (item as Record<string, unknown>).target != null;
  if (named && hasTarget)
    throw new ConfigError(`${path} sets both target and targets: use targets (a single target is targets.default)`);
  if (!named) checkTarget(domain.target, `${path}.target`);
  // A domain-wide share would have to be split among the targets somehow: each says its own.
  if (named && domain.concurrency_share > 0)
    throw new ConfigError(
      `${path}.concurrency_share is for a domain with a single target: with targets, set targets.<name>.concurrency_share`,
    );
  const targetNames = named ? Object.keys(domain.targets) : [DEFAULT_TARGET_NAME];
  if (targetNames.length > 1 && domain.routes.length === 0)
    throw new ConfigError(`${path}.routes must be set: the domain has several targets (${targetNames.join(', ')})`);
  checkRoutes(domain.routes, targetNames, `${path}.routes`);
  const callback = domain.status_callback;
  const urlProblem = callback.url === '' ? undefined : callbackUrlProblem(callback.url);
  if (urlProblem) throw new ConfigError(`${path}.status_callback.url ${urlProblem}`);
  if (callback.url !== '' && callback.secret === '')
    throw new ConfigError(`${path}.status_callback.secret must be set when status_callback.url is`);
  // Callbacks are signed as webhooks are (src/events/callback-client.ts).
  checkStandardSecret(callback.secret, `${path}.status_callback.secret`);
  return domain;
}

function checkTarget(target: RawTargetConfig, path: string): void {
  if (target.type === 'amqp') {
    checkAmqpTarget(target, path);
    return;
  }
  if (target.type !== 'webhook') return;
  if (!/^https?:\/\//.test(target.url))
    throw new ConfigError(`${path}.url must be an https:// URL for a webhook target`);
  // A webhook carries the decrypted body and number: plain http only when asked for by name.
  if (/^http:\/\//.test(target.url) && !target.allow_insecure_http)
    throw new ConfigError(
      `${path}.url is http://, which would send decrypted bodies and sender numbers in clear: use https://, or set ${path}.allow_insecure_http: true to accept that`,
    );
  // Checked by its prefix only, `https://`, `https://exa mple/in` or a port past 65535 was
  // taken and every message then failed its attempts with "Invalid URL" until dead-lettered;
  // a user name and password were dropped without a word (the request goes to the URL's
  // origin), so a downstream that wanted them refused every message for good with a 401.
  let parsed: URL | undefined;
  try {
    parsed = new URL(target.url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || parsed.hostname === '' || /\s/u.test(target.url))
    throw new ConfigError(`${path}.url is not a valid URL (https://host[:port]/path)`);
  if (parsed.username !== '' || parsed.password !== '')
    throw new ConfigError(
      `${path}.url must not carry a user name or password: they are not sent (the downstream checks the webhook signatures, keyed with ${path}.secret)`,
    );
  if (target.secret === '') throw new ConfigError(`${path}.secret must be set for a webhook target`);
  checkStandardSecret(target.secret, `${path}.secret`);
}

/**
 * Standard Webhooks libraries base64-decode a whsec_ secret, and so does the broker for
 * webhook-signature: one that is not base64 of 16 bytes or more would make every signature
 * unverifiable, or key it with a few bytes (`whsec_abc`: two) that anyone can guess.
 */
function checkStandardSecret(secret: string, path: string): void {
  if (secret.startsWith('whsec_') && !/^whsec_[A-Za-z0-9+/]{22,}={0,2}$/.test(secret))
    throw new ConfigError(`${path} starts with whsec_ but is not whsec_ followed by base64 (16 bytes or more)`);
}

function checkAmqpTarget(target: RawTargetConfig, path: string): void {
  if (!/^amqps?:\/\/[^/]/.test(target.url))
    throw new ConfigError(
      `${path}.url must be an amqps:// URL (amqps://user:password@host:port/vhost) for an amqp target`,
    );
  // Like a webhook over http: the decrypted body would cross the network in clear.
  if (/^amqp:\/\//.test(target.url) && !target.allow_insecure_amqp)
    throw new ConfigError(
      `${path}.url is amqp://, which would send decrypted bodies and sender numbers in clear: use amqps://, or set ${path}.allow_insecure_amqp: true to accept that`,
    );
  if ((target.cert_file === '') !== (target.key_file === ''))
    throw new ConfigError(`${path}.cert_file and ${path}.key_file must be set together`);
  for (const [, name] of target.routing_key.matchAll(/\{([^}]*)\}/g))
    if (!(ROUTING_KEY_PLACEHOLDERS as readonly string[]).includes(name ?? ''))
      throw new ConfigError(
        `${path}.routing_key has an unknown placeholder {${name}}: use ${ROUTING_KEY_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`,
      );
  if (Buffer.byteLength(target.routing_key) > 255)
    throw new ConfigError(`${path}.routing_key is longer than AMQP's 255 bytes`);
}

export const domainsField = recordList('Tenants served by this broker', [parseDomain({}, 'domains[0]')], parseDomain);
