/**
 * A fingerprint of the effective configuration, so that instances sharing one Redis can
 * tell when they do not run the same settings (a domain missing on one host, different
 * limits, another retry policy…). sha256 over the canonical JSON of the config.
 *
 * It hashes the effective config (what `loadConfig` returns, every override resolved),
 * not the file: what must agree is how the brokers behave, so two files that resolve to
 * the same settings (`max_attempts: 0` beside `delivery.max_attempts: 5`, or
 * `max_attempts: 5`) give the same fingerprint, and a changed global default changes it
 * through every domain that inherits it.
 *
 * Left out, because they differ between correct instances of one deployment:
 *   instance_id                     names this instance
 *   server.host, server.port,       where this host listens and the names in its
 *   server.public_hostnames         server certificate
 *   redis.url, database.url         the same service may be reached by another address
 *                                   from each host (and the URLs may carry credentials)
 *   redis.embedded, database.embedded, database.pool_size
 *                                   how this host reaches or sizes its connections
 *   data.dir, secrets.dir, pki.dir  local paths (resolved absolute per host)
 *   pki.ca_key_passphrase_file      local path; only the host holding the CA key has it
 *   log                             verbosity may be raised on one host to debug it
 *   bootstrap                       first start only (one host creates the CA)
 *   heartbeat                       how this host reports itself
 * Everything else — queue, delivery, limits, idempotency, domains (with webhook secrets,
 * hashed like the rest), key prefix, body limits, TLS policy — must agree.
 *
 * `configSectionFingerprints` hashes the same settings key by key, so that a mismatch can
 * name what differs (`delivery.max_attempts`, `domains.acme`) without any instance
 * sending a value: only key paths and short hashes travel in the heartbeat.
 */
import { createHash, scryptSync } from 'node:crypto';
import type { BrokerConfig } from './config.js';
import { canonicalJson } from '../util/canonical-json.js';

export const INSTANCE_SPECIFIC_KEYS = [
  'instance_id',
  'server.host',
  'server.port',
  'server.public_hostnames',
  'redis.url',
  'redis.embedded',
  'database.url',
  'database.embedded',
  'database.pool_size',
  'data',
  'secrets.dir',
  'pki.dir',
  'pki.ca_key_passphrase_file',
  'log',
  'bootstrap',
  'heartbeat',
] as const;

export function configFingerprint(config: Readonly<BrokerConfig>): string {
  return createHash('sha256')
    .update(canonicalJson(sharedSettings(config)))
    .digest('hex');
}

/** 16 hex digits tell two settings apart; they are no integrity check. */
const SECTION_HASH_CHARS = 16;

/**
 * One short hash per key path of the shared settings: each key of a top-level section
 * (`delivery.max_attempts`), each domain by name (`domains.acme`, its webhook secret
 * hashed with the rest of the domain so it is never hashed alone), and top-level scalars
 * and lists as they are. Instances compare these maps to name the keys that differ.
 */
export function configSectionFingerprints(config: Readonly<BrokerConfig>): Record<string, string> {
  const hash = (value: unknown) =>
    createHash('sha256')
      .update(canonicalJson(value ?? null))
      .digest('hex')
      .slice(0, SECTION_HASH_CHARS);
  const out: Record<string, string> = {};
  for (const [section, value] of Object.entries(withSecretsStretched(sharedSettings(config)))) {
    if (section === 'domains' && Array.isArray(value)) {
      for (const domain of value as Array<{ name: string }>) out[`domains.${domain.name}`] = hash(domain);
    } else if (value && typeof value === 'object' && !Array.isArray(value)) {
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length === 0) out[section] = hash(value);
      for (const [key, inner] of entries) out[`${section}.${key}`] = hash(inner);
    } else out[section] = hash(value);
  }
  return out;
}

/** Keys whose values are secrets (webhook signing secrets, the Sentinel password). */
const SECRET_KEY = /(secret|password|passphrase)$/;
/** scrypt's cost: slow enough that a short hash is no cheap oracle for guessing a weak secret. */
const SECRET_STRETCH = { N: 2 ** 12, r: 8, p: 1 } as const;
const stretched = new Map<string, string>();

/**
 * A copy in which every secret value is replaced by a slow hash of it: a per-key hash is
 * short and its key's other settings are guessable, so a plain sha256 of a domain would
 * let anyone who reads the heartbeats test guesses of its webhook secret at full speed.
 * Cached per value: a reload hashes only secrets it has not seen.
 */
function withSecretsStretched(value: unknown, key = ''): Record<string, unknown> {
  if (typeof value === 'string' && SECRET_KEY.test(key) && value !== '') {
    let slow = stretched.get(value);
    if (slow === undefined) {
      slow = scryptSync(value, 'mb-config-section-fingerprint', 32, SECRET_STRETCH).toString('hex');
      stretched.set(value, slow);
    }
    return slow as never;
  }
  if (Array.isArray(value)) return value.map((item) => withSecretsStretched(item)) as never;
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withSecretsStretched(v, k)]));
  return value as never;
}

/** Key paths whose hash differs, or that only one side has, sorted. */
export function differingConfigKeys(
  mine: Readonly<Record<string, string>>,
  theirs: Readonly<Record<string, string>>,
): string[] {
  const keys = new Set([...Object.keys(mine), ...Object.keys(theirs)]);
  return [...keys].filter((key) => mine[key] !== theirs[key]).sort();
}

/** The config without what legitimately differs between instances. */
function sharedSettings(config: Readonly<BrokerConfig>): Record<string, unknown> {
  const copy = structuredClone(config) as unknown as Record<string, unknown>;
  for (const path of INSTANCE_SPECIFIC_KEYS) removePath(copy, path.split('.'));
  return copy;
}

function removePath(target: Record<string, unknown>, path: string[]): void {
  const [head, ...rest] = path;
  if (head === undefined || !(head in target)) return;
  if (rest.length === 0) delete target[head];
  else if (target[head] && typeof target[head] === 'object') removePath(target[head] as Record<string, unknown>, rest);
}
