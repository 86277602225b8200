/**
 * The messages list and detail: filters from the query string, a keyset page from MySQL,
 * the bodies opened by the encryption actor in one round trip per page, and an audit
 * entry whenever an admin reads decrypted bodies.
 *
 * The sender filter never puts a phone number in a URL (browser history, proxy logs):
 * the filter form is POSTed, the number is hashed by the encryption actor under every
 * pepper, and the list URL carries the hashes (`sh`) and the masked form (`sm`) only.
 *
 * A search is also an oracle ("did this number send anything?") against numbers that are
 * masked but for four digits, so each user's searches are counted in Redis
 * (`portal.sender_search_limit` per `portal.sender_search_window_minutes`) and every one
 * is audited (the user, never the number); a list URL carries at most
 * `MAX_SENDER_HASHES` hashes, so one page cannot test a batch of candidates.
 */
import type { EncryptionCalls } from '../actors/encryption/encryption.protocol.js';
import type { AuditRepository } from '../db/audit.repository.js';
import type { ClientsRepository } from '../db/clients.repository.js';
import type {
  MessageCursor,
  MessageListRow,
  MessagePageFilter,
  MessagePagesRepository,
} from '../db/message-pages.repository.js';
import { MESSAGE_STATUSES, type MessageStatus, type UserRow } from '../db/schema.js';
import { BrokerError } from '../errors.js';
import type { SenderSearchTake } from '../queue/sender-search-limit.js';
import type { RpcPeer } from '../rpc/rpc-peer.js';
import { choice, text, type FormErrors } from './form-fields.js';
import { RecentReads } from './recent-reads.js';
import { knownTimeZone, startOfDay } from './time-zone.js';
import { isAdmin, messageFilterOf, type Scope } from './tenant-scope.js';

const DAY_MS = 86_400_000;
/** The last day of a DATETIME (and of a yyyy-mm-dd field). */
const LAST_DAY = '9999-12-31';
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const CURSOR = /^(\d{1,15})-(\d{1,20})$/;
const HASH = /^[0-9a-f]{64}$/;
const MASKED = /^\+[0-9*]{1,16}$/;
/**
 * Most sender hashes one list URL may carry: one per pepper in use — the active one and
 * those of up to two rotations not yet re-hashed (`mb keys reencrypt --pepper`).
 */
export const MAX_SENDER_HASHES = 3;
export const MESSAGE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The filters as the list URL carries them (all strings, for links and the form). */
export interface ListQuery {
  domain: string;
  status: string;
  from: string;
  to: string;
  /** The IANA time zone `from` and `to` are days of ('' = UTC; src/portal/time-zone.ts). */
  tz: string;
  sh: string;
  sm: string;
}

export interface ShownMessage extends Omit<MessageListRow, 'body_enc'> {
  body: string | null;
  client_name: string;
}

export interface ListResult {
  query: ListQuery;
  messages: ShownMessage[];
  /** Cursor of the next (older) page, or undefined. */
  older?: string;
  /** Cursor of the previous (newer) page, or undefined. */
  newer?: string;
}

export class MessageBrowser {
  constructor(
    private readonly pages: MessagePagesRepository,
    private readonly clients: ClientsRepository,
    private readonly audit: AuditRepository,
    /** 'encryption.open' (bodies for display) and 'encryption.hash' (sender filter). */
    private readonly actors: { encryption: Pick<RpcPeer<EncryptionCalls>, 'call'> },
    private readonly pageSize: number,
    /** Counts a user's sender searches (Redis, shared by every broker). */
    private readonly senderSearches: { take(userId: number): Promise<SenderSearchTake> },
    /** Identical list reads audited within the last minute (not recorded again). */
    private readonly recentReads = new RecentReads(),
  ) {}

  /** Reads and checks the list filters of a query string; a malformed one is a 400. */
  parseQuery(raw: unknown, domains: readonly string[]): ListQuery {
    const { query, errors } = this.readFilters(raw, domains);
    const [problem] = Object.values(errors);
    if (problem) throw new BrokerError('BAD_REQUEST', problem);
    return query;
  }

