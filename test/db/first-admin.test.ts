/** The first superadmin of an empty users table: made once, with a password only its hash keeps. */
import { expect, it } from 'vitest';
import { createRepositories } from '../../src/db/index.js';
import { welcomeText } from '../../src/bootstrap/welcome.js';
import { loadConfig } from '../../src/config/config.js';
import { ensureFirstAdmin } from '../../src/portal/first-admin.js';
import { PasswordHasher } from '../../src/portal/password-hasher.js';
import { useTestDatabase } from '../support/test-fixtures.js';

const { handle } = useTestDatabase();
const repositories = createRepositories(handle.db);
const hasher = new PasswordHasher(10);

it('creates admin@localhost once, prints its password in the welcome text, stores only the hash', async () => {
  const [first, racing] = await Promise.all([
    ensureFirstAdmin(repositories, hasher, 'admin@localhost'),
    ensureFirstAdmin(repositories, hasher, 'admin@localhost'),
  ]);
  const created = first ?? racing!;
  // Two brokers starting together: one creates, the other finds the email taken and prints nothing.
  expect([first, racing].filter(Boolean)).toHaveLength(1);
  const row = (await repositories.users.findAccounts('admin@localhost'))[0]!;
  expect(row).toMatchObject({ role: 'superadmin', domain: null, client_id: null });
  expect(row.password_hash).not.toContain(created.password);
  expect(await hasher.verify(created.password, row.password_hash)).toBe(true);
  expect(await ensureFirstAdmin(repositories, hasher, 'admin@localhost')).toBeUndefined();

  const config = loadConfig({ values: {}, env: {} });
  const text = welcomeText(
    config,
    'https://localhost:8443',
    { created_ca: false, server_issued: false, demo: null },
    created,
  );
  expect(text).toContain('portal: https://localhost:8443/portal/');
  expect(text).toContain(`  email:    admin@localhost\n  password: ${created.password}\n`);
  expect(
    welcomeText(config, 'https://localhost:8443', { created_ca: false, server_issued: false, demo: null }),
  ).not.toContain('password');
  // Not on a terminal: only the file's path is printed.
  const piped = welcomeText(
    config,
    'https://localhost:8443',
    { created_ca: false, server_issued: false, demo: null },
    { ...created, passwordFile: '/var/lib/mb/data/first-admin-password' },
  );
  expect(piped).toContain('  password file: /var/lib/mb/data/first-admin-password\n');
  expect(piped).not.toContain(created.password);
});
