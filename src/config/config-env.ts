/**
 * `MB_<UPPER_SNAKE_PATH>` environment overrides: their names, and the refusal of an `MB_*`
 * variable that names no key. A typo in YAML stops the start (exit 78); the same typo in
 * an override must too, or `MB_DELIVERY_MAX_ATEMPTS=3` runs silently with the default.
 */
import { closestName } from '../util/closest-name.js';
import { ConfigError, isField, type Shape } from './config-fields.js';

/** `MB_*` variables the project reads for other purposes than a config key. */
const OTHER_USES = new Set([
  'MB_CONFIG', // the config file (config.ts pickFile)
  'MB_DB_PASSWORD', // secrets the shipped config and compose.yaml substitute (${MB_DB_PASSWORD})
  'MB_REDIS_PASSWORD',
  'MB_PUBLIC_HOSTNAMES', // compose.yaml's input for MB_SERVER_PUBLIC_HOSTNAMES
  'MB_SKIP_SETUP', // scripts/setup.sh
  'MB_FAULT_INJECTION', // chaos tests (src/app/compose.ts)
  'MB_TEST_MYSQL_URL', // test and bench harnesses
  'MB_PROPERTY_RUNS',
  'MB_PROPERTY_SEED',
]);

export function envName(path: string[]): string {
  return `MB_${path.map((p) => p.toUpperCase()).join('_')}`;
}

/** The override names of every key of `shape` (and `extra` ones such as MB_DOMAINS), with their dotted path. */
export function overrideNames(shape: Shape, extra: Record<string, string> = {}): Map<string, string> {
  const names = new Map(Object.entries(extra));
  const visit = (node: Shape, path: string[]) => {
    for (const [key, child] of Object.entries(node)) {
      if (isField(child)) names.set(envName([...path, key]), [...path, key].join('.'));
      else visit(child, [...path, key]);
    }
  };
  visit(shape, []);
  return names;
}

/**
 * Refuses the first `MB_*` variable that is neither an override, nor one the project uses
 * otherwise, nor `substituted` (a `${MB_…}` the YAML file read), naming the key it
 * probably meant.
 */
export function refuseUnknownOverrides(
  env: NodeJS.ProcessEnv,
  names: ReadonlyMap<string, string>,
  substituted: ReadonlySet<string>,
): void {
  for (const variable of Object.keys(env).sort()) {
    if (!variable.startsWith('MB_') || env[variable] === undefined) continue;
    if (names.has(variable) || OTHER_USES.has(variable) || substituted.has(variable)) continue;
    const near = closestName(variable, names.keys());
    const hint = near ? `; did you mean ${near} (${names.get(near)})?` : '';
    throw new ConfigError(`environment variable ${variable} matches no config key${hint}`);
  }
}
