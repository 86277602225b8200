/**
 * Short version of the `key-mismatch` fault (issue #16): a second broker started from its
 * own checkout — its own freshly generated data key `k1`, pepper `p1` and CA — against the
 * installation's database and Redis refuses to start, naming the key and the fix, and
 * accepts nothing; with the first host's secrets and CA copied over it starts.
 */
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerProcess, createWorkspace, type Workspace } from '../support/broker-harness.js';

let first: Workspace;
let second: Workspace;
let broker: BrokerProcess;

beforeAll(async () => {
  first = await createWorkspace();
  broker = new BrokerProcess(first);
  await broker.start();
  // Same database and key prefix, everything else its own (secrets, certs, data).
  second = await createWorkspace({
    database: { url: first.database.url },
    redis: { key_prefix: first.prefix },
  });
}, 120_000);

afterAll(async () => {
  await broker?.kill('SIGTERM');
  await second?.cleanup();
  await first?.cleanup();
});

describe('a broker whose keys are not the installation’s', () => {
  it('refuses to start, naming the key, the directory and the fix', async () => {
    const other = new BrokerProcess(second);
    await expect(other.start()).rejects.toThrow(/exited with 1 before listening/);
    expect(other.output).toMatch(/data key k1 in \S+ is not the data key k1 this database knows/);
    expect(other.output).toMatch(/pepper p1/);
    expect(other.output).toMatch(/the CA certificate in \S+ca\.crt is not the CA/);
    expect(other.output).toMatch(/copy \S+ \(data-keys\.json, pepper\.json\) and the CA/);
  });

  it('starts once the first host’s secrets and CA are copied over', async () => {
    const secrets = join(second.dir, 'data/secrets');
    rmSync(secrets, { recursive: true, force: true });
    cpSync(join(first.dir, 'data/secrets'), secrets, { recursive: true });
    for (const file of ['ca.crt', 'ca.key']) cpSync(join(first.dir, 'certs', file), join(second.dir, 'certs', file));
    const other = new BrokerProcess(second);
    try {
      await other.start();
    } finally {
      await other.kill('SIGTERM');
    }
  });
});
