/**
 * Deleting messages for good: the retention purge (per domain, older than its retention)
 * and the erasure of one client's messages (`mb purge`). Both work in batches of
 * `retention.batch_size` rows and land in `audit_log`.
 *
 * What "waiting for delivery" means here (status `queued`: a webhook domain's message not
 * yet delivered, its next attempt in Redis):
 * - Retention purges it too once it is past retention: retention is a promise about how
 *   long data is kept, and a message undelivered after `retention.days` has long been
 *   failed by any sane retry policy. Its schedule entry goes with it; the audit entry
 *   counts such rows separately (`deleted_undelivered`).
 * - `mb purge --client` keeps it unless `--include-pending`: erasing a client's history
 *   should not silently cancel deliveries in progress. It reports how many it kept.
 * Messages accepted but not yet stored (still in the Redis stream, normally milliseconds)
 * are not seen by either; they are stored afterwards and fall under retention later.
 */
import type { Redis } from 'ioredis';
import type { BrokerConfig, DomainConfig } from '../config/config.js';
import type { AuditRepository } from '../db/audit.repository.js';
import type { ClientsRepository } from '../db/clients.repository.js';
import type { DoomedRow, RetentionRepository } from '../db/retention.repository.js';
import type { ClientRow } from '../db/schema.js';
import { BrokerError } from '../errors.js';
import { dropDeadLetters } from '../queue/dead-letter-stream.js';
import { targetKeysOf } from '../queue/keys.js';

const DAY_MS = 86_400_000;
/** A breath between batches: row locks and replication lag stay small on a busy database. */
const PAUSE_BETWEEN_BATCHES_MS = 5;

export interface DomainPurge {
  domain: string;
  days: number;
  cutoff: string;
  deleted: number;
  deleted_undelivered: number;
}

export interface ClientPurge {
  client: string;
  domain: string;
  deleted: number;
  kept_pending: number;
}

export interface RetentionDeps {
  redis: Redis;
  retention: RetentionRepository;
  clients: ClientsRepository;
  audit: AuditRepository;
}

/** Asked between batches; false stops the run (a lost lock, a shutdown). */
export type KeepGoing = () => boolean | Promise<boolean>;

export class RetentionService {
  constructor(private readonly deps: RetentionDeps) {}

  /** Purges every domain's messages older than its retention; audits each domain that lost rows. */
  async purgeExpired(
    config: Readonly<BrokerConfig>,
    now = Date.now(),
    keepGoing: KeepGoing = () => true,
  ): Promise<DomainPurge[]> {
    const results: DomainPurge[] = [];
    for (const domain of config.domains) {
      // Effective: the domain's own retention or retention.days (resolved by the loader).
      const days = domain.retention_days;
      if (days === 0) continue;
      const cutoff = new Date(now - days * DAY_MS);
      const outcome = await this.drain(
        config,
        domain,
        (limit) => this.deps.retention.selectExpired(domain.name, cutoff, limit),
        keepGoing,
      );
      // Dead-letter entries are named by time (stream ids): drop the ones past retention too.
      for (const keys of targetKeysOf(config.redis.key_prefix, domain).values())
        await this.deps.redis.xtrim(keys.dead, 'MINID', cutoff.getTime());
      const result: DomainPurge = {
        domain: domain.name,
        days,
        cutoff: cutoff.toISOString(),
        deleted: outcome.deleted,
        deleted_undelivered: outcome.pending,
      };
      results.push(result);
      if (result.deleted > 0) {
        await this.deps.audit.record({
          actor: 'system',
          action: 'retention.purge',
          target_type: 'domain',
          target_id: domain.name,
          domain: domain.name,
          details: {
            days,
            cutoff: result.cutoff,
            deleted: result.deleted,
            deleted_undelivered: result.deleted_undelivered,
          },
        });
      }
    }
    return results;
  }

