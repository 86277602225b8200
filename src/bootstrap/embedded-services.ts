/**
 * Embedded defaults: when the configured Redis or MariaDB (on this host) does not answer
 * and `redis-server` / `mariadbd` are installed, the broker starts its own under
 * `data/` — Redis with AOF on — and stops them when it exits. A broker killed with -9
 * leaves them running; the next start finds them answering and uses them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { BrokerConfig } from '../config/config.js';
import type { Logger } from '../logger.js';

export interface EmbeddedService {
  name: 'redis' | 'mariadb';
  stop(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function probeTcp(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: host.replace(/^\[|\]$/g, ''), port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export function findExecutable(name: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin', '/usr/bin']) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

async function waitFor(host: string, port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probeTcp(host, port, 500)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Why a service that does not answer was not started for the broker, and what to change:
 * the URL's setting, or the embedded service's (only for a loopback URL, with its binary).
 */
export function notAnswering(
  what: string,
  host: string,
  port: number,
  why: { key: 'redis' | 'database'; embedded: 'auto' | 'never'; binary: string | undefined },
): string {
  const setting = `${why.key}.url (MB_${why.key.toUpperCase()}_URL)`;
  const reason =
    why.embedded === 'never'
      ? `${why.key}.embedded is never`
      : !LOOPBACK.has(host)
        ? 'an embedded one is started only for a URL on this host'
        : why.binary;
  return `${what} at ${host}:${port} does not answer: start it there or point ${setting} at one${reason ? ` (not started by the broker: ${reason})` : ''}`;
}

export async function ensureRedis(
  config: Readonly<BrokerConfig>,
  logger: Logger,
): Promise<EmbeddedService | undefined> {
  // Sentinel or Cluster: an operated Redis, never one of ours.
  if (config.redis.sentinels.length > 0 || config.redis.cluster_nodes.length > 0) return undefined;
  const url = new URL(config.redis.url);
  const host = url.hostname || '127.0.0.1';
  const port = Number(url.port || 6379);
  if (await probeTcp(host, port)) return undefined;
  const binary = findExecutable('redis-server');
  if (config.redis.embedded === 'never' || !LOOPBACK.has(host) || !binary) {
    throw new Error(
      notAnswering('Redis', host, port, {
        key: 'redis',
        embedded: config.redis.embedded,
        binary: binary ? undefined : 'redis-server is not installed (apt-get install redis-server)',
      }),
    );
  }
  const dir = join(config.data.dir, 'redis');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const child = spawn(
    binary,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      config.queue.fsync,
      '--save',
      '',
      '--logfile',
      join(dir, 'redis.log'),
    ],
    // Own process group: a Ctrl-C in the terminal reaches the broker only, which then
    // drains and stops this server last (a SIGINT to the group would stop it first).
    { stdio: 'ignore', detached: true },
  );
  if (!(await waitFor(host, port, 15_000)))
    throw new Error(`embedded redis-server did not come up; see ${join(dir, 'redis.log')}`);
  logger.info({ port, dir }, 'started embedded redis-server (AOF on)');
  return { name: 'redis', stop: () => stopChild(child) };
}

export async function ensureMariadb(
  config: Readonly<BrokerConfig>,
  logger: Logger,
): Promise<EmbeddedService | undefined> {
  const url = new URL(config.database.url);
  const host = url.hostname || '127.0.0.1';
  const port = Number(url.port || 3306);
  if (await probeTcp(host, port)) return undefined;
  const binary = findExecutable('mariadbd') ?? findExecutable('mysqld');
  const installDb = findExecutable('mariadb-install-db') ?? findExecutable('mysql_install_db');
  if (config.database.embedded === 'never' || !LOOPBACK.has(host) || !binary || !installDb) {
    throw new Error(
      notAnswering('MySQL/MariaDB', host, port, {
        key: 'database',
        embedded: config.database.embedded,
        binary: binary && installDb ? undefined : 'mariadbd is not installed (apt-get install mariadb-server)',
      }),
    );
  }
  const dir = join(config.data.dir, 'mariadb');
  const datadir = join(dir, 'data');
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
  if (!existsSync(join(datadir, 'mysql'))) {
    mkdirSync(datadir, { recursive: true, mode: 0o700 });
    // root with no password over TCP from this host only, like the dev default it replaces.
    const init = spawnSync(
      installDb,
      [
        '--no-defaults',
        `--datadir=${datadir}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        ...asRoot,
      ],
      { encoding: 'utf8' },
    );
    if (init.status !== 0) throw new Error(`mariadb-install-db failed: ${init.stderr || init.stdout}`);
  }
  const child = spawn(
    binary,
    [
      '--no-defaults',
      `--datadir=${datadir}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${join(dir, 'mysqld.sock')}`,
      `--pid-file=${join(dir, 'mysqld.pid')}`,
      `--log-error=${join(dir, 'error.log')}`,
      ...asRoot,
    ],
    { stdio: 'ignore', detached: true },
  );
  if (!(await waitFor(host, port, 30_000)))
    throw new Error(`embedded mariadbd did not come up; see ${join(dir, 'error.log')}`);
  logger.info({ port, dir }, 'started embedded mariadbd');
  return { name: 'mariadb', stop: () => stopChild(child) };
}
