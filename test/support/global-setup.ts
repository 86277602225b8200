/**
 * Actors run as worker_threads loaded from dist/ (compiled JS); `npm test` builds first
 * (pretest). When a single file is run with `npx vitest`, build here if dist is missing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export default function setup(): void {
  if (!existsSync('dist/supervisor.js') && existsSync('src/supervisor.ts')) {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  }
}
