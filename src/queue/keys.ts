/**
 * Every Redis key the broker uses is built here, and nowhere else.
 *
 *   <prefix><domain>:stream     inbound stream of a domain (consumer group `delivery`)
 *   <prefix><domain>:schedule   sorted set: message_id → due time of its next delivery attempt
 *   <prefix><domain>:inflight   sorted set: message_id → lease expiry of an attempt under way
 *   <prefix><domain>:dead       dead-letter stream of a domain
 *                               (these three are the target named `default`'s, which every
 *                               domain had before routing: its retries and dead letters stay)
 *   <prefix><domain>:redriving  sorted set: message_id → until when a redrive or retry holds its dead letters
 *   <prefix><domain>:target:<name>:schedule|inflight|dead|redriving   the same for each other target
 *   <prefix><domain>:queued     hash: message_id → "client_id|queued_at" of messages still in the stream
 *   <prefix><domain>:client:<id>:limits      the client's rate window and daily quota counts
 *   <prefix><domain>:client:<id>:idem:<key>  Idempotency-Key record: request hash + outcome
 *   <prefix>instances           sorted set: instance id → time of its last heartbeat (ms)
 *   <prefix>instances:<id>      heartbeat of one broker instance
 *   <prefix>events:revocations  pub/sub channel: certificate revoked / CRL rebuilt
 *   <prefix>events:client-status  pub/sub channel: a client was disabled or enabled
 *   <prefix>events:client:<id>  stream: the client's message status events (trimmed to events.retention_ms)
 *   <prefix>events:callback:<message_id>  a message's own callback_url (PX events.retention_ms)
 *   <prefix>events:callback-clients  sorted set: client id → until when it may have per-message callbacks (ms)
 *   <prefix>events:callbacks:dead  stream: status callbacks given up (event id, client, host, error)
 *   <prefix>pki:crl             the last CRL announcement, for brokers that missed the message
 *   <prefix>identity:cert:<fingerprint>  a client certificate's resolved identity (JSON), the fallback while MySQL is away
 *   <prefix>identity:client:<id>:disabled  marker: the client is disabled (set at disable, deleted at enable)
 *   <prefix>locks:<name>        lock held by one broker (e.g. the retention purge)
 *   <prefix>portal:user:<id>:sender-searches  a portal user's sender-search window (rate-take-1 state)
 *   <prefix>portal:user:<id>:form:<form id>   a one-time form already sent (src/portal/once-forms.ts), 24 h
 *   <prefix>portal:address:<ip>:login-failures  failed sign-ins from one address in its window (login-begin-1)
 *
 * Under Redis Cluster the prefix must carry a hash tag (`{mb}:`, checked by the config):
 * pipelines, MULTI, Lua scripts and the store's multi-stream XREADGROUP then stay in one slot.
 */
import type { BrokerConfig, DomainConfig } from '../config/config.js';
import { DEFAULT_TARGET_NAME } from '../config/config.schema.js';

export const DELIVERY_GROUP = 'delivery';

export interface DomainKeys {
  stream: string;
  schedule: string;
  inflight: string;
  dead: string;
  /** Dead letters' messages a redrive or retry is putting back (claim-dead-letters-2). */
  redriving: string;
  queued: string;
}

export function domainKeys(prefix: string, domain: Pick<DomainConfig, 'key_prefix'>): DomainKeys {
  const base = `${prefix}${domain.key_prefix}:`;
  return {
    stream: `${base}stream`,
    schedule: `${base}schedule`,
    inflight: `${base}inflight`,
    dead: `${base}dead`,
    redriving: `${base}redriving`,
    queued: `${base}queued`,
  };
}

/**
 * The keys a delivery to one target of a domain uses: the domain's stream and queued
 * index, and the target's own schedule, leases and dead letters (`default`: the domain's
 * keys of before routing, so a single-target domain's Redis state is unchanged).
 */
