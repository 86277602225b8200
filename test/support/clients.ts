/** Registers a client certificate in a test workspace the way the CA does (CA key from the workspace). */
import { join } from 'node:path';
import { CertStore } from '../../src/pki/cert-store.js';
import { issueClientCertificate } from '../../src/pki/issue.js';
import { openDatabase } from '../../src/db/database.js';
import { ClientsRepository } from '../../src/db/clients.repository.js';
import { CertificatesRepository } from '../../src/db/certificates.repository.js';
import type { ClientBundle, Workspace } from './broker-harness.js';

export async function registerClient(workspace: Workspace, name: string, domain: string): Promise<ClientBundle> {
  const ca = new CertStore(join(workspace.dir, 'certs')).loadCa();
  const issued = issueClientCertificate(ca, { commonName: `${name}.${domain}` });
  const database = openDatabase({ url: workspace.database.url, poolSize: 1 });
  try {
    const client = await new ClientsRepository(database.db).ensure({ name, domain });
    await new CertificatesRepository(database.db).insert({
      serial: issued.serialHex,
      client_id: client.id,
      fingerprint: issued.fingerprint256,
      subject_cn: issued.commonName,
      not_before: issued.notBefore,
      not_after: issued.notAfter,
      status: 'active',
    });
  } finally {
    await database.close();
  }
  return { cert: issued.certPem, key: issued.keyPem, ca: ca.certPem };
}
