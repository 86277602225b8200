/**
 * `mb config check`: what the loader cannot see — whether the files and directories a
 * valid config points at are usable — checked without starting anything and without
 * connecting to Redis or the database. Each finding is `ok`, `note` (fine now, but the
 * first start will create something: a new CA, new data keys), `warning` (valid, but a
 * setting cannot do what it says: delivery shares that do not fit the total) or `problem`
 * (the broker would fail, or would start in a state an operator did not intend).
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { BrokerConfig } from './config.js';
import { deliveryShareWarnings, targetSettingKey } from './config-resolve.js';
import { DATA_KEYS_FILE, PEPPER_FILE } from '../crypto/key-store.js';
import { isEncryptedKeyPem, openKeyPem, readCaKeyPassphrase } from '../pki/ca-key-passphrase.js';

export type FindingLevel = 'ok' | 'note' | 'warning' | 'problem';

export interface Finding {
  level: FindingLevel;
  /** The config key the finding is about (`pki.dir`, `domains[1].target.ca_file`). */
  key: string;
  path: string;
  message: string;
}

/** The key store's file names (src/actors/encryption/key-store.ts): both or neither. */
const SECRET_FILES = [DATA_KEYS_FILE, PEPPER_FILE] as const;

export function checkConfigFiles(config: Readonly<BrokerConfig>): Finding[] {
  const findings: Finding[] = [];
  checkPki(config.pki.dir, config.pki.ca_key_passphrase_file, findings);
  checkSecrets(config.secrets.dir, findings);
  checkWritableDir('data.dir', config.data.dir, findings);
  if (config.log.file === '') findings.push(ok('log.file', '', 'empty: logs go to stdout only'));
  else checkLogFile(config.log.file, findings);
  config.domains.forEach((domain, i) => {
    for (const target of domain.targets) {
      if (target.ca_file !== '')
        checkCaFile(targetSettingKey(i, domain, target.name, 'ca_file'), target.ca_file, findings);
      if (target.type === 'amqp' && target.cert_file !== '')
        checkClientCertificate(
          { key: targetSettingKey(i, domain, target.name, 'cert_file'), file: target.cert_file },
          { key: targetSettingKey(i, domain, target.name, 'key_file'), file: target.key_file },
          findings,
        );
    }
  });
  for (const { key, message } of deliveryShareWarnings(config))
    findings.push({ level: 'warning', key, path: '', message });
  return findings;
}

function checkPki(dir: string, passphraseFile: string, findings: Finding[]): void {
  const key = 'pki.dir';
  if (!existsSync(dir)) {
    if (checkCreatable(key, dir, findings))
      findings.push(note(key, dir, 'does not exist yet: the first start creates a new CA and server certificate here'));
    return;
  }
  if (!isUsableDir(key, dir, findings)) return;
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o077) !== 0)
    findings.push(note(key, dir, `mode ${mode.toString(8)}: the broker tightens it to 0700 at start (it holds keys)`));
  const caCert = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  const ca = readCertificate(key, caCert, findings);
  if (ca === null) {
    if (existsSync(caKey)) findings.push(problem(key, caCert, 'missing, but ca.key is there: restore ca.crt'));
    else findings.push(note(key, dir, 'holds no CA yet: the first start creates one'));
    return;
  }
  if (ca === undefined) return;
  if (!ca.ca) findings.push(problem(key, caCert, 'is not a CA certificate (basicConstraints CA:FALSE)'));
  checkValidity(key, caCert, ca, 'CA certificate', findings);
  // Only one host of a cluster holds the CA key (docs/scaling.md): its absence is fine.
  if (existsSync(caKey)) checkCaKey(key, caKey, passphraseFile, ca, findings);
  else
    findings.push(note(key, caKey, 'absent: this host cannot issue, renew or revoke (another host holds the CA key)'));

  const serverCert = join(dir, 'server.crt');
  const server = readCertificate(key, serverCert, findings);
  if (server === null) findings.push(note(key, serverCert, 'absent: the first start issues one'));
  else if (server) {
    if (!server.verify(ca.publicKey)) findings.push(problem(key, serverCert, 'is not signed by ca.crt'));
    checkValidity(key, serverCert, server, 'server certificate', findings);
    checkKeyMatches(key, join(dir, 'server.key'), server, 'server key', findings);
  }
  const crl = join(dir, 'crl.pem');
  if (existsSync(crl)) checkReadable(key, crl, 'CRL', findings);
}

