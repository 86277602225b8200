#!/usr/bin/env node
/**
 * The `mb` command: checks that this Node.js can run it, then loads the commands
 * (src/cli/mb.ts). Their dependencies fail obscurely on an older Node (undici's zstd, at
 * import): the check must come before any of them is loaded.
 */
import { unsupportedNode } from './app/node-support.js';

const refusal = unsupportedNode();
if (refusal !== undefined) {
  process.stderr.write(`mb: ${refusal}\n`);
  process.exit(1);
}
await import('./cli/mb.js');
