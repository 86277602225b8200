/**
 * Column types drizzle's mysql-core does not map the way the broker needs.
 *
 * - Binary: drizzle's `binary`/`varbinary` decode the driver's Buffer as a UTF-8 string,
 *   which corrupts ciphertext (every byte >= 0x80 that is not valid UTF-8 turns into
 *   U+FFFD), and mysql-core has no `blob` at all. These keep the Buffer mysql2 returns.
 * - JSON: on MariaDB `JSON` is an alias for `LONGTEXT CHECK (json_valid(...))`, so the
 *   server reports a text column and mysql2 hands back the raw string, where on MySQL it
 *   parses it. This parses strings and passes already-parsed values through.
 */
import { customType } from './drizzle.js';

/** `VARBINARY(length)` holding a Node Buffer. */
export const varbinaryBuffer = customType<{
  data: Buffer;
  driverData: Buffer;
  config: { length: number };
  configRequired: true;
}>({
  dataType: (config) => `varbinary(${config.length})`,
  toDriver: (value) => value,
  fromDriver: (value) => toBuffer(value),
});

/** `BLOB` (up to 64 KiB) holding a Node Buffer. */
export const blobBuffer = customType<{ data: Buffer; driverData: Buffer }>({
  dataType: () => 'blob',
  toDriver: (value) => value,
  fromDriver: (value) => toBuffer(value),
});

/** `JSON` that reads back as a value on MariaDB as well as MySQL. */
export const jsonValue = customType<{ data: unknown; driverData: string }>({
  dataType: () => 'json',
  toDriver: (value) => JSON.stringify(value),
  fromDriver: (value: unknown) => (typeof value === 'string' ? (JSON.parse(value) as unknown) : value),
});

// mysql2 returns Buffer for binary columns; a Uint8Array can only appear if a caller
// goes through another driver, and copying it keeps the declared type honest.
function toBuffer(value: Buffer | Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value);
}
