/**
 * `mb ca init --force` beside a running broker: refused, the CA left as it was, whether the
 * broker is seen by its heartbeat or — Redis away for the CLI — by its listener; once the
 * broker has stopped the replacement goes through.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerProcess, createWorkspace, type Workspace } from '../support/broker-harness.js';
import { runCli } from '../support/mb-cli.js';
import { freePort } from '../support/redis-server.js';

let workspace: Workspace;
let broker: BrokerProcess;
const mb = (args: string[], env?: Record<string, string>) =>
  runCli(args, { configPath: workspace.configPath, ...(env ? { env } : {}) });
const caCert = () => readFileSync(join(workspace.dir, 'certs', 'ca.crt'), 'utf8');

beforeAll(async () => {
  workspace = await createWorkspace({ bootstrap: { demo_client: false } });
  // A fixed port: the CLI finds the listener by the config's server.port.
  workspace.reconfigure({ server: { port: await freePort() } });
  broker = new BrokerProcess(workspace);
  await broker.start();
}, 120_000);
afterAll(async () => {
  await broker?.kill('SIGTERM');
  await workspace?.cleanup();
});

describe('mb ca init --force', () => {
  it('is refused while a broker of the installation runs, naming it; the CA stays', async () => {
    const before = caCert();
    const refused = await mb(['ca', 'init', '--force']);
    // Before: the CA was replaced under the broker, which went on trusting the old one.
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/CA_IN_USE: Refusing to replace the CA in .* while 1 broker\(s\) use it: test-/);
    expect(refused.stderr).toContain('Stop every broker first');
    expect(caCert()).toBe(before);
  });

  it('is refused by the listener on server.port when Redis does not answer the CLI', async () => {
    const before = caCert();
    const refused = await mb(['ca', 'init', '--force'], { MB_REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/CA_IN_USE: .*a broker listening on 127\.0\.0\.1:\d+/);
    expect(caCert()).toBe(before);
  }, 30_000);

  it('replaces the CA once the broker has stopped', async () => {
    const before = caCert();
    await broker.kill('SIGTERM');
    const replaced = await mb(['ca', 'init', '--force']);
    expect(replaced.code, replaced.stderr).toBe(0);
    expect(replaced.stdout).toContain('replaced the certificate authority');
    expect(caCert()).not.toBe(before);
  }, 30_000);
});
