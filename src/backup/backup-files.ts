/**
 * File handling shared by backup and restore: the two manifests, checksums, and copying a
 * directory tree with owner-only modes (0700 directories, 0600 files) — what a backup
 * holds is either the whole message history or the keys to read it.
 */
import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';

export const MANIFEST_FILE = 'manifest.json';
export const SECRETS_MANIFEST_FILE = 'secrets-manifest.json';
export const DUMP_FILE = 'database.sql';

export interface FileSum {
  path: string;
  sha256: string;
}

/** DIR/manifest.json: what the database half holds and which secrets belong to it. */
export interface BackupManifest {
  format: 1;
  backup_id: string;
  broker_version: string;
  created_at: string;
  database: { name: string; file: string; sha256: string; bytes: number; tool: string; messages: number };
  /** Where the secrets were written (it may be elsewhere by now: restore takes --secrets-from). */
  secrets_dir: string;
  key_ids: { data_keys: string[]; active_key: string; peppers: string[]; active_pepper: string };
}

/** <secrets>/secrets-manifest.json: the keys and the PKI, checksummed. */
export interface SecretsManifest {
  format: 1;
  backup_id: string;
  created_at: string;
  files: FileSum[];
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Files under `dir`, relative paths, sorted; temp and lock files left out. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (at: string) => {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() && !/\.tmp-|^\.mb-keys\.lock$/.test(entry.name)) out.push(relative(dir, path));
    }
  };
  await walk(dir);
  return out.sort();
}

/** Copies `files` (relative to `from`) into `to`; refuses to overwrite unless `overwrite`. */
export async function copyPrivate(
  from: string,
  to: string,
  files: readonly string[],
  overwrite: boolean,
): Promise<void> {
  await mkdirPrivate(to);
  for (const file of files) {
    const target = join(to, file);
    await mkdirPrivate(dirname(target));
    await copyFile(join(from, file), target, overwrite ? 0 : constants.COPYFILE_EXCL);
    await chmod(target, 0o600);
  }
}

export async function mkdirPrivate(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

export async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
}

export async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Checks every listed file against its checksum; returns the ones that differ or are missing. */
export async function verifySums(dir: string, sums: readonly FileSum[]): Promise<string[]> {
  const bad: string[] = [];
  for (const { path, sha256 } of sums) {
    const actual = await sha256File(join(dir, path)).catch(() => 'missing');
    if (actual !== sha256) bad.push(path);
  }
  return bad;
}
