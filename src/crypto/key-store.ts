/**
 * The data keys and HMAC peppers, on disk under `secrets.dir` and in memory of the
 * encryption actor only.
 *
 *   <secrets.dir>/ (0700)
 *     data-keys.json (0600)  { "active": "k1", "keys":    { "k1": "<base64 32 bytes>" } }
 *     pepper.json    (0600)  { "active": "p1", "peppers": { "p1": "<base64 32 bytes>" } }
 *
 * Both files are created together on first start. Every row names the key that sealed it
 * (envelope) or the pepper that hashed it (pepper_id), so an old entry stays until no row
 * references it; only `mb keys retire` removes one (src/keys/). Writes are atomic (temp
 * file, fsync, rename, fsync of the directory), so a crash during a rotation leaves either
 * the old file or the new one, never half of one. A running encryption actor re-reads the
 * files when they change (`reload`); the CLI is the only other writer.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { BrokerError } from '../errors.js';
import { KEY_BYTES, KEY_ID_PATTERN } from './envelope.js';

export const DATA_KEYS_FILE = 'data-keys.json';
export const PEPPER_FILE = 'pepper.json';

/** Which of the two files: data keys or HMAC peppers. */
export type SecretKind = 'key' | 'pepper';

/** Cheap identity of the files on disk (inode, size, mtime): a rename changes it. */
export type FilesSignature = string;

export interface DataKey {
  id: string;
  key: Buffer;
}
export interface Pepper {
  id: string;
  pepper: Buffer;
}

/** One of the two files: which entry is active, and all entries by id. */
interface SecretSet {
  active: string;
  entries: Map<string, Buffer>;
  /** Ids removed by retirement, kept so an id is never handed out twice for different bytes. */
  retired: string[];
}

/** How the two files differ: the JSON field that holds the entries and the id prefix. */
interface SecretFile {
  name: string;
  field: 'keys' | 'peppers';
  prefix: 'k' | 'p';
}
const KEYS: SecretFile = { name: DATA_KEYS_FILE, field: 'keys', prefix: 'k' };
const PEPPERS: SecretFile = { name: PEPPER_FILE, field: 'peppers', prefix: 'p' };
const FILES: Record<SecretKind, SecretFile> = { key: KEYS, pepper: PEPPERS };

