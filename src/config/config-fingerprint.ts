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
 */
import { createHash } from 'node:crypto';
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
  const copy = structuredClone(config) as unknown as Record<string, unknown>;
  for (const path of INSTANCE_SPECIFIC_KEYS) removePath(copy, path.split('.'));
  return createHash('sha256').update(canonicalJson(copy)).digest('hex');
}

function removePath(target: Record<string, unknown>, path: string[]): void {
  const [head, ...rest] = path;
  if (head === undefined || !(head in target)) return;
  if (rest.length === 0) delete target[head];
  else if (target[head] && typeof target[head] === 'object') removePath(target[head] as Record<string, unknown>, rest);
}
