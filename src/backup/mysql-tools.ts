/**
 * The MySQL/MariaDB command-line tools that backup and restore drive: `mariadb-dump` (or
 * `mysqldump`) and `mariadb` (or `mysql`). Credentials from database.url go into a
 * temporary option file (0600, removed afterwards), never onto the command line or into
 * the environment, where `ps` and /proc would show them.
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { findExecutable } from '../bootstrap/embedded-services.js';

export interface DatabaseTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

export function parseDatabaseUrl(url: string): DatabaseTarget {
  const parsed = new URL(url);
  return {
    host: parsed.hostname || '127.0.0.1',
    port: Number(parsed.port || 3306),
    user: decodeURIComponent(parsed.username || 'root'),
    password: decodeURIComponent(parsed.password),
    database: decodeURIComponent(parsed.pathname.replace(/^\//, '')),
  };
}

export function findTool(kind: 'dump' | 'client'): string {
  const names = kind === 'dump' ? ['mariadb-dump', 'mysqldump'] : ['mariadb', 'mysql'];
  for (const name of names) {
    const path = findExecutable(name);
    if (path) return path;
  }
  throw new Error(`neither ${names.join(' nor ')} is installed (apt-get install mariadb-client)`);
}

/** Option-file value: quoted, with backslash and quote escaped. */
function optionValue(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

async function withOptionFile<T>(target: DatabaseTarget, work: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'mb-db-'));
  const file = join(dir, 'client.cnf');
  try {
    const lines = [
      '[client]',
      `host=${optionValue(target.host)}`,
      `port=${target.port}`,
      `user=${optionValue(target.user)}`,
    ];
    if (target.password) lines.push(`password=${optionValue(target.password)}`);
    await writeFile(file, `${lines.join('\n')}\n`, { mode: 0o600 });
    return await work(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A consistent dump of one database into `outFile` (0600): `--single-transaction` reads
 * every InnoDB table in one snapshot without locking writers, so the broker keeps storing
 * while it runs. No CREATE DATABASE/USE: the dump loads into whatever database restore names.
 */
export async function dumpDatabase(target: DatabaseTarget, outFile: string): Promise<{ tool: string }> {
  const tool = findTool('dump');
  await withOptionFile(target, async (options) => {
    const args = [
      `--defaults-extra-file=${options}`,
      '--single-transaction',
      '--quick',
      '--hex-blob',
      '--routines',
      '--triggers',
      '--no-tablespaces',
      '--default-character-set=utf8mb4',
      target.database,
    ];
    const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const stderr = collect(child.stderr);
    const exited = exitOf(child);
    await pipeline(child.stdout, createWriteStream(outFile, { mode: 0o600, flags: 'wx' }));
    const code = await exited;
    if (code !== 0) throw new Error(`${tool} exited with ${code}: ${(await stderr).trim().slice(0, 500)}`);
  });
  return { tool };
}

/** Feeds a dump into `target.database` (which must exist). */
export async function loadDump(target: DatabaseTarget, dumpFile: string): Promise<void> {
  const tool = findTool('client');
  await withOptionFile(target, async (options) => {
    const child = spawn(
      tool,
      [`--defaults-extra-file=${options}`, '--default-character-set=utf8mb4', target.database],
      { stdio: ['pipe', 'ignore', 'pipe'] },
    );
    const stderr = collect(child.stderr);
    const exited = exitOf(child);
    await pipeline(createReadStream(dumpFile), child.stdin);
    const code = await exited;
    if (code !== 0) throw new Error(`${tool} exited with ${code}: ${(await stderr).trim().slice(0, 500)}`);
  });
}

function collect(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
    stream.on('end', () => resolve(text));
    stream.on('error', () => resolve(text));
  });
}

function exitOf(child: ReturnType<typeof spawn>): Promise<number | null> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
}
