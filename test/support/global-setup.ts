/**
 * Actors run as worker_threads loaded from dist/ (compiled JS, with the Lua scripts,
 * views and assets copied beside it); `npm test` builds first (pretest). When a single
 * file is run with `npx vitest`, build here if dist is missing or predates the copies.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export default function setup(): void {
  if (!existsSync('src/supervisor.ts')) return;
  if (!existsSync('dist/supervisor.js'))
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  if (!existsSync('dist/queue/lua'))
    execFileSync(process.execPath, ['scripts/copy-runtime-files.mjs'], { stdio: 'inherit' });
}
