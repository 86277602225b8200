/**
 * The building blocks of the config schema: each leaf knows its doc, its default and how
 * to parse a value (from YAML or from an `MB_*` environment string), and names its path
 * when the value is wrong.
 */
import { closestName } from '../util/closest-name.js';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface Field<T> {
  readonly kind: 'field';
  readonly doc: string;
  readonly default: T;
  /** Parses a YAML value (`fromEnv` false) or an environment string (`fromEnv` true). */
  parse(value: unknown, path: string, fromEnv: boolean): T;
}

export type Shape = { readonly [key: string]: Field<unknown> | Shape };
export type ValueOf<S extends Shape> = {
  -readonly [K in keyof S]: S[K] extends Field<infer T> ? T : S[K] extends Shape ? ValueOf<S[K]> : never;
};

function field<T>(doc: string, defaultValue: T, parse: Field<T>['parse']): Field<T> {
  return { kind: 'field', doc, default: defaultValue, parse };
}

export function isField(node: Field<unknown> | Shape): node is Field<unknown> {
  return (node as Field<unknown>).kind === 'field' && typeof (node as Field<unknown>).parse === 'function';
}

export function str(
  doc: string,
  defaultValue: string,
  opts: { pattern?: RegExp; allowEmpty?: boolean } = {},
): Field<string> {
  return field(doc, defaultValue, (value, path) => {
    if (typeof value === 'number') value = String(value);
    if (typeof value !== 'string') throw new ConfigError(`${path} must be a string`);
    if (!opts.allowEmpty && value === '') throw new ConfigError(`${path} must not be empty`);
    if (opts.pattern && value !== '' && !opts.pattern.test(value)) {
      throw new ConfigError(`${path} must match ${opts.pattern}`);
    }
    return value;
  });
}

export function int(doc: string, defaultValue: number, opts: { min?: number; max?: number } = {}): Field<number> {
  const min = opts.min ?? 0;
  return field(doc, defaultValue, (value, path, fromEnv) => {
    const n = fromEnv && typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    const describe = min > 0 ? 'a positive integer' : `an integer ≥ ${min}`;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min) throw new ConfigError(`${path} must be ${describe}`);
    if (opts.max !== undefined && n > opts.max) throw new ConfigError(`${path} must be at most ${opts.max}`);
    return n;
  });
}

export function bool(doc: string, defaultValue: boolean): Field<boolean> {
  return field(doc, defaultValue, (value, path, fromEnv) => {
    if (fromEnv && typeof value === 'string') {
      if (/^(true|1|yes|on)$/i.test(value)) return true;
      if (/^(false|0|no|off)$/i.test(value)) return false;
    }
    if (typeof value !== 'boolean') throw new ConfigError(`${path} must be true or false`);
    return value;
  });
}

export function oneOf<const T extends string>(doc: string, defaultValue: T, choices: readonly T[]): Field<T> {
  return field(doc, defaultValue, (value, path) => {
    if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
      throw new ConfigError(`${path} must be one of: ${choices.join(', ')}`);
    }
    return value as T;
  });
}

export function strList(doc: string, defaultValue: string[]): Field<string[]> {
  return field(doc, defaultValue, (value, path, fromEnv) => {
    const list =
      fromEnv && typeof value === 'string'
        ? value
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : value;
    if (!Array.isArray(list) || list.some((item) => typeof item !== 'string' || item === '')) {
      throw new ConfigError(`${path} must be a list of non-empty strings`);
    }
    return list as string[];
  });
}

/** A list of records; `parseItem` validates one item and names `${path}[i].key` on error. */
export function recordList<T>(
  doc: string,
  defaultValue: T[],
  parseItem: (item: unknown, path: string) => T,
): Field<T[]> {
  return field(doc, defaultValue, (value, path, fromEnv) => {
    const list = fromEnv ? parseEnvJson(value, path, 'list') : value;
    if (!Array.isArray(list)) throw new ConfigError(`${path} must be a list`);
    return list.map((item, i) => parseItem(item, `${path}[${i}]`));
  });
}

/** `path.key is not a known setting`, with the key probably meant (a typo in a YAML file). */
export function unknownSetting(path: string, key: string, known: readonly string[]): ConfigError {
  const near = closestName(key, known, 2);
  return new ConfigError(
    `${join(path, key)} is not a known setting${near ? `; did you mean ${join(path, near)}?` : ''}`,
  );
}

/** Parses a plain object against a shape; used for list items such as domains. */
export function parseShape<S extends Shape>(shape: S, input: unknown, path: string, fromEnv = false): ValueOf<S> {
  if (input === undefined || input === null) input = {};
  if (typeof input !== 'object' || Array.isArray(input)) throw new ConfigError(`${path} must be a mapping`);
  const record = input as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!Object.hasOwn(shape, key)) throw unknownSetting(path, key, Object.keys(shape));
  }
  const out: Record<string, unknown> = {};
  for (const [key, node] of Object.entries(shape)) {
    const childPath = join(path, key);
    if (isField(node)) {
      out[key] =
        record[key] === undefined ? structuredClone(node.default) : node.parse(record[key], childPath, fromEnv);
    } else {
      out[key] = parseShape(node, record[key], childPath, fromEnv);
    }
  }
  return out as ValueOf<S>;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** An integer that may be left unset (`null`): an override that inherits from the level above. */
export function optionalInt(doc: string, opts: { min?: number; max?: number } = {}): Field<number | null> {
  const parseInteger = int(doc, 0, opts).parse;
  return field<number | null>(doc, null, (value, path, fromEnv) =>
    value === null || (fromEnv && value === '') ? null : parseInteger(value, path, fromEnv),
  );
}

/** A mapping of names to records (e.g. overrides keyed by client CN); `parseEntry` validates one entry. */
export function recordMap<T>(
  doc: string,
  defaultValue: Record<string, T>,
  parseEntry: (name: string, item: unknown, path: string) => T,
): Field<Record<string, T>> {
  return field(doc, defaultValue, (value, path, fromEnv) => {
    const map = fromEnv ? parseEnvJson(value, path, 'object') : value;
    if (map === null || typeof map !== 'object' || Array.isArray(map))
      throw new ConfigError(`${path} must be a mapping`);
    const out: Record<string, T> = {};
    for (const [name, item] of Object.entries(map)) out[name] = parseEntry(name, item, `${path}.${name}`);
    return out;
  });
}

/** An environment variable holding a structure holds it as JSON. */
function parseEnvJson(value: unknown, path: string, what: 'list' | 'object'): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    throw new ConfigError(`${path} must be a JSON ${what} when set from the environment`);
  }
}