  /**
   * The list filters of a form, each checked on its own: `query` holds the valid ones
   * (a wrong one is left empty, so the list can still run), `typed` what was typed in the
   * date fields (shown back in the form), `errors` one message per field that failed —
   * the sender filter's hidden hashes answer at the sender field.
   */
  readFilters(
    raw: unknown,
    domains: readonly string[],
  ): { query: ListQuery; typed: Pick<ListQuery, 'from' | 'to'>; errors: FormErrors } {
    const errors: FormErrors = {};
    const offered = <T extends string>(name: string, allowed: readonly T[], message: string): string => {
      try {
        return choice(raw, name, allowed) ?? '';
      } catch {
        errors[name] = message;
        return '';
      }
    };
    const typed = { from: text(raw, 'from', 10), to: text(raw, 'to', 10) };
    const query: ListQuery = {
      domain: offered('domain', domains, 'Choose one of the offered domains'),
      status: offered('status', MESSAGE_STATUSES, 'Choose one of the offered statuses'),
      from: typed.from,
      to: typed.to,
      // Sent by the form's script; one this Node does not know reads as UTC, which the page says.
      tz: knownTimeZone(text(raw, 'tz', 64)) ? text(raw, 'tz', 64) : '',
      // Read whole (not cut at a hash boundary), so that too many hashes are refused, not trimmed.
      sh: text(raw, 'sh', 4096),
      sm: text(raw, 'sm', 20),
    };
    for (const field of ['from', 'to'] as const) {
      if (query[field] && !validDay(query[field])) {
        errors[field] = 'Dates are written yyyy-mm-dd';
        query[field] = '';
      }
    }
    if (query.sh && !query.sh.split(',').every((h) => HASH.test(h)))
      errors['sender'] = 'The sender filter is malformed';
    else if (query.sh && query.sh.split(',').length > MAX_SENDER_HASHES)
      errors['sender'] = `The sender filter carries more than ${MAX_SENDER_HASHES} hashes`;
    if (errors['sender']) query.sh = '';
    if (errors['sender'] || (query.sm && !MASKED.test(query.sm))) query.sm = '';
    return { query, typed, errors };
  }

  async list(
    user: UserRow,
    scope: Scope,
    query: ListQuery,
    cursors: { before?: string; after?: string },
    ip: string,
  ): Promise<ListResult> {
    const scoped = messageFilterOf(scope, query.domain || undefined);
    if (!scoped) return { query, messages: [] };
    const filter: MessagePageFilter = { ...scoped };
    if (query.status) filter.status = query.status as MessageStatus;
    if (query.from) filter.from = startOfDay(query.from, query.tz);
    // The "to" day is included: everything before the next midnight. The last day a date
    // field offers (9999-12-31) has no next midnight MySQL can compare with (year 10000 matched
    // nothing): it bounds nothing.
    if (query.to && query.to < LAST_DAY) {
      const nextDay = new Date(Date.parse(`${query.to}T00:00:00Z`) + DAY_MS).toISOString().slice(0, 10);
      filter.to = startOfDay(nextDay, query.tz);
    }
    if (query.sh) filter.senderHashes = query.sh.split(',');
    const before = parseCursor(cursors.before);
    const after = before ? undefined : parseCursor(cursors.after);
    const page = await this.pages.page(filter, {
      limit: this.pageSize,
      ...(before ? { before } : {}),
      ...(after ? { after } : {}),
    });
    const messages = await this.reveal(page.rows);
    // The same list again within a minute (a live page re-fetching itself) is the read
    // already recorded: see RecentReads for why merged, not skipped on the client's word.
    const read = `${user.id}|${JSON.stringify([filter, cursors.before ?? '', cursors.after ?? ''])}`;
    if (isAdmin(user) && messages.length > 0 && this.recentReads.shouldRecord(read)) {
      await this.audit.record({
        actor: `user:${user.id}`,
        action: 'message.list',
        target_type: 'message',
        domain: filter.domain ?? null,
        ip,
        details: {
          shown: messages.length,
          status: query.status || null,
          from: query.from || null,
          to: query.to || null,
          by_sender: Boolean(query.sh),
        },
      });
    }
    const first = page.rows[0];
    const last = page.rows.at(-1);
    // Reading older: more ⇒ an older page; a cursor was given ⇒ a newer one. Reading newer: the other way round.
    const hasOlder = after ? true : page.more;
    const hasNewer = after ? page.more : before !== undefined;
    return {
      query,
      messages,
      ...(hasOlder && last ? { older: cursorOf(last) } : {}),
      ...(hasNewer && first ? { newer: cursorOf(first) } : {}),
    };
  }