function checkSecrets(dir: string, findings: Finding[]): void {
  const key = 'secrets.dir';
  if (!existsSync(dir)) {
    if (checkCreatable(key, dir, findings))
      findings.push(
        note(
          key,
          dir,
          'does not exist yet: the first start creates new data keys and pepper (not for a second broker!)',
        ),
      );
    return;
  }
  if (!isUsableDir(key, dir, findings)) return;
  if ((statSync(dir).mode & 0o077) !== 0)
    findings.push(problem(key, dir, 'is open to group or others: chmod 0700 (it holds the data keys)'));
  const present = SECRET_FILES.filter((name) => existsSync(join(dir, name)));
  if (present.length === 0) {
    findings.push(note(key, dir, 'holds no keys yet: the first start creates them'));
    return;
  }
  if (present.length === 1) {
    const missing = SECRET_FILES.find((name) => name !== present[0]);
    findings.push(problem(key, dir, `holds ${present[0]} but not ${missing}: restore it from backup`));
    return;
  }
  for (const name of SECRET_FILES) {
    const path = join(dir, name);
    try {
      JSON.parse(readFileSync(path, 'utf8'));
      const mode = statSync(path).mode & 0o777;
      if ((mode & 0o077) !== 0) findings.push(problem(key, path, `mode ${mode.toString(8)}: chmod 0600`));
      else findings.push(ok(key, path, 'readable'));
    } catch (error) {
      findings.push(problem(key, path, `unreadable: ${(error as Error).message}`));
    }
  }
}

function checkLogFile(file: string, findings: Finding[]): void {
  const key = 'log.file';
  if (existsSync(file)) {
    if (statSync(file).isDirectory()) findings.push(problem(key, file, 'is a directory'));
    else if (canAccess(file, constants.W_OK) && canAccess(dirname(file), constants.W_OK))
      findings.push(ok(key, file, 'writable (and its directory, for rotation)'));
    else findings.push(problem(key, file, 'not writable, or its directory is not (rotation renames the file)'));
    return;
  }
  const dir = dirname(file);
  if (existsSync(dir)) {
    if (isUsableDir(key, dir, findings)) findings.push(ok(key, file, 'will be created'));
  } else if (checkCreatable(key, dir, findings)) findings.push(ok(key, file, 'its directory will be created'));
}

function checkCaFile(key: string, file: string, findings: Finding[]): void {
  const cert = readCertificate(key, file, findings);
  if (cert === null) findings.push(problem(key, file, 'does not exist'));
  else if (cert) checkValidity(key, file, cert, 'downstream CA', findings);
}

/** An amqp target's own client certificate (`cert_file`) and its `key_file`. */
function checkClientCertificate(
  certFile: { key: string; file: string },
  keyFile: { key: string; file: string },
  findings: Finding[],
): void {
  const cert = readCertificate(certFile.key, certFile.file, findings);
  if (cert === null) findings.push(problem(certFile.key, certFile.file, 'does not exist'));
  if (!cert) return;
  checkValidity(certFile.key, certFile.file, cert, 'client certificate', findings);
  checkKeyMatches(keyFile.key, keyFile.file, cert, 'client key', findings);
}

function checkWritableDir(key: string, dir: string, findings: Finding[]): void {
  if (!existsSync(dir)) {
    if (checkCreatable(key, dir, findings)) findings.push(ok(key, dir, 'will be created'));
  } else if (isUsableDir(key, dir, findings)) findings.push(ok(key, dir, 'writable'));
}

