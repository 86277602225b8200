/**
 * End-to-end harness: a workspace (temp dir with config.yaml, certs/, data/, its own
 * database and Redis key prefix) and the real supervisor started as a child process
 * (`node dist/supervisor.js --config …`), plus an mTLS client for it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { createTestDatabase, type TestDatabase } from './test-database.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const SUPERVISOR = join(ROOT, 'dist/supervisor.js');

export interface Workspace {
  dir: string;
  configPath: string;
  prefix: string;
  database: TestDatabase;
  redisUrl: string;
  values: Record<string, unknown>;
  /** Rewrites config.yaml with extra values merged over the current ones. */
  reconfigure(values: Record<string, unknown>): void;
  cleanup(): Promise<void>;
}

export async function createWorkspace(
  values: Record<string, unknown> = {},
  redisUrl = 'redis://127.0.0.1:6379',
): Promise<Workspace> {
  const dir = mkdtempSync(join(tmpdir(), 'mb-e2e-'));
  const prefix = `mbtest:${randomBytes(5).toString('hex')}:`;
  const database = await createTestDatabase({ migrate: false });
  const configPath = join(dir, 'config.yaml');
  let current: Record<string, unknown> = {};
  const write = (extra: Record<string, unknown>) => {
    current = deepMerge(current, extra);
    writeFileSync(configPath, stringify(current));
  };
  write(
    deepMerge(
      {
        instance_id: `test-${randomBytes(3).toString('hex')}`,
        server: { host: '127.0.0.1', port: 0, shutdown_grace_ms: 3000 },
        redis: { url: redisUrl, key_prefix: prefix, embedded: 'never' },
        database: { url: database.url, embedded: 'never', pool_size: 4 },
        queue: { claim_idle_ms: 2000 },
        delivery: { poll_interval_ms: 50 },
        // Suites send hundreds of messages from one client within seconds: the limits stay
        // on (the enqueue script's checks run) but out of the way. Limit tests set their own.
        limits: { rate_limit: 1_000_000, daily_quota: 10_000_000 },
        secrets: { dir: join(dir, 'data/secrets') },
        pki: { dir: join(dir, 'certs') },
        data: { dir: join(dir, 'data') },
        log: { level: 'info' },
      },
      values,
    ),
  );
  return {
    dir,
    configPath,
    prefix,
    database,
    redisUrl,
    get values() {
      return current;
    },
    reconfigure: write,
    async cleanup() {
      await deleteKeys(redisUrl, prefix).catch(() => undefined);
      await database.drop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function deleteKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export class BrokerProcess {
  child: ChildProcess | undefined;
  url = '';
  output = '';

  constructor(
    private readonly workspace: Workspace,
    private readonly env: Record<string, string> = {},
    /** Flags for node itself (the bench passes --cpu-prof here; NODE_OPTIONS refuses it). */
    private readonly nodeArgs: string[] = [],
    /** The entry to run (a release copied elsewhere runs its own dist/supervisor.js). */
    private readonly entry: string = SUPERVISOR,
  ) {}

  /** Starts the supervisor and resolves with its URL once it listens. */
  start(timeoutMs = 90_000): Promise<string> {
    this.output = '';
    const child = spawn(process.execPath, [...this.nodeArgs, this.entry, '--config', this.workspace.configPath], {
      cwd: this.workspace.dir,
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`broker did not start in time:\n${this.output.slice(-3000)}`)),
        timeoutMs,
      );
      const onData = (chunk: Buffer) => {
        this.output += chunk.toString();
        const match = /listening on (https:\/\/localhost:\d+)/.exec(this.output);
        if (match && !this.url.endsWith(match[1]!.split(':').pop()!)) {
          clearTimeout(timer);
          this.url = match[1]!;
          resolvePromise(this.url);
        }
      };
      this.url = '';
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`broker exited with ${code} before listening:\n${this.output.slice(-3000)}`));
      });
    });
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child?.exitCode ?? null);
    return new Promise((resolvePromise) => {
      child.once('exit', (code) => resolvePromise(code));
      child.kill(signal);
    });
  }
}

/**
 * The first admin's email and password as the broker handed them over. A child's stdout is
 * a pipe, not a terminal, so the broker prints the path of a 0600 file, not the password.
 */
export function firstAdminCredentials(output: string): { email: string; password: string; file: string } | undefined {
  const email = /email: +(\S+)/.exec(output)?.[1];
  const file = /password file: +(\S+)/.exec(output)?.[1];
  if (!email || !file) return undefined;
  return { email, password: readFileSync(file, 'utf8').trim(), file };
}

export interface ClientBundle {
  cert: string;
  key: string;
  ca: string;
}

export function demoBundle(workspace: Workspace, cn = 'demo.default'): ClientBundle {
  const dir = join(workspace.dir, 'certs/clients', cn);
  return {
    cert: readFileSync(join(dir, 'client.crt'), 'utf8'),
    key: readFileSync(join(dir, 'client.key'), 'utf8'),
    ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
  };
}

export function mtlsAgent(bundle: Partial<ClientBundle> & { ca: string }, connections = 10): Agent {
  return new Agent({
    connections,
    connect: {
      ca: bundle.ca,
      ...(bundle.cert ? { cert: bundle.cert } : {}),
      ...(bundle.key ? { key: bundle.key } : {}),
    },
  });
}

export interface ApiResponse {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

export async function postJson(
  agent: Agent,
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<ApiResponse> {
  const response = await request(`${url}/api/v1/messages`, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.body.text();
  return {
    status: response.statusCode,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    headers: response.headers,
  };
}

/** Any method, any URL; the body is sent as JSON unless it is a string already. */
export async function sendJson(
  agent: Agent,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<ApiResponse> {
  const response = await request(url, {
    method,
    dispatcher: agent,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.body.text();
  return {
    status: response.statusCode,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    headers: response.headers,
  };
}

export async function getJson(agent: Agent, url: string): Promise<ApiResponse> {
  const response = await request(url, { dispatcher: agent });
  const text = await response.body.text();
  return {
    status: response.statusCode,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    headers: response.headers,
  };
}

export async function waitUntil<T>(
  probe: () => Promise<T | undefined | false>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

export function deepMerge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const prior = out[key];
    out[key] =
      value &&
      typeof value === 'object' &&
      !Array.isArray(value) &&
      prior &&
      typeof prior === 'object' &&
      !Array.isArray(prior)
        ? deepMerge(prior as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}
