import { readFileSync } from 'node:fs';

/** The package version, read once (from src/ or dist/, both one level below the root). */
export const VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