export function targetKeys(prefix: string, domain: Pick<DomainConfig, 'key_prefix'>, target: string): DomainKeys {
  const keys = domainKeys(prefix, domain);
  if (target === DEFAULT_TARGET_NAME) return keys;
  const base = `${prefix}${domain.key_prefix}:target:${target}:`;
  return {
    ...keys,
    schedule: `${base}schedule`,
    inflight: `${base}inflight`,
    dead: `${base}dead`,
    redriving: `${base}redriving`,
  };
}

/** The delivery keys of every target of a domain, by target name. */
export function targetKeysOf(
  prefix: string,
  domain: Pick<DomainConfig, 'key_prefix' | 'targets'>,
): Map<string, DomainKeys> {
  return new Map(domain.targets.map((t) => [t.name, targetKeys(prefix, domain, t.name)]));
}

export function keysFor(config: Readonly<BrokerConfig>): Map<string, DomainKeys> {
  return new Map(config.domains.map((d) => [d.name, domainKeys(config.redis.key_prefix, d)]));
}

export function instanceKey(prefix: string, instanceId: string): string {
  return `${prefix}instances:${instanceId}`;
}

export function revocationChannel(prefix: string): string {
  return `${prefix}events:revocations`;
}

export function clientStatusChannel(prefix: string): string {
  return `${prefix}events:client-status`;
}

/** A client's status events (stream ids are the event ids; client ids are unique across domains). */
export function clientEventsKey(prefix: string, clientId: number): string {
  return `${prefix}events:client:${clientId}`;
}

/** SCAN pattern of every client's status events. */
export function clientEventsPattern(prefix: string): string {
  return `${prefix}events:client:*`;
}

/** A message's own callback URL (`callback_url` of the submit body). */
export function messageCallbackKey(prefix: string, messageId: string): string {
  return `${prefix}events:callback:${messageId}`;
}

/** Clients that named a per-message callback URL lately: their event streams are read for callbacks. */
export function callbackClientsKey(prefix: string): string {
  return `${prefix}events:callback-clients`;
}

/** Status callbacks that exhausted their attempts or were refused for good. */
export function callbackDeadLetterKey(prefix: string): string {
  return `${prefix}events:callbacks:dead`;
}

export function latestCrlKey(prefix: string): string {
  return `${prefix}pki:crl`;
}

/** A certificate's cached identity (see src/queue/identity-cache.ts); the fingerprint is lowercase hex. */
export function identityKey(prefix: string, fingerprint: string): string {
  return `${prefix}identity:cert:${fingerprint.toLowerCase()}`;
}

/** Present while the client is disabled: its cached identities must not be used. */
export function clientDisabledKey(prefix: string, clientId: number): string {
  return `${prefix}identity:client:${clientId}:disabled`;
}

/** Index of live instances; each entry's details live under `instanceKey`. */
export function instancesIndexKey(prefix: string): string {
  return `${prefix}instances`;
}

export interface ClientKeys {
  limits: string;
  idempotency(key: string): string;
}

/** A client's counters and records, under its domain (client ids are unique across domains). */
export function clientKeys(prefix: string, domain: Pick<DomainConfig, 'key_prefix'>, clientId: number): ClientKeys {
  const base = `${prefix}${domain.key_prefix}:client:${clientId}:`;
  return { limits: `${base}limits`, idempotency: (key) => `${base}idem:${key}` };
}

export function lockKey(prefix: string, name: string): string {
  return `${prefix}locks:${name}`;
}

/** A portal user's counters (shared by every broker: the limit holds across instances). */
export function portalUserKeys(
  prefix: string,
  userId: number,
): { senderSearches: string; form: (formId: string) => string } {
  return {
    senderSearches: `${prefix}portal:user:${userId}:sender-searches`,
    form: (formId) => `${prefix}portal:user:${userId}:form:${formId}`,
  };
}

/**
 * An address's failed portal sign-ins (shared by every broker: N brokers behind a load
 * balancer must not allow N times the attempts). `ip` is the address as the front saw it.
 */
export function portalAddressKeys(prefix: string, ip: string): { loginFailures: string } {
  return { loginFailures: `${prefix}portal:address:${ip}:login-failures` };
}
