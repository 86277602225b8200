/**
 * `npm run build`, second half: tsc compiles src/ to dist/; this copies the files the code
 * reads at run time beside the compiled code, so dist/ (with node_modules/ and drizzle/)
 * runs without src/. Each is read relative to its module (`new URL('./lua/…',
 * import.meta.url)`), so the same code also works from src/ under vitest/tsx.
 * Plain JavaScript: it runs on any Node, before anything is compiled.
 */
import { cpSync, existsSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** src-relative directories copied whole to the same place under dist/. */
export const RUNTIME_DIRS = ['queue/lua', 'views', 'portal/assets'];

for (const dir of RUNTIME_DIRS) {
  const from = join(root, 'src', dir);
  const to = join(root, 'dist', dir);
  if (!existsSync(from)) throw new Error(`runtime files missing: src/${dir}`);
  // Replace, so a file deleted from src/ does not linger in dist/.
  rmSync(to, { recursive: true, force: true });
  cpSync(from, to, { recursive: true, filter: (path) => !path.endsWith('.test.ts') });
}
