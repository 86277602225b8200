/**
 * A domain's `routes:` — parsed item by item, then checked as a list at load, so that a
 * route which could never be chosen is an error naming it rather than a surprise:
 *
 *   unknown target     the route names a target the domain does not declare
 *   unreachable        an earlier route matches everything it matches (a catch-all, the
 *                      same header name with all its values, the same metadata key+value)
 *   duplicate prefix   two routes with one sender_prefix (longest-prefix matching could
 *                      never tell them apart)
 *
 * How a message is matched against the list is `src/routing/route-choice.ts`.
 */
import { ConfigError } from './config-fields.js';

/** HTTP header names are tokens (RFC 9110); compared lower-cased. */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const SENDER_PREFIX = /^\+[1-9]\d{0,14}$/;
/** Names of targets and routes: they become Redis key segments, metric labels and MySQL values. */
export const ROUTING_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;

export type RouteMatch =
  /** The request header `name` (lower case) holds one of `values`. */
  | { header: { name: string; values: string[] } }
  /** The sender number starts with `sender_prefix`, and no longer prefix of another route does. */
  | { sender_prefix: string }
  /** The message's metadata holds `key` with this value (a string, number or boolean, compared as text). */
  | { metadata: { key: string; value: string } }
  /** Every message: the default route. */
  | Record<string, never>;

export interface RouteConfig {
  /** Its own `name`, else `routes[<index>]`: recorded with each message it routes. */
  name: string;
  match: RouteMatch;
  /** One of the domain's target names. */
  target: string;
}

export function isCatchAll(match: RouteMatch): match is Record<string, never> {
  return Object.keys(match).length === 0;
}

export function parseRoute(item: unknown, path: string): RouteConfig {
  if (item === null || typeof item !== 'object' || Array.isArray(item))
    throw new ConfigError(`${path} must be a mapping`);
  const record = item as Record<string, unknown>;
  for (const key of Object.keys(record))
    if (!['name', 'match', 'target'].includes(key)) throw new ConfigError(`${path}.${key} is not a known setting`);
  const index = /\[(\d+)\]$/.exec(path)?.[1] ?? '0';
  const name = record.name ?? `routes[${index}]`;
  if (record.name !== undefined && (typeof record.name !== 'string' || !ROUTING_NAME.test(record.name)))
    throw new ConfigError(`${path}.name must match ${ROUTING_NAME} (lower case, digits, _ and -)`);
  if (typeof record.target !== 'string' || record.target === '')
    throw new ConfigError(`${path}.target must name one of the domain's targets`);
  return { name: name as string, match: parseMatch(record.match, `${path}.match`), target: record.target };
}

function parseMatch(value: unknown, path: string): RouteMatch {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`${path} must be a mapping`);
  const keys = Object.keys(value);
  if (keys.length === 0) return {};
  if (keys.length > 1)
    throw new ConfigError(`${path} must hold one of header, sender_prefix, metadata (or nothing: the default route)`);
  const record = value as Record<string, unknown>;
  const [kind] = keys;
  if (kind === 'sender_prefix') {
    const prefix = typeof record.sender_prefix === 'number' ? `+${record.sender_prefix}` : record.sender_prefix;
    if (typeof prefix !== 'string' || !SENDER_PREFIX.test(prefix))
      throw new ConfigError(`${path}.sender_prefix must be "+" and 1 to 15 digits, the first not 0 (e.g. "+44")`);
    return { sender_prefix: prefix };
  }
  if (kind === 'header') {
    const header = record.header as Record<string, unknown> | null;
    if (!header || typeof header !== 'object') throw new ConfigError(`${path}.header must be a mapping {name, values}`);
    const { name, values } = header;
    if (typeof name !== 'string' || !HEADER_NAME.test(name))
      throw new ConfigError(`${path}.header.name must be an HTTP header name (e.g. X-Region)`);
    if (!Array.isArray(values) || values.length === 0 || values.some((v) => typeof v !== 'string' || v === ''))
      throw new ConfigError(`${path}.header.values must be a non-empty list of the header values it accepts`);
    return { header: { name: name.toLowerCase(), values: [...new Set(values as string[])] } };
  }
  if (kind === 'metadata') {
    const metadata = record.metadata as Record<string, unknown> | null;
    if (!metadata || typeof metadata !== 'object')
      throw new ConfigError(`${path}.metadata must be a mapping {key, value}`);
    const { key, value: expected } = metadata;
    if (typeof key !== 'string' || key === '') throw new ConfigError(`${path}.metadata.key must be a non-empty string`);
    if (!['string', 'number', 'boolean'].includes(typeof expected))
      throw new ConfigError(`${path}.metadata.value must be a string, number or boolean`);
    return { metadata: { key, value: String(expected) } };
  }
  throw new ConfigError(`${path}.${kind} is not a known match: use header, sender_prefix or metadata`);
}

/** The checks of the whole list (see the header); `targets` are the domain's target names. */
export function checkRoutes(routes: readonly RouteConfig[], targets: readonly string[], path: string): void {
  const names = new Set<string>();
  const prefixes = new Map<string, string>();
  let catchAll: string | undefined;
  routes.forEach((route, i) => {
    const at = `${path}[${i}] (route "${route.name}")`;
    if (names.has(route.name)) throw new ConfigError(`${at}: another route has the name "${route.name}"`);
    names.add(route.name);
    if (!targets.includes(route.target))
      throw new ConfigError(
        `${at}: target "${route.target}" is not one of the domain's targets (${targets.join(', ')})`,
      );
    if (catchAll !== undefined)
      throw new ConfigError(`${at} is unreachable: the earlier default route "${catchAll}" matches every message`);
    const match = route.match;
    if (isCatchAll(match)) catchAll = route.name;
    else if ('sender_prefix' in match) {
      const other = prefixes.get(match.sender_prefix);
      if (other !== undefined)
        throw new ConfigError(`${at}: route "${other}" has the same sender_prefix ${match.sender_prefix}`);
      prefixes.set(match.sender_prefix, route.name);
    } else {
      const earlier = routes.slice(0, i).find((r) => covers(r.match, match));
      if (earlier)
        throw new ConfigError(
          `${at} is unreachable: the earlier route "${earlier.name}" matches every message it does`,
        );
    }
  });
}

/** Does `earlier` match every message `later` matches (header and metadata routes)? */
function covers(earlier: RouteMatch, later: RouteMatch): boolean {
  if ('header' in earlier && 'header' in later)
    return (
      earlier.header.name === later.header.name && later.header.values.every((v) => earlier.header.values.includes(v))
    );
  if ('metadata' in earlier && 'metadata' in later)
    return earlier.metadata.key === later.metadata.key && earlier.metadata.value === later.metadata.value;
  return false;
}