/** `undefined` after a problem was recorded, `null` when the file does not exist. */
function readCertificate(key: string, path: string, findings: Finding[]): X509Certificate | null | undefined {
  if (!existsSync(path)) return null;
  try {
    return new X509Certificate(readFileSync(path));
  } catch (error) {
    findings.push(problem(key, path, `not a readable PEM certificate: ${(error as Error).message}`));
    return undefined;
  }
}

function checkValidity(key: string, path: string, cert: X509Certificate, what: string, findings: Finding[]): void {
  const now = Date.now();
  const until = new Date(cert.validTo);
  if (now < new Date(cert.validFrom).getTime()) findings.push(problem(key, path, `${what} is not valid yet`));
  else if (now > until.getTime()) findings.push(problem(key, path, `${what} expired on ${until.toISOString()}`));
  else findings.push(ok(key, path, `${what} ${cert.subject.replace(/\n/g, ', ')}, valid until ${until.toISOString()}`));
}

/** The CA key opened as the CA actor would: with the passphrase file when one is set. */
function checkCaKey(
  key: string,
  path: string,
  passphraseFile: string,
  cert: X509Certificate,
  findings: Finding[],
): void {
  let keyPem: string;
  try {
    const passphrase = readCaKeyPassphrase(passphraseFile);
    keyPem = openKeyPem(readFileSync(path, 'utf8'), path, passphrase);
    if (passphrase && !isEncryptedKeyPem(readFileSync(path, 'utf8')))
      findings.push(note(key, path, 'is not encrypted yet: the next start encrypts it with the passphrase'));
  } catch (error) {
    // The message names the key and the passphrase file.
    findings.push(problem('pki.ca_key_passphrase_file', path, (error as Error).message));
    return;
  }
  checkKeyMatches(key, path, cert, 'CA key', findings, keyPem);
}

function checkKeyMatches(
  key: string,
  path: string,
  cert: X509Certificate,
  what: string,
  findings: Finding[],
  keyPem?: string,
): void {
  try {
    const privateKey = createPrivateKey(keyPem ?? readFileSync(path));
    if (cert.checkPrivateKey(privateKey)) findings.push(ok(key, path, `${what} matches its certificate`));
    else findings.push(problem(key, path, `${what} does not match its certificate`));
  } catch (error) {
    findings.push(problem(key, path, `${what} unreadable: ${(error as Error).message}`));
  }
}

function checkReadable(key: string, path: string, what: string, findings: Finding[]): void {
  if (canAccess(path, constants.R_OK)) findings.push(ok(key, path, `${what} readable`));
  else findings.push(problem(key, path, `${what} not readable`));
}

function isUsableDir(key: string, dir: string, findings: Finding[]): boolean {
  if (!statSync(dir).isDirectory()) {
    findings.push(problem(key, dir, 'is not a directory'));
    return false;
  }
  if (!canAccess(dir, constants.R_OK | constants.W_OK | constants.X_OK)) {
    findings.push(problem(key, dir, 'is not readable and writable by this user'));
    return false;
  }
  return true;
}

/** The nearest existing ancestor must be a writable directory. */
function checkCreatable(key: string, dir: string, findings: Finding[]): boolean {
  let parent = dirname(dir);
  while (!existsSync(parent) && dirname(parent) !== parent) parent = dirname(parent);
  if (statSync(parent).isDirectory() && canAccess(parent, constants.W_OK | constants.X_OK)) return true;
  findings.push(problem(key, dir, `cannot be created: ${parent} is not a writable directory`));
  return false;
}

function canAccess(path: string, mode: number): boolean {
  try {
    accessSync(path, mode);
    return true;
  } catch {
    return false;
  }
}

const ok = (key: string, path: string, message: string): Finding => ({ level: 'ok', key, path, message });
const note = (key: string, path: string, message: string): Finding => ({ level: 'note', key, path, message });
const problem = (key: string, path: string, message: string): Finding => ({ level: 'problem', key, path, message });