export class KeyStore {
  /** Problems that do not stop the broker (loose file modes); the actor logs them. */
  readonly warnings: readonly string[];
  /** Rotations are serialised: two at once would both write k2. */
  private rotating: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly dir: string,
    private keys: SecretSet,
    private peppers: SecretSet,
    warnings: string[],
  ) {
    this.warnings = warnings;
  }

  /**
   * Reads existing secrets and never creates any: for the CLI, where a mistyped
   * secrets.dir must fail rather than mint keys nothing can decrypt with.
   */
  static async open(dir: string): Promise<KeyStore> {
    const warnings: string[] = [];
    for (const file of [DATA_KEYS_FILE, PEPPER_FILE]) {
      if (!(await exists(join(dir, file))))
        throw new BrokerError('CRYPTO_FAILURE', `${join(dir, file)} does not exist (is secrets.dir right?)`);
    }
    return new KeyStore(
      dir,
      await readSecretFile(dir, KEYS, warnings),
      await readSecretFile(dir, PEPPERS, warnings),
      warnings,
    );
  }

  /** Reads the secrets under `dir`, creating the directory and both files on first start. */
  static async loadOrCreate(dir: string): Promise<KeyStore> {
    const warnings: string[] = [];
    await ensureDir(dir, warnings);
    const [hasKeys, hasPeppers] = await Promise.all([
      exists(join(dir, DATA_KEYS_FILE)),
      exists(join(dir, PEPPER_FILE)),
    ]);
    if (hasKeys !== hasPeppers) {
      // A half-present secrets dir is a lost file or a wrong mount, not a first start: a
      // fresh key would make every stored body unreadable, a fresh pepper every lookup miss.
      const [present, missing] = hasKeys ? [DATA_KEYS_FILE, PEPPER_FILE] : [PEPPER_FILE, DATA_KEYS_FILE];
      throw new BrokerError(
        'CRYPTO_FAILURE',
        `${dir} holds ${present} but not ${missing}; restore it from backup (delete both only if no message was ever stored)`,
      );
    }
    if (!hasKeys) {
      await writeSecretFile(dir, KEYS, fresh(KEYS));
      await writeSecretFile(dir, PEPPERS, fresh(PEPPERS));
    }
    const keys = await readSecretFile(dir, KEYS, warnings);
    const peppers = await readSecretFile(dir, PEPPERS, warnings);
    return new KeyStore(dir, keys, peppers, warnings);
  }

  activeKey(): DataKey {
    return { id: this.keys.active, key: this.keys.entries.get(this.keys.active)! };
  }

  keyById(id: string): Buffer | undefined {
    return this.keys.entries.get(id);
  }

  /** Every data key by id (the pool threads get a copy; they run inside this actor). */
  allKeys(): DataKey[] {
    return [...this.keys.entries].map(([id, key]) => ({ id, key }));
  }

  activePepper(): Pepper {
    return { id: this.peppers.active, pepper: this.peppers.entries.get(this.peppers.active)! };
  }

  /** Every pepper, the active one first (lookups try it first; most rows use it). */
  allPeppers(): Pepper[] {
    const rest = [...this.peppers.entries].filter(([id]) => id !== this.peppers.active).reverse();
    return [this.activePepper(), ...rest.map(([id, pepper]) => ({ id, pepper }))];
  }

  get keyCount(): number {
    return this.keys.entries.size;
  }

  get pepperCount(): number {
    return this.peppers.entries.size;
  }

  /** Adds a data key (k<n+1>) and makes it active, on disk first; returns its id. */
  rotateDataKey(): Promise<string> {
    return this.serialise(async () => {
      this.keys = await rotate(this.dir, KEYS, this.keys);
      return this.keys.active;
    });
  }

  /** Adds a pepper (p<n+1>) and makes it active, on disk first; returns its id. */
  rotatePepper(): Promise<string> {
    return this.serialise(async () => {
      this.peppers = await rotate(this.dir, PEPPERS, this.peppers);
      return this.peppers.active;
    });
  }

  /**
   * The ids of one kind, in file order, and the active one. `staged`: those after the active
   * one in the file — added by `mb keys rotate --stage` and not activated yet (or active
   * once, before an older one was activated again).
   */
  ids(kind: SecretKind): { active: string; all: string[]; retired: string[]; staged: string[] } {
    const set = this.setOf(kind);
    const all = [...set.entries.keys()];
    return { active: set.active, all, retired: [...set.retired], staged: all.slice(all.indexOf(set.active) + 1) };
  }

  /**
   * Adds an entry (k<n+1> / p<n+1>), on disk first. `activate: false` stages it: every host
   * can load it (and open what it seals) before any host seals with it.
   */
  addEntry(kind: SecretKind, options: { activate: boolean }): Promise<string> {
    return this.serialise(async () => {
      const next = await rotate(this.dir, FILES[kind], this.setOf(kind), options.activate);
      this.replaceSet(kind, next);
      return [...next.entries.keys()].at(-1)!;
    });
  }

  /** Makes an existing entry the one new seals (or hashes) use. */
  activate(kind: SecretKind, id: string): Promise<void> {
    return this.serialise(async () => {
      const set = this.setOf(kind);
      if (!set.entries.has(id)) throw new BrokerError('CRYPTO_FAILURE', `there is no ${kind} ${id} in ${this.dir}`);
      if (set.active === id) return;
      const next: SecretSet = { ...set, active: id };
      await writeSecretFile(this.dir, FILES[kind], next);
      this.replaceSet(kind, next);
    });
  }

  /**
   * Removes an entry for good. The caller has made sure no row references it and no broker
   * still uses it (src/keys/key-retirement.ts); the active entry is always refused.
   */
  retire(kind: SecretKind, id: string): Promise<void> {
    return this.serialise(async () => {
      const set = this.setOf(kind);
      if (set.active === id) throw new BrokerError('CRYPTO_FAILURE', `${id} is the active ${kind}; rotate first`);
      if (!set.entries.has(id)) return;
      const entries = new Map(set.entries);
      const bytes = entries.get(id)!;
      entries.delete(id);
      const next: SecretSet = { active: set.active, entries, retired: [...set.retired, id] };
      await writeSecretFile(this.dir, FILES[kind], next);
      this.replaceSet(kind, next);
      // Only once the file no longer holds it: a failed write leaves the key usable.
      bytes.fill(0);
    });
  }

  /**
   * Re-reads both files (another process rotated, activated or retired). A file that does
   * not parse leaves the keys in memory as they were: a half-copied file during a manual
   * distribution must not take the broker's keys away. Returns whether anything changed.
   */
  reload(): Promise<boolean> {
    return this.serialise(async () => {
      const warnings: string[] = [];
      const keys = await readSecretFile(this.dir, KEYS, warnings);
      const peppers = await readSecretFile(this.dir, PEPPERS, warnings);
      const changed = !sameSet(keys, this.keys) || !sameSet(peppers, this.peppers);
      if (changed) {
        this.keys = keys;
        this.peppers = peppers;
      }
      return changed;
    });
  }

  /** Inode, size and mtime of both files: differs after any rename into place. */
  async signature(): Promise<FilesSignature> {
    const parts = await Promise.all(
      [DATA_KEYS_FILE, PEPPER_FILE].map(async (name) => {
        const info = await stat(join(this.dir, name));
        return `${info.ino}:${info.size}:${info.mtimeMs}`;
      }),
    );
    return parts.join('|');
  }

  private setOf(kind: SecretKind): SecretSet {
    return kind === 'key' ? this.keys : this.peppers;
  }

  private replaceSet(kind: SecretKind, set: SecretSet): void {
    if (kind === 'key') this.keys = set;
    else this.peppers = set;
  }

  private serialise<T>(work: () => Promise<T>): Promise<T> {
    const next = this.rotating.then(work, work);
    this.rotating = next.catch(() => undefined);
    return next;
  }
}