  /** One message the scope may see, opened; undefined for one it may not (404). Admin views are audited. */
  async show(user: UserRow, scope: Scope, messageId: string, ip: string): Promise<ShownMessage | undefined> {
    const scoped = messageFilterOf(scope);
    if (!scoped || !MESSAGE_ID.test(messageId)) return undefined;
    const row = await this.pages.findVisible(messageId, scoped);
    if (!row) return undefined;
    const [shown] = await this.reveal([row]);
    if (isAdmin(user)) {
      await this.audit.record({
        actor: `user:${user.id}`,
        action: 'message.view',
        target_type: 'message',
        target_id: messageId,
        domain: row.domain,
        ip,
      });
    }
    return shown;
  }

  /**
   * A sender search: counts it against the user's limit, audits it (allowed or refused;
   * the user, never the number, its hash or its masked form), and hashes the number for
   * the `sh` filter under every pepper (rows hashed before a rotation still match), the
   * active one first. Over the limit: 429 SENDER_SEARCH_LIMITED, nothing hashed.
   */
  async searchSender(user: UserRow, scope: Scope, e164: string, ip: string): Promise<string[]> {
    const take = await this.senderSearches.take(user.id);
    await this.audit.record({
      actor: `user:${user.id}`,
      action: 'message.sender_search',
      target_type: 'message',
      domain: scope.kind === 'domain' || scope.kind === 'client' ? scope.domain : null,
      ip,
      details: { allowed: take.allowed, searches_in_window: take.used, limit: take.limit },
    });
    if (!take.allowed) {
      const minutes = Math.max(1, Math.ceil(take.resetMs / 60_000));
      throw new BrokerError(
        'SENDER_SEARCH_LIMITED',
        `You have run ${take.limit} searches by sender number recently; try again in ${minutes} minute${minutes === 1 ? '' : 's'}. The other filters still work.`,
        { retry_after_seconds: Math.max(1, Math.ceil(take.resetMs / 1000)) },
      );
    }
    const { hashes } = await this.actors.encryption.call('encryption.hash', { numbers: [e164] });
    return (hashes[0] ?? []).slice(0, MAX_SENDER_HASHES);
  }

  private async reveal(rows: MessageListRow[]): Promise<ShownMessage[]> {
    if (rows.length === 0) return [];
    const [{ items }, names] = await Promise.all([
      this.actors.encryption.call('encryption.open', {
        items: rows.map((r) => ({ message_id: r.message_id, body_enc: r.body_enc })),
      }),
      this.clientNames(rows),
    ]);
    return rows.map((row, i) => {
      const { body_enc: _sealed, ...rest } = row;
      const opened = items[i];
      return {
        ...rest,
        body: opened?.ok ? opened.message_body : null,
        client_name: names.get(row.client_id) ?? `#${row.client_id}`,
      };
    });
  }

  private async clientNames(rows: MessageListRow[]): Promise<Map<number, string>> {
    const found = await this.clients.findByIds([...new Set(rows.map((r) => r.client_id))]);
    return new Map(found.map((c) => [c.id, `${c.name}.${c.domain}`]));
  }
}

function validDay(value: string): boolean {
  return (
    DATE.test(value) &&
    !Number.isNaN(Date.parse(`${value}T00:00:00Z`)) &&
    new Date(`${value}T00:00:00Z`).toISOString().startsWith(value)
  );
}

export function cursorOf(row: Pick<MessageListRow, 'created_at' | 'id'>): string {
  return `${row.created_at.getTime()}-${row.id}`;
}

export function parseCursor(value: string | undefined): MessageCursor | undefined {
  const match = value ? CURSOR.exec(value) : null;
  if (!match) return undefined;
  return { createdAt: new Date(Number(match[1])), id: Number(match[2]) };
}
