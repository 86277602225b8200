/**
 * drizzle-orm's runtime values, loaded through its CommonJS build: every module of the
 * broker takes them from here, never from 'drizzle-orm…' directly (type-only imports may,
 * they are erased at build).
 *
 * Why: Node 24's ESM loader reads the package scope's package.json again for each module
 * file it loads, and drizzle-orm's is 175 KB with thousands of `exports` entries. Importing
 * `drizzle-orm/mysql-core` as ESM allocates about 170 MB of garbage in the importing thread
 * (4 MB on Node 20; 6 MB through `require`), and the heap and the process RSS stay about
 * 180 MB higher afterwards. Four of the broker's threads open the database, so that was
 * most of its peak RSS on Node 24. The CommonJS build is the same code and the same types.
 *
 * One copy only: drizzle recognises its own objects (tables, columns, `sql` chunks) across
 * copies by name, but a single copy keeps that question away.
 */
import { createRequire } from 'node:module';

// `drizzle-kit` loads schema.ts (and so this file) as CommonJS, where import.meta is empty:
// resolve from the working directory then, which is the project's root when it runs.
const require = createRequire(import.meta.url ?? `${process.cwd()}/`);

const orm = require('drizzle-orm') as typeof import('drizzle-orm');
const mysqlCore = require('drizzle-orm/mysql-core') as typeof import('drizzle-orm/mysql-core');
const mysql2 = require('drizzle-orm/mysql2') as typeof import('drizzle-orm/mysql2');
const migrator = require('drizzle-orm/mysql2/migrator') as typeof import('drizzle-orm/mysql2/migrator');

export const { and, asc, count, desc, eq, getTableColumns, gt, gte, inArray, isNotNull, isNull, lt, lte, ne, or, sql } =
  orm;
export const {
  bigint,
  boolean,
  char,
  customType,
  datetime,
  foreignKey,
  index,
  int,
  mysqlEnum,
  mysqlTable,
  unique,
  varchar,
} = mysqlCore;
export const { drizzle } = mysql2;
export const { migrate } = migrator;