async function rotate(dir: string, file: SecretFile, current: SecretSet, activate = true): Promise<SecretSet> {
  let highest = 0;
  for (const id of [...current.entries.keys(), ...current.retired]) {
    const match = new RegExp(`^${file.prefix}(\\d+)$`).exec(id);
    if (match) highest = Math.max(highest, Number(match[1]));
  }
  const id = `${file.prefix}${highest + 1}`;
  const next: SecretSet = {
    active: activate ? id : current.active,
    entries: new Map(current.entries).set(id, ownedCopy(randomBytes(KEY_BYTES))),
    retired: current.retired,
  };
  // Persist before use: a key that sealed a row but never reached the disk loses that row.
  await writeSecretFile(dir, file, next);
  return next;
}

function sameSet(a: SecretSet, b: SecretSet): boolean {
  if (a.active !== b.active || a.entries.size !== b.entries.size) return false;
  for (const [id, key] of a.entries) if (!b.entries.get(id)?.equals(key)) return false;
  return true;
}

function fresh(file: SecretFile): SecretSet {
  const id = `${file.prefix}1`;
  return { active: id, entries: new Map([[id, ownedCopy(randomBytes(KEY_BYTES))]]), retired: [] };
}

/**
 * Key bytes in memory of their own. `Buffer.from(base64)` and `randomBytes` may hand out a
 * slice of Node's shared 8 KiB pool, and posting any other slice of that slab to another
 * thread would carry the key along.
 */
