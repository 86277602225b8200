import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SecretFingerprintsRepository } from '../db/secret-fingerprints.repository.js';
import { refuseNewCa } from './secret-identity.js';

const dir = mkdtempSync(join(tmpdir(), 'mb-secret-identity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The database knows the installation's CA.
const recorded = {
  all: async () => [{ kind: 'ca', id: 'ca', fingerprint: 'f' }],
} as unknown as SecretFingerprintsRepository;

describe('refuseNewCa', () => {
  it('says to copy the CA in when pki.dir holds none', async () => {
    await expect(refuseNewCa(recorded, join(dir, 'empty'))).rejects.toThrow(/holds none: copy ca\.crt and ca\.key/);
  });

  it('says the CA cannot be read, not that there is none, when pki.dir cannot be looked into', async () => {
    // Root reads through any mode: a pki.dir that is a file gives the same kind of refusal (ENOTDIR) as EACCES.
    const notADirectory = join(dir, 'certs-file');
    writeFileSync(notADirectory, '');
    const refusal = refuseNewCa(recorded, notADirectory, ', then start again');
    await expect(refusal).rejects.toThrow(
      /ca\.crt cannot be read by this user \(ENOTDIR\): give it read and write access to \S+certs-file .*, then start again$/,
    );
    await expect(refuseNewCa(recorded, notADirectory)).rejects.not.toThrow(/holds none/);
  });
});
