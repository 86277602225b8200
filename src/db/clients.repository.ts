/** The `clients` table: one row per (name, domain) an mTLS certificate can be issued to. */
import { and, asc, eq, inArray, isNotNull, or, sql } from './drizzle.js';
import type { Database } from './database.js';
import { clients } from './schema.js';
import type { ClientRow, ClientStatus } from './schema.js';

export interface ClientKey {
  name: string;
  domain: string;
}

export class ClientsRepository {
  constructor(private readonly db: Database) {}

  async findByNameAndDomain(name: string, domain: string): Promise<ClientRow | undefined> {
    const [row] = await this.db
      .select()
      .from(clients)
      .where(and(eq(clients.name, name), eq(clients.domain, domain)))
      .limit(1);
    return row;
  }

  async findById(id: number): Promise<ClientRow | undefined> {
    const [row] = await this.db.select().from(clients).where(eq(clients.id, id)).limit(1);
    return row;
  }

  async findByIds(ids: readonly number[]): Promise<ClientRow[]> {
    if (ids.length === 0) return [];
    return this.db
      .select()
      .from(clients)
      .where(inArray(clients.id, [...ids]));
  }

  /** Holds the client's row until the transaction ends: its renewals run one at a time. */
  async lockForUpdate(id: number): Promise<void> {
    await this.db.select({ id: clients.id }).from(clients).where(eq(clients.id, id)).for('update');
  }

  /** Inserts a client and returns its id; a duplicate (name, domain) raises ER_DUP_ENTRY. */
  async create(client: ClientKey): Promise<number> {
    const [inserted] = await this.db.insert(clients).values(client).$returningId();
    if (inserted === undefined) throw new Error('INSERT INTO clients returned no id');
    return inserted.id;
  }

  /**
   * Returns the client, creating it first if missing. The no-op upsert makes two callers
   * racing on the same new client both succeed instead of one hitting ER_DUP_ENTRY.
   */
  async ensure(client: ClientKey): Promise<ClientRow> {
    const existing = await this.findByNameAndDomain(client.name, client.domain);
    if (existing !== undefined) return existing;
    await this.db
      .insert(clients)
      .values(client)
      .onDuplicateKeyUpdate({ set: { id: sql`${clients.id}` } });
    const row = await this.findByNameAndDomain(client.name, client.domain);
    if (row === undefined) throw new Error(`client ${client.name}@${client.domain} vanished after insert`);
    return row;
  }

  async list(filter: { domain?: string } = {}): Promise<ClientRow[]> {
    return this.db
      .select()
      .from(clients)
      .where(filter.domain === undefined ? undefined : eq(clients.domain, filter.domain))
      .orderBy(asc(clients.domain), asc(clients.name));
  }

  /** Returns false when no client has that id. */
  async setStatus(id: number, status: ClientStatus): Promise<boolean> {
    const [result] = await this.db.update(clients).set({ status }).where(eq(clients.id, id));
    // mysql2 connects with CLIENT_FOUND_ROWS: affectedRows counts matched rows, so
    // setting the status a client already has still reports it as found.
    return result.affectedRows > 0;
  }

  /** Returns false when no client has that id. `null` = back to the domain's default. */
  async setStatusCallback(id: number, url: string | null): Promise<boolean> {
    const [result] = await this.db.update(clients).set({ status_callback_url: url }).where(eq(clients.id, id));
    return result.affectedRows > 0;
  }

  /**
   * Active clients with a callback URL of their own, in a domain that has a default one, or
   * among `ids` (those that named a per-message callback URL lately).
   */
  async listWithStatusCallbacks(
    domainsWithDefault: readonly string[],
    ids: readonly number[] = [],
  ): Promise<ClientRow[]> {
    const conditions = [isNotNull(clients.status_callback_url)];
    if (domainsWithDefault.length > 0) conditions.push(inArray(clients.domain, [...domainsWithDefault]));
    if (ids.length > 0) conditions.push(inArray(clients.id, [...ids]));
    return this.db
      .select()
      .from(clients)
      .where(and(eq(clients.status, 'active'), or(...conditions)));
  }
}
