/**
 * Client certificates for end-to-end tests: issued with the workspace broker's own CA
 * (read from its certs/) and registered in its database, as `ca.issue` would — for
 * identities the bootstrap does not create (a second domain's client, `metrics`).
 */
import { join } from 'node:path';
import { CertificatesRepository } from '../../src/db/certificates.repository.js';
import { ClientsRepository } from '../../src/db/clients.repository.js';
import { openDatabase } from '../../src/db/database.js';
import { CertStore } from '../../src/pki/cert-store.js';
import { issueClientCertificate } from '../../src/pki/issue.js';
import type { ClientBundle, Workspace } from './broker-harness.js';

export async function issueRegisteredClient(workspace: Workspace, name: string, domain: string): Promise<ClientBundle> {
  const ca = new CertStore(join(workspace.dir, 'certs')).loadCa();
  const issued = issueClientCertificate(ca, { commonName: `${name}.${domain}`, days: 90 });
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
