/**
 * The broker's log file: `logs/broker.log` (configurable) is always today's file, so
 * `tail -F` and log shippers follow one path. At the first write after midnight (UTC, the
 * time zone of the log timestamps) — or at midnight by timer when nothing is written —
 * it is renamed to `broker.<yyyy-mm-dd>.log` for the day it holds and a new one is
 * started; archives older than `retentionDays` days are deleted.
 *
 * Why not pino-roll: it never writes to the configured name itself (it numbers every
 * file, `broker.1.log`…, with a fixed `current.log` symlink) and keeps a count of files,
 * not days. Writes are synchronous (`writeSync`): log volume is low (no line per
 * accepted request) and a line written before a crash is on disk.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';

const DAY_MS = 86_400_000;

export interface RotatingLogFileOptions {
  path: string;
  retentionDays: number;
  /** Clock, for tests. */
  now?: () => number;
  /** The file write, for tests (a full disk writes part of a line, then nothing). */
  writeSync?: (fd: number, data: Uint8Array) => number;
}

export class RotatingLogFile {
  private fd: number | undefined;
  /** UTC day (yyyy-mm-dd) the open file holds. */
  private day = '';
  private rotateAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private failed = false;
  /** The file ends inside a line (a write that only partly fit): the next line starts on a new one. */
  private torn = false;
  private readonly now: () => number;
  private readonly writeFile: (fd: number, data: Uint8Array) => number;
  private retentionDays: number;
  private readonly stem: string;
  private readonly ext: string;

  constructor(private readonly options: RotatingLogFileOptions) {
    this.now = options.now ?? Date.now;
    this.writeFile = options.writeSync ?? writeSync;
    this.retentionDays = options.retentionDays;
    this.ext = extname(options.path) || '.log';
    this.stem = basename(options.path, extname(options.path));
  }

  get path(): string {
    return this.options.path;
  }

  /** A reload's `log.retention_days`: archives past the new limit go at once. */
  setRetentionDays(days: number): void {
    if (days === this.retentionDays) return;
    this.retentionDays = days;
    if (this.fd !== undefined) this.prune();
  }

  open(): void {
    mkdirSync(dirname(this.path), { recursive: true });
    // A file left by an earlier run on an earlier day is archived under that day.
    if (existsSync(this.path)) {
      const fileDay = utcDay(statSync(this.path).mtimeMs);
      if (fileDay !== utcDay(this.now())) this.archive(fileDay);
    }
    this.openToday();
    this.prune();
  }

  write(text: string): void {
    if (this.fd === undefined) return;
    if (this.now() >= this.rotateAt) this.rotate();
    // On a filling disk a write may take only part of a line: the rest is dropped, and the
    // next line starts on its own rather than glued to the fragment (one unparsable JSON line
    // hides two from a log shipper).
    const data = Buffer.from(this.torn ? `\n${text}` : text);
    try {
      const written = this.writeFile(this.fd, data);
      if (written > 0) this.torn = data[written - 1] !== 0x0a;
      if (written < data.length) throw new Error(`ENOSPC: wrote ${written} of ${data.length} bytes`);
      if (this.failed) process.stderr.write(`log file ${this.path} writable again\n`);
      this.failed = false;
    } catch (error) {
      // A full disk must not take the broker down; say it once per episode on stderr (stdout still has the logs).
      if (!this.failed) process.stderr.write(`log file ${this.path} not writable: ${(error as Error).message}\n`);
      this.failed = true;
    }
  }

  /** Archives the current file under its day and starts a new one. */
  rotate(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    if (existsSync(this.path)) this.archive(this.day);
    this.openToday();
    this.prune();
  }

  close(): void {
    clearTimeout(this.timer);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /** Archived files (oldest first). */
  archives(): string[] {
    return readdirSync(dirname(this.path))
      .filter((name) => this.archiveDay(name) !== undefined)
      .sort()
      .map((name) => join(dirname(this.path), name));
  }

  private openToday(): void {
    const now = this.now();
    this.fd = openSync(this.path, 'a', 0o640);
    this.failed = false;
    this.torn = false;
    this.day = utcDay(now);
    this.rotateAt = (Math.floor(now / DAY_MS) + 1) * DAY_MS;
    clearTimeout(this.timer);
    // Rotates (and prunes) an idle broker too; a busy one rotates on its next write.
    this.timer = setTimeout(() => this.rotate(), Math.max(1000, this.rotateAt - now + 1000));
    this.timer.unref();
  }

  private archive(day: string): void {
    const dir = dirname(this.path);
    let target = join(dir, `${this.stem}.${day}${this.ext}`);
    // A restart that archives the same day twice gets `.1`, `.2`…
    for (let n = 1; existsSync(target); n++) target = join(dir, `${this.stem}.${day}.${n}${this.ext}`);
    renameSync(this.path, target);
  }

  private prune(): void {
    const oldest = utcDay(this.now() - this.retentionDays * DAY_MS);
    for (const file of this.archives()) {
      const day = this.archiveDay(basename(file));
      if (day !== undefined && day < oldest) unlinkSync(file);
    }
  }

  private archiveDay(name: string): string | undefined {
    if (!name.startsWith(`${this.stem}.`) || !name.endsWith(this.ext)) return undefined;
    const middle = name.slice(this.stem.length + 1, name.length - this.ext.length);
    return /^(\d{4}-\d{2}-\d{2})(?:\.\d+)?$/.exec(middle)?.[1];
  }
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
