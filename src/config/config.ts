/**
 * Reads the config once: YAML file (with `${ENV}` / `${ENV:-default}` substitution), then
 * `MB_<UPPER_SNAKE_PATH>` environment overrides, validated against `config.schema.ts`,
 * paths resolved, overrides resolved into effective values (`config-resolve.ts`),
 * deep-frozen. Actors receive the result in `workerData`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { envName, overrideNames, refuseUnknownOverrides } from './config-env.js';
import { ConfigError, isField, type Shape, unknownSetting } from './config-fields.js';
import { resolveConfig } from './config-resolve.js';
import { configShape, domainsField, type BrokerConfig, type RawBrokerConfig } from './config.schema.js';

export { envName } from './config-env.js';
export { ConfigError } from './config-fields.js';
export type { BrokerConfig, ClientLimitsConfig, DomainConfig, TargetConfig } from './config.schema.js';
export type { RouteConfig, RouteMatch } from './config-routes.js';

export interface LoadOptions {
  /** Path of the YAML file; default `--config`, then `MB_CONFIG`, then `./config.yaml` if present. */
  file?: string;
  /** Raw values used instead of a file (tests). */
  values?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  argv?: string[];
  /** Base for relative paths; default the working directory. */
  baseDir?: string;
}

export function loadConfig(options: LoadOptions = {}): Readonly<BrokerConfig> {
  const env = options.env ?? process.env;
  // The `${MB_…}` the file substitutes are its own inputs, not misspelt overrides.
  const substituted = new Set<string>();
  const raw = options.values ?? readRawFile(pickFile(options, env), recordingReads(env, substituted));
  refuseUnknownOverrides(env, overrideNames(configShape, { [envName(['domains'])]: 'domains' }), substituted);
  const config = parseRoot(raw, env);
  resolvePaths(config, options.baseDir ?? process.cwd());
  return deepFreeze(resolveConfig(config));
}

function pickFile(options: LoadOptions, env: NodeJS.ProcessEnv): string | undefined {
  if (options.file) return options.file;
  const argv = options.argv ?? process.argv;
  const flag = argv.indexOf('--config');
  if (flag >= 0) {
    const file = argv[flag + 1];
    if (!file) throw new ConfigError('--config needs a file name');
    return file;
  }
  if (env.MB_CONFIG) return env.MB_CONFIG;
  return existsSync('config.yaml') ? 'config.yaml' : undefined;
}