function ownedCopy(bytes: Buffer): Buffer {
  const owned = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(owned);
  bytes.fill(0);
  return owned;
}

async function readSecretFile(dir: string, file: SecretFile, warnings: string[]): Promise<SecretSet> {
  const path = join(dir, file.name);
  await checkMode(path, 0o600, warnings);
  const refuse = (why: string) => new BrokerError('CRYPTO_FAILURE', `${path}: ${why}`);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    // The parser's message can quote the file's text, i.e. key material: keep only the kind.
    throw refuse(
      error instanceof SyntaxError ? 'is not valid JSON' : `cannot be read (${(error as NodeJS.ErrnoException).code})`,
    );
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw refuse('must hold a JSON object');
  const { active, [file.field]: entries, retired = [] } = raw as Record<string, unknown>;
  if (typeof active !== 'string') throw refuse('"active" must be a key id');
  if (!entries || typeof entries !== 'object' || Array.isArray(entries))
    throw refuse(`"${file.field}" must map ids to base64 keys`);
  if (!Array.isArray(retired) || retired.some((id) => typeof id !== 'string' || !KEY_ID_PATTERN.test(id)))
    throw refuse('"retired" must list key ids');
  const set: SecretSet = { active, entries: new Map(), retired: retired as string[] };
  for (const [id, value] of Object.entries(entries)) {
    if (!KEY_ID_PATTERN.test(id)) throw refuse(`id "${id.slice(0, 64)}" is not a short ASCII name`);
    const bytes = typeof value === 'string' ? Buffer.from(value, 'base64') : undefined;
    // Buffer.from skips characters that are not base64; the round trip catches that.
    if (!bytes || bytes.toString('base64') !== value || bytes.length !== KEY_BYTES) {
      bytes?.fill(0);
      throw refuse(`"${id}" is not ${KEY_BYTES} bytes of base64`);
    }
    set.entries.set(id, ownedCopy(bytes));
  }
  if (!set.entries.has(active)) throw refuse(`the active id "${active.slice(0, 64)}" is not among the ${file.field}`);
  return set;
}

async function writeSecretFile(dir: string, file: SecretFile, set: SecretSet): Promise<void> {
  const entries = Object.fromEntries([...set.entries].map(([id, key]) => [id, key.toString('base64')]));
  const retired = set.retired.length > 0 ? { retired: set.retired } : {};
  const text = `${JSON.stringify({ active: set.active, [file.field]: entries, ...retired }, null, 2)}\n`;
  const path = join(dir, file.name);
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    // 'wx' + 0600: the key is never in a file anyone else could open, not even briefly.
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw new BrokerError('CRYPTO_FAILURE', `cannot write ${path}: ${(error as Error).message}`);
  }
  await syncDir(dir);
}

/** Makes the rename durable: without it a power cut can leave the directory entry old. */
async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function ensureDir(dir: string, warnings: string[]): Promise<void> {
  if (await exists(dir)) {
    await checkMode(dir, 0o700, warnings);
    return;
  }
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // The umask may have taken bits away but never adds any; chmod states the intent.
    await chmod(dir, 0o700);
  } catch (error) {
    throw new BrokerError('CRYPTO_FAILURE', `cannot create secrets dir ${dir}: ${(error as Error).message}`);
  }
}

/** Warns (does not refuse) when group or others may read: an operator may have reasons. */
async function checkMode(path: string, wanted: number, warnings: string[]): Promise<void> {
  if (process.platform === 'win32') return;
  const mode = (await stat(path)).mode & 0o777;
  if (mode & ~wanted & 0o077) {
    warnings.push(
      `${path} has mode 0${mode.toString(8)}, looser than 0${wanted.toString(8)}: run chmod ${wanted.toString(8)} ${path}`,
    );
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new BrokerError('CRYPTO_FAILURE', `cannot inspect ${path}: ${(error as Error).message}`);
  }
}