  /**
   * Erases the messages of one client (`name` or `name.domain`; `domain` narrows a name
   * that exists in several domains). Audited even when nothing was there to erase.
   */
  async purgeClient(
    config: Readonly<BrokerConfig>,
    request: { client: string; domain?: string; includePending: boolean; actor: string },
  ): Promise<ClientPurge> {
    const client = await this.findClient(request.client, request.domain);
    const domain = config.domains.find((d) => d.name === client.domain);
    // Only a failed row (or a queued one, a retry cut short) can have a dead letter.
    const undelivered = new Set<string>();
    const outcome = await this.drain(
      config,
      domain,
      (limit) => this.deps.retention.selectForClient(client.id, limit, request.includePending),
      () => true,
      undelivered,
    );
    // Erased means gone from the dead letters too: a listed entry of a vanished row would be
    // counted, listed and "redriven" (requeued 0) for nothing.
    if (domain)
      for (const keys of targetKeysOf(config.redis.key_prefix, domain).values())
        await dropDeadLetters(this.deps.redis, keys.dead, undelivered);
    const kept = request.includePending ? 0 : await this.deps.retention.countPendingForClient(client.id);
    const result: ClientPurge = {
      client: `${client.name}.${client.domain}`,
      domain: client.domain,
      deleted: outcome.deleted,
      kept_pending: kept,
    };
    await this.deps.audit.record({
      actor: request.actor,
      action: 'messages.purge',
      target_type: 'client',
      target_id: result.client,
      domain: client.domain,
      details: {
        deleted: result.deleted,
        deleted_undelivered: outcome.pending,
        kept_pending: kept,
        include_pending: request.includePending,
      },
    });
    return result;
  }

  /**
   * Select a batch, delete exactly it, repeat until a batch comes back short. The message
   * ids of deleted rows not delivered are added to `undelivered` when given.
   */
  private async drain(
    config: Readonly<BrokerConfig>,
    domain: DomainConfig | undefined,
    select: (limit: number) => Promise<DoomedRow[]>,
    keepGoing: KeepGoing,
    undelivered?: Set<string>,
  ): Promise<{ deleted: number; pending: number }> {
    const limit = config.retention.batch_size;
    let deleted = 0;
    let pending = 0;
    for (;;) {
      const rows = await select(limit);
      if (rows.length === 0) break;
      deleted += await this.deps.retention.deleteByIds(rows.map((r) => r.id));
      if (undelivered) for (const r of rows) if (r.status !== 'delivered') undelivered.add(r.message_id);
      const queued = rows.filter((r) => r.status === 'queued').map((r) => r.message_id);
      pending += queued.length;
      // The dispatcher would skip a vanished row it reads back anyway; removing it keeps the
      // schedule honest. The lease goes too: a first attempt held in memory (stored,
      // leased, waiting for a slot) starts only while its lease holds.
      if (queued.length > 0 && domain)
        for (const keys of targetKeysOf(config.redis.key_prefix, domain).values()) {
          const replies = await this.deps.redis
            .pipeline()
            .zrem(keys.schedule, ...queued)
            .zrem(keys.inflight, ...queued)
            .exec();
          for (const [error] of replies ?? []) if (error) throw error;
        }
      if (rows.length < limit || !(await keepGoing())) break;
      await new Promise((resolve) => setTimeout(resolve, PAUSE_BETWEEN_BATCHES_MS));
    }
    return { deleted, pending };
  }

  private async findClient(given: string, domain?: string): Promise<ClientRow> {
    const dot = given.indexOf('.');
    const [name, fromCn] = dot > 0 && !domain ? [given.slice(0, dot), given.slice(dot + 1)] : [given, domain];
    const matches = (await this.deps.clients.list(fromCn ? { domain: fromCn } : {})).filter((c) => c.name === name);
    if (matches.length === 0)
      throw new BrokerError('NOT_FOUND', `No client ${given}${domain ? ` in domain ${domain}` : ''}`);
    if (matches.length > 1) {
      throw new BrokerError(
        'BAD_REQUEST',
        `Client ${name} exists in several domains (${matches.map((c) => c.domain).join(', ')}); name one with --domain`,
      );
    }
    return matches[0]!;
  }
}