function readRawFile(file: string | undefined, env: NodeJS.ProcessEnv): Record<string, unknown> {
  if (!file) return {};
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(substituteEnv(text, env, file));
  } catch (error) {
    // The parser quotes the offending lines, where a substituted ${SECRET} may stand: only
    // its first line, which names the line and column.
    const first = String((error as Error).message)
      .split('\n')[0]!
      .replace(/:$/, '');
    throw new ConfigError(`${file} is not valid YAML: ${first}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed))
    throw new ConfigError(`${file} must hold a mapping at the top`);
  return parsed as Record<string, unknown>;
}

/** `${NAME}` must be set; `${NAME:-fallback}` falls back. Comment lines are left alone. */
export function substituteEnv(text: string, env: NodeJS.ProcessEnv, file = 'config'): string {
  return text
    .split('\n')
    .map((line) => (/^\s*#/.test(line) ? line : substituteLine(line, env, file)))
    .join('\n');
}

function substituteLine(text: string, env: NodeJS.ProcessEnv, file: string): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_match, name: string, fallback?: string) => {
    const value = env[name];
    if (value !== undefined && value !== '') return value;
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`${file} uses \${${name}} but the environment variable ${name} is not set`);
  });
}

function recordingReads(env: NodeJS.ProcessEnv, names: Set<string>): NodeJS.ProcessEnv {
  return new Proxy(env, {
    get(target, name) {
      if (typeof name === 'string') names.add(name);
      return Reflect.get(target, name);
    },
  });
}

function parseRoot(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): RawBrokerConfig {
  const config = walk(configShape, raw, [], env) as Omit<RawBrokerConfig, 'domains'>;
  const domainsEnv = env[envName(['domains'])];
  const domains =
    domainsEnv !== undefined
      ? domainsField.parse(domainsEnv, 'domains', true)
      : raw.domains === undefined
        ? structuredClone(domainsField.default)
        : domainsField.parse(raw.domains, 'domains', false);
  if (domains.length === 0) throw new ConfigError('domains must list at least one domain');
  const seen = new Set<string>();
  for (const [i, domain] of domains.entries()) {
    if (seen.has(domain.name)) throw new ConfigError(`domains[${i}].name repeats "${domain.name}"`);
    seen.add(domain.name);
  }
  checkDomainKeySegments(domains);
  const result: RawBrokerConfig = { ...config, domains };
  if (result.instance_id === '') result.instance_id = hostname();
  checkServiceUrls(result);
  checkRedisTopology(result);
  checkReplicaWait(result);
  checkMetricsIdentities(result);
  if (result.bootstrap.demo_client && !seen.has(result.bootstrap.demo_domain)) {
    throw new ConfigError(
      `bootstrap.demo_domain "${result.bootstrap.demo_domain}" is not one of the configured domains`,
    );
  }
  return result;
}

/**
 * Each domain's Redis keys are its own: two domains whose key segments are equal (a copied
 * block whose key_prefix was kept, or one set to another domain's name) would share one
 * stream, schedule, dead letters and queued index — the store pipeline would file every
 * message of that stream under one of the two domains, so one tenant's messages would show
 * in the other's portal and go to the other's webhook. A segment that continues another
 * one past a colon (`a` and `a:target:x`) reaches the other's target keys the same way.
 */
function checkDomainKeySegments(domains: ReadonlyArray<{ name: string; key_prefix: string }>): void {
  for (const [i, domain] of domains.entries()) {
    for (const [j, other] of domains.entries()) {
      if (j >= i) break;
      const [a, b] = [domain.key_prefix, other.key_prefix];
      if (a === b || a.startsWith(`${b}:`) || b.startsWith(`${a}:`))
        throw new ConfigError(
          `domains[${i}].key_prefix "${a}" (domain ${domain.name}) overlaps the Redis keys of domain ${other.name} ("${b}"): every domain needs a key segment of its own`,
        );
    }
  }
}

/**
 * The service URLs parse, with a scheme their client understands, before anything
 * connects: a malformed one would fail later as a bare "Invalid URL" (with the URL, and
 * its password, in the error). Neither message repeats the value.
 */
function checkServiceUrls(config: RawBrokerConfig): void {
  const problem = (url: string, schemes: readonly string[]): string | undefined => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return 'is not a valid URL';
    }
    if (!schemes.includes(parsed.protocol)) return `must start with ${schemes.map((s) => `${s}//`).join(' or ')}`;
    if (parsed.hostname === '') return 'must name a host';
    return undefined;
  };
  const redis = problem(config.redis.url, ['redis:', 'rediss:']);
  if (redis) throw new ConfigError(`redis.url ${redis} (e.g. redis://:password@host:6379/0)`);
  const database = problem(config.database.url, ['mysql:', 'mariadb:']);
  if (database) throw new ConfigError(`database.url ${database} (e.g. mysql://user:password@host:3306/message_broker)`);
  if (new URL(config.database.url).pathname.replace(/^\//, '') === '')
    throw new ConfigError('database.url must name a database (mysql://…/message_broker)');
}

/**
 * Sentinel and Cluster exclude each other, and under Cluster every broker key must sit in
 * one hash slot: the store pipeline reads all domain streams with one XREADGROUP and the
 * ingest group-commits across domains in one pipeline (see docs/scaling.md).
 */
function checkRedisTopology(config: RawBrokerConfig): void {
  const { sentinels, cluster_nodes, key_prefix } = config.redis;
  if (sentinels.length > 0 && cluster_nodes.length > 0)
    throw new ConfigError('redis.sentinels and redis.cluster_nodes exclude each other');
  for (const [key, list] of [
    ['sentinels', sentinels],
    ['cluster_nodes', cluster_nodes],
  ] as const) {
    for (const address of list)
      if (!/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/.test(address))
        throw new ConfigError(`redis.${key} entries must be host:port, not "${address}"`);
  }
  // Redis hashes the text between the first '{' and the next '}', when that is not empty.
  const open = key_prefix.indexOf('{');
  if (cluster_nodes.length > 0 && (open < 0 || key_prefix.indexOf('}', open + 1) <= open + 1)) {
    throw new ConfigError(
      `redis.key_prefix must hold a hash tag such as "{mb}:" when redis.cluster_nodes is set (every broker key must be in one slot)`,
    );
  }
}

/**
 * WAIT blocks the ingest connection until the replicas answer or its timeout passes: a
 * timeout at or past the command timeout would turn "not replicated" into a torn-down
 * connection and an unknown outcome for every request behind it.
 */
function checkReplicaWait(config: RawBrokerConfig): void {
  const { replicas, replicas_timeout_ms } = config.queue;
  const { command_timeout_ms, cluster_nodes } = config.redis;
  if (replicas > 0 && replicas_timeout_ms > command_timeout_ms / 2)
    throw new ConfigError(
      `queue.replicas_timeout_ms (${replicas_timeout_ms}) must be at most half of redis.command_timeout_ms (${command_timeout_ms})`,
    );
  if (replicas > 0 && cluster_nodes.length > 0)
    throw new ConfigError('queue.replicas is not supported with redis.cluster_nodes (use Sentinel)');
}

/**
 * A metrics identity reads every tenant's client names, serials and volumes, so it is a
 * full CN in a domain that accepts no messages: nobody's tenant domain, so a domain admin
 * (who can issue any name in their own domain) cannot mint one. A bare name (`metrics`, the
 * old form that matched that name in every domain) is refused rather than reinterpreted.
 */
function checkMetricsIdentities(config: RawBrokerConfig): void {
  for (const [i, cn] of config.metrics.client_names.entries()) {
    const key = `metrics.client_names[${i}]`;
    const dot = cn.indexOf('.');
    if (dot <= 0 || dot === cn.length - 1)
      throw new ConfigError(
        `${key} "${cn}" must be a full certificate CN <name>.<domain> (e.g. "${dot < 0 ? cn : 'metrics'}.ops") in a domain configured with active: false; a bare name no longer matches that name in every domain`,
      );
    const domainName = cn.slice(dot + 1);
    const domain = config.domains.find((d) => d.name === domainName);
    if (!domain)
      throw new ConfigError(
        `${key} "${cn}" names domain "${domainName}", which is not configured: add it to domains with active: false`,
      );
    if (domain.active)
      throw new ConfigError(
        `${key} "${cn}" is in domain "${domainName}", which accepts messages: a metrics identity needs a domain of its own with active: false (its admins could otherwise issue it)`,
      );
  }
}

/** Is this certificate CN one of `metrics.client_names` (and so may read /metrics and health details)? */
export function isMetricsIdentity(config: Pick<BrokerConfig, 'metrics' | 'domains'>, commonName: string): boolean {
  if (!config.metrics.client_names.includes(commonName)) return false;
  // Checked at load already; again here, for a config built around the loader (tests, reloads).
  const domainName = commonName.slice(commonName.indexOf('.') + 1);
  return config.domains.some((d) => d.name === domainName && !d.active);
}

function walk(shape: Shape, raw: unknown, path: string[], env: NodeJS.ProcessEnv): Record<string, unknown> {
  const dotted = path.join('.');
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${dotted} must be a mapping`);
  const record = raw as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (path.length === 0 && key === 'domains') continue;
    if (!Object.hasOwn(shape, key))
      throw unknownSetting(
        path.join('.'),
        key,
        path.length === 0 ? [...Object.keys(shape), 'domains'] : Object.keys(shape),
      );
  }
  const out: Record<string, unknown> = {};
  for (const [key, node] of Object.entries(shape)) {
    const childPath = [...path, key];
    if (!isField(node)) {
      out[key] = walk(node, record[key], childPath, env);
      continue;
    }
    const fromEnv = env[envName(childPath)];
    if (fromEnv !== undefined) out[key] = node.parse(fromEnv, childPath.join('.'), true);
    else if (record[key] !== undefined && record[key] !== null)
      out[key] = node.parse(record[key], childPath.join('.'), false);
    else out[key] = structuredClone(node.default);
  }
  return out;
}

function resolvePaths(config: RawBrokerConfig, baseDir: string): void {
  config.data.dir = resolve(baseDir, config.data.dir);
  config.secrets.dir = resolve(baseDir, config.secrets.dir);
  config.pki.dir = resolve(baseDir, config.pki.dir);
  if (config.pki.ca_key_passphrase_file !== '')
    config.pki.ca_key_passphrase_file = resolve(baseDir, config.pki.ca_key_passphrase_file);
  if (config.log.file !== '') config.log.file = resolve(baseDir, config.log.file);
  for (const domain of config.domains) {
    if (domain.target.ca_file !== '') domain.target.ca_file = resolve(baseDir, domain.target.ca_file);
    for (const target of Object.values(domain.targets))
      if (target.ca_file !== '') target.ca_file = resolve(baseDir, target.ca_file);
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
