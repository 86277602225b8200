/**
 * Client certificates for end-to-end tests: issued with the workspace broker's own CA
 * (read from its certs/) and registered in its database, as `ca.issue` would — for
 * identities the bootstrap does not create (a second domain's client, `metrics`), and
 * for certificates the CA would never issue (expired, wrong key usage) that tests must
 * see refused.
 */
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { CertificatesRepository } from '../../src/db/certificates.repository.js';
import { ClientsRepository } from '../../src/db/clients.repository.js';
import { openDatabase } from '../../src/db/database.js';
import { CertStore } from '../../src/pki/cert-store.js';
import { fingerprintOfPem } from '../../src/pki/fingerprint.js';
import { issueClientCertificate, type IssueClientOptions } from '../../src/pki/issue.js';
import { normalizeSerialHex } from '../../src/pki/serial.js';
import type { CaMaterial } from '../../src/pki/pki.types.js';
import type { ClientBundle, Workspace } from './broker-harness.js';

export function workspaceCa(workspace: Workspace): CaMaterial {
  return new CertStore(join(workspace.dir, 'certs')).loadCa();
}

export async function issueRegisteredClient(
  workspace: Workspace,
  name: string,
  domain: string,
  options: Omit<IssueClientOptions, 'commonName'> = { days: 90 },
): Promise<ClientBundle> {
  const ca = workspaceCa(workspace);
  const issued = issueClientCertificate(ca, { commonName: `${name}.${domain}`, ...options });
  await registerCertificate(workspace, name, domain, issued.certPem);
  return { cert: issued.certPem, key: issued.keyPem, ca: ca.certPem };
}

/** Registers any certificate (however it was made) as the active one of client `name.domain`; returns its serial. */
export async function registerCertificate(
  workspace: Workspace,
  name: string,
  domain: string,
  certPem: string,
): Promise<string> {
  const x509 = new X509Certificate(certPem);
  const serial = normalizeSerialHex(x509.serialNumber);
  const database = openDatabase({ url: workspace.database.url, poolSize: 1 });
  try {
    const client = await new ClientsRepository(database.db).ensure({ name, domain });
    await new CertificatesRepository(database.db).insert({
      serial,
      client_id: client.id,
      fingerprint: fingerprintOfPem(certPem),
      subject_cn: `${name}.${domain}`,
      not_before: new Date(x509.validFrom),
      not_after: new Date(x509.validTo),
      status: 'active',
    });
  } finally {
    await database.close();
  }
  return serial;
}
