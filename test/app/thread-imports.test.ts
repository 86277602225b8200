/**
 * Each thread is an isolate of its own and pays for every package it loads (heap, code,
 * its own copy: undici alone is ≈ 5 MB of heap after a full GC): the main thread must not
 * load what only the actors use. Loads the compiled front (`dist/app/compose.js`, what
 * the supervisor runs) in a fresh node and lists the packages that came with it. CommonJS
 * packages land in `require.cache` also when ESM imports them, so the list is complete
 * for them (every package named here is CommonJS).
 */
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/broker-harness.js';

const LIST_PACKAGES = `
import { createRequire } from 'node:module';
await import('./dist/app/compose.js');
const cache = createRequire(import.meta.url).cache;
const names = Object.keys(cache).map((path) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(path)?.[1]).filter(Boolean);
process.stdout.write(JSON.stringify([...new Set(names)]));
process.exit(0);
`;

function loadedPackages(): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', LIST_PACKAGES], { cwd: ROOT }, (error, stdout) =>
      error ? reject(error) : resolve(JSON.parse(stdout) as string[]),
    );
  });
}

describe('the main thread', () => {
  it("loads none of the delivery actor's transports nor the encryption pool", async () => {
    const packages = await loadedPackages();
    expect(packages).toContain('fastify'); // the list works
    for (const actorsOnly of ['undici', 'amqplib', 'better-queue', 'piscina'])
      expect(packages).not.toContain(actorsOnly);
  }, 60_000);
});
