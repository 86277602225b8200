/**
 * Dead letters of a domain: listing them and manual redrive. A redriven message gets a
 * fresh set of attempts: MySQL first (failed → queued, attempt_count 0), then it goes
 * back on the schedule, then its dead-letter entry is removed. Each step is idempotent,
 * so a redrive cut short by a crash is simply run again. Used by the CLI and the portal.
 */
import type { Redis } from 'ioredis';
import type { BrokerConfig } from '../config/config.js';
import type { AuditRepository } from '../db/audit.repository.js';
import type { MessagesRepository } from '../db/messages.repository.js';
import { BrokerError } from '../errors.js';
import { domainKeys, type DomainKeys } from '../queue/keys.js';

export interface DeadLetter {
  entry_id: string;
  message_id: string;
  attempts: number;
  last_error: string;
  failed_at: string;
}

export interface RedriveResult {
  requeued: number;
  /** Dead-letter entries removed (including stale ones whose message was already settled). */
  removed: number;
}

export class DeadLetterService {
  constructor(
    private readonly config: Readonly<BrokerConfig>,
    private readonly redis: Redis,
    private readonly messages: MessagesRepository,
    private readonly audit: AuditRepository,
  ) {}

  async list(domain: string, options: { count?: number; before?: string } = {}): Promise<DeadLetter[]> {
    const keys = this.keysOf(domain);
    const entries = await this.redis.xrevrange(keys.dead, options.before ? `(${options.before}` : '+', '-', 'COUNT', options.count ?? 100);
    return entries.map(([id, flat]) => toDeadLetter(id, flat));
  }

  async count(domain: string): Promise<number> {
    return this.redis.xlen(this.keysOf(domain).dead);
  }

  /** Redrives the named messages, or every dead letter of the domain when `messageIds` is 'all'. */
  async redrive(domain: string, messageIds: string[] | 'all', actor: string, ip?: string): Promise<RedriveResult> {
    const keys = this.keysOf(domain);
    const entries = (await this.redis.xrange(keys.dead, '-', '+')).map(([id, flat]) => toDeadLetter(id, flat));
    const chosen = messageIds === 'all' ? entries : entries.filter((e) => messageIds.includes(e.message_id));
    if (messageIds !== 'all' && chosen.length === 0) throw new BrokerError('NOT_FOUND', 'No such dead letter in this domain');
    const ids = [...new Set(chosen.map((e) => e.message_id))];
    const now = Date.now();
    let requeued = 0;
    for (let i = 0; i < ids.length; i += 500) {
      const batch = ids.slice(i, i + 500);
      requeued += await this.messages.requeue(batch, new Date(now));
      const args: Array<string | number> = [];
      for (const id of batch) args.push(now, id);
      await this.redis.zadd(keys.schedule, 'NX', ...args);
    }
    const removed = chosen.length > 0 ? await this.redis.xdel(keys.dead, ...chosen.map((e) => e.entry_id)) : 0;
    await this.audit.record({
      actor,
      action: 'dead_letter.redrive',
      target_type: 'domain',
      target_id: domain,
      domain,
      ...(ip ? { ip } : {}),
      details: { requested: messageIds === 'all' ? 'all' : messageIds.length, requeued, removed },
    });
    return { requeued, removed };
  }

  private keysOf(domain: string): DomainKeys {
    const config = this.config.domains.find((d) => d.name === domain);
    if (!config) throw new BrokerError('UNKNOWN_DOMAIN', `Domain ${domain} is not configured`);
    return domainKeys(this.config.redis.key_prefix, config);
  }
}

function toDeadLetter(entryId: string, flat: string[]): DeadLetter {
  const record: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) record[flat[i]!] = flat[i + 1]!;
  return { entry_id: entryId, message_id: record.m ?? '', attempts: Number(record.a ?? 0), last_error: record.e ?? '', failed_at: record.t ?? '' };
}
