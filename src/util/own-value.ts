/**
 * `record[key]` for a key that came from outside (a query string, an error's code): only
 * the record's own entries. A plain object literal also answers `constructor`,
 * `toString`, `__proto__`… from Object.prototype — a function where a string was meant
 * (`?notice=constructor` printed "function Object() { [native code] }").
 */
export function ownValue<V>(record: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
