/**
 * A MariaDB user of its own for one test's database, whose grants the test changes the way
 * a DBA would: all of them, then INSERT taken away with the user's open connections killed
 * (so new ones are made without it), then INSERT given back.
 */
import { randomBytes } from 'node:crypto';
import { createConnection, type Connection } from 'mysql2/promise';

export class DatabaseUser {
  readonly name = `mbu_${randomBytes(4).toString('hex')}`;
  private readonly on: string;

  private constructor(
    private readonly root: Connection,
    private readonly databaseUrl: string,
    databaseName: string,
  ) {
    this.on = `\`${databaseName}\`.*`;
  }

  /** Creates the user with every privilege on `databaseName`. */
  static async create(databaseUrl: string, databaseName: string): Promise<DatabaseUser> {
    const root = await createConnection({ uri: new URL('/', databaseUrl).toString() });
    const user = new DatabaseUser(root, databaseUrl, databaseName);
    await root.query(`CREATE USER '${user.name}'@'%' IDENTIFIED BY 'pw'`);
    await root.query(`GRANT ALL ON ${user.on} TO '${user.name}'@'%'`);
    return user;
  }

  /** `databaseUrl` as this user. */
  get url(): string {
    return Object.assign(new URL(this.databaseUrl), { username: this.name, password: 'pw' }).toString();
  }

  /** INSERT taken away at the database level, and the user's connections killed. */
  async takeInsertAway(): Promise<void> {
    await this.root.query(`REVOKE ALL ON ${this.on} FROM '${this.name}'@'%'`);
    await this.root.query(`GRANT SELECT, UPDATE, DELETE ON ${this.on} TO '${this.name}'@'%'`);
    const [open] = (await this.root.query('SELECT id FROM information_schema.processlist WHERE user = ?', [
      this.name,
    ])) as [Array<{ id: number }>, unknown];
    for (const { id } of open) await this.root.query(`KILL ${id}`);
  }

  /** INSERT given back; connections open meanwhile see it only at their next USE. */
  async giveInsertBack(): Promise<void> {
    await this.root.query(`GRANT INSERT ON ${this.on} TO '${this.name}'@'%'`);
  }

  /** Rows of `table` in the test's database, read as root. */
  async count(table: string): Promise<number> {
    const [rows] = (await this.root.query(`SELECT COUNT(*) AS n FROM ${this.on.slice(0, -2)}.\`${table}\``)) as [
      Array<{ n: number }>,
      unknown,
    ];
    return Number(rows[0]!.n);
  }

  async drop(): Promise<void> {
    await this.root.query(`DROP USER IF EXISTS '${this.name}'@'%'`);
    await this.root.end();
  }
}
