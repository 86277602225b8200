/**
 * The CA key at rest under a passphrase (`pki.ca_key_passphrase_file`). Only the CA actor
 * and `mb` read the file: the key on disk is PKCS#8 encrypted PEM (PBES2: PBKDF2 with
 * HMAC-SHA256, AES-256-CBC), and is opened in memory when the CA signs. A copy of certs/
 * (a backup, a volume snapshot, a stolen disk) then gives no CA key without the
 * passphrase file, which lives elsewhere (a secrets mount, a root-only file).
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BrokerError } from '../errors.js';

export interface CaKeyPassphrase {
  /** The passphrase bytes (the file's content without one trailing newline). */
  value: Buffer;
  /** Where it came from, for error messages. */
  file: string;
}

const ENCRYPTED_HEADER = '-----BEGIN ENCRYPTED PRIVATE KEY-----';

/** Reads the passphrase file; `''` (the default) means no passphrase. */
export function readCaKeyPassphrase(file: string): CaKeyPassphrase | undefined {
  if (file === '') return undefined;
  let content: Buffer;
  try {
    content = readFileSync(file);
  } catch (error) {
    throw new BrokerError(
      'CA_KEY_LOCKED',
      `The CA key passphrase file ${file} (pki.ca_key_passphrase_file) could not be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      { file },
    );
  }
  // An editor's or `echo`'s trailing newline is not part of the passphrase.
  let end = content.length;
  if (content[end - 1] === 0x0a) end -= 1;
  if (content[end - 1] === 0x0d) end -= 1;
  const value = content.subarray(0, end);
  if (value.length === 0)
    throw new BrokerError('CA_KEY_LOCKED', `The CA key passphrase file ${file} is empty`, { file });
  return { value: Buffer.from(value), file };
}

export function isEncryptedKeyPem(pem: string): boolean {
  return pem.includes(ENCRYPTED_HEADER);
}

/** The key as encrypted PKCS#8 PEM under the passphrase (AES-256). */
export function encryptKeyPem(keyPem: string, passphrase: CaKeyPassphrase): string {
  return createPrivateKey(keyPem).export({
    type: 'pkcs8',
    format: 'pem',
    cipher: 'aes-256-cbc',
    passphrase: passphrase.value,
  }) as string;
}

/**
 * The key as plain PEM, in memory only. An encrypted key without a passphrase, or with
 * the wrong one, is an error that names the key and the passphrase file.
 */
export function openKeyPem(keyPem: string, keyPath: string, passphrase: CaKeyPassphrase | undefined): string {
  if (!isEncryptedKeyPem(keyPem)) return keyPem;
  if (!passphrase)
    throw new BrokerError(
      'CA_KEY_LOCKED',
      `The CA key ${keyPath} is encrypted, and no passphrase is configured: set pki.ca_key_passphrase_file`,
      { path: keyPath },
    );
  try {
    return createPrivateKey({ key: keyPem, format: 'pem', passphrase: passphrase.value }).export({
      type: 'pkcs8',
      format: 'pem',
    }) as string;
  } catch {
    throw new BrokerError(
      'CA_KEY_LOCKED',
      `The CA key ${keyPath} could not be decrypted with the passphrase in ${passphrase.file} (wrong passphrase?)`,
      { path: keyPath, file: passphrase.file },
    );
  }
}
