/**
 * The first superadmin's password under a supervisor whose stdout is a pipe (as under
 * systemd or docker, where stdout lands in a journal): it is never printed; it goes to a
 * 0600 file under data/ whose path the welcome text names, and it signs in.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerProcess,
  createWorkspace,
  firstAdminCredentials,
  mtlsAgent,
  type Workspace,
} from '../support/broker-harness.js';
import { HttpsPortalClient } from '../support/portal-https.js';

let workspace: Workspace;
let broker: BrokerProcess;

beforeAll(async () => {
  workspace = await createWorkspace();
  broker = new BrokerProcess(workspace);
  await broker.start();
}, 120_000);
afterAll(async () => {
  await broker?.kill('SIGTERM');
  await workspace?.cleanup();
});

describe('first admin password, stdout not a terminal', () => {
  it('is written to a 0600 file under data/, not to stdout, and signs the admin in', async () => {
    const file = join(workspace.dir, 'data/first-admin-password');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const password = readFileSync(file, 'utf8').trim();
    expect(password.length).toBeGreaterThanOrEqual(12);
    expect(broker.output).not.toContain(password);
    expect(broker.output).toContain(`password file: ${file}`);
    expect(firstAdminCredentials(broker.output)).toMatchObject({ email: 'admin@localhost', password });

    const agent = mtlsAgent({ ca: readFileSync(join(workspace.dir, 'certs/ca.crt'), 'utf8') });
    try {
      const portal = await HttpsPortalClient.signedInAsFirstAdmin(broker.url, agent, broker.output);
      // Signed in (it throws otherwise): the portal's home no longer sends us to the login page.
      const home = await portal.get('/portal/');
      expect(home.location ?? '').not.toContain('/login');
    } finally {
      await agent.close();
    }
  });
});
