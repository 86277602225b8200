/**
 * The CA's files on disk. Layout (all under `dir`, created 0700):
 *
 *   ca.crt  ca.key (0600)                 the CA; never overwritten unless asked; ca.key is
 *                                         encrypted PKCS#8 when a passphrase is given
 *   server.crt  server.key (0600)         the front's TLS identity
 *   crl.pem                               current CRL, reloaded into the TLS context
 *   delivery-client.crt/.key (0600)       the broker's own client cert for webhook mTLS
 *   clients/<cn>/client.crt, client.key (0600), ca.crt   issued client bundles
 *
 * Every file is written to a temporary name, fsynced and renamed into place, so a
 * reader (the front reloading the CRL, a restart after a crash) sees the old file or
 * the new one, never half of one.
 */
import {
  chmodSync,
  closeSync,
  existsSync,
  fchmodSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { randomBytes, X509Certificate } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { BrokerError } from '../errors.js';
import { keyMatchesCertificate, loadRsaPrivateKey } from './ca-signer.js';
import { type CaKeyPassphrase, encryptKeyPem, isEncryptedKeyPem, openKeyPem } from './ca-key-passphrase.js';
import type { CaMaterial, CertificateKeyPair } from './pki.types.js';

const DIR_MODE = 0o700;
const KEY_MODE = 0o600;
const CERT_MODE = 0o644;

/** Directory-safe client names: `name.domain`, no path separators, no leading dot. */
const CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface ClientBundle extends CertificateKeyPair {
  caPem: string;
}

export class CertStore {
  readonly dir: string;
  /** Only the CA actor and `mb` pass it (pki.ca_key_passphrase_file); the front never reads ca.key. */
  private readonly caKeyPassphrase: CaKeyPassphrase | undefined;

  constructor(dir: string, options: { caKeyPassphrase?: CaKeyPassphrase | undefined } = {}) {
    this.dir = dir;
    this.caKeyPassphrase = options.caKeyPassphrase;
  }

  get paths() {
    const at = (name: string) => join(this.dir, name);
    return {
      caCert: at('ca.crt'),
      caKey: at('ca.key'),
      serverCert: at('server.crt'),
      serverKey: at('server.key'),
      crl: at('crl.pem'),
      deliveryClientCert: at('delivery-client.crt'),
      deliveryClientKey: at('delivery-client.key'),
      clients: at('clients'),
    } as const;
  }

  // ── CA ──────────────────────────────────────────────────────────────────────────

  hasCa(): boolean {
    return existsSync(this.paths.caCert) && existsSync(this.paths.caKey);
  }

  /** The CA's certificate alone: no key is read (what a thread without the CA key may check against). */
  loadCaCertificate(): string {
    return readText(this.paths.caCert, 'CA (certificate)');
  }

  /** The CA with its key opened (decrypted in memory when it is encrypted on disk). */
  loadCa(): CaMaterial {
    const { caCert, caKey } = this.paths;
    const pair = {
      certPem: readText(caCert, 'CA (certificate)'),
      keyPem: openKeyPem(readText(caKey, 'CA (private key)'), caKey, this.caKeyPassphrase),
    };
    assertPairMatches(pair, 'CA');
    return pair;
  }

  /**
   * With a passphrase configured, a CA key still in plain PEM (made before the passphrase
   * was set) is rewritten encrypted, in place and atomically. True when it did so.
   */
  encryptCaKeyIfPlain(): boolean {
    if (!this.caKeyPassphrase || !this.hasCa()) return false;
    const keyPem = readText(this.paths.caKey, 'CA (private key)');
    if (isEncryptedKeyPem(keyPem)) return false;
    assertPairMatches({ certPem: readText(this.paths.caCert, 'CA (certificate)'), keyPem }, 'CA');
    writeAtomic(this.paths.caKey, encryptKeyPem(keyPem, this.caKeyPassphrase), KEY_MODE);
    return true;
  }

  /**
   * Replacing the CA invalidates every certificate it issued, so it takes an explicit
   * `overwrite`. Without it the files are linked into place, which fails atomically if
   * another process created them in the meantime.
   */
  saveCa(ca: CaMaterial, options: { overwrite?: boolean } = {}): void {
    assertPairMatches(ca, 'CA');
    const { caCert, caKey } = this.paths;
    if (!options.overwrite) {
      const existing = [caCert, caKey].filter((path) => existsSync(path));
      if (existing.length > 0) {
        throw new BrokerError(
          'CA_FAILURE',
          `A CA already exists in ${this.dir} (${existing.map((p) => basename(p)).join(', ')}); refusing to overwrite it without the overwrite option`,
        );
      }
    }
    this.ensureDir(this.dir);
    // Key first: a crash between the two leaves no certificate that claims a missing key.
    const keyPem = this.caKeyPassphrase ? encryptKeyPem(ca.keyPem, this.caKeyPassphrase) : ca.keyPem;
    writeAtomic(caKey, keyPem, KEY_MODE, !options.overwrite);
    writeAtomic(caCert, ca.certPem, CERT_MODE, !options.overwrite);
  }

  // ── Server and delivery client ──────────────────────────────────────────────────

  hasServer(): boolean {
    return existsSync(this.paths.serverCert) && existsSync(this.paths.serverKey);
  }

  /** The server certificate alone (its key is not read). */
  loadServerCertificate(): string {
    return readText(this.paths.serverCert, 'server certificate');
  }

  loadServer(): CertificateKeyPair {
    return this.loadPair(this.paths.serverCert, this.paths.serverKey, 'server certificate');
  }

  saveServer(pair: CertificateKeyPair): void {
    this.savePair(pair, this.paths.serverCert, this.paths.serverKey, 'server certificate');
  }

  hasDeliveryClient(): boolean {
    return existsSync(this.paths.deliveryClientCert) && existsSync(this.paths.deliveryClientKey);
  }

  loadDeliveryClient(): CertificateKeyPair {
    return this.loadPair(this.paths.deliveryClientCert, this.paths.deliveryClientKey, 'delivery client certificate');
  }

  saveDeliveryClient(pair: CertificateKeyPair): void {
    this.savePair(pair, this.paths.deliveryClientCert, this.paths.deliveryClientKey, 'delivery client certificate');
  }

  // ── CRL ─────────────────────────────────────────────────────────────────────────

  hasCrl(): boolean {
    return existsSync(this.paths.crl);
  }

  loadCrl(): string {
    return readText(this.paths.crl, 'CRL');
  }

  saveCrl(pem: string): void {
    if (!pem.includes('-----BEGIN X509 CRL-----')) throw new BrokerError('CA_FAILURE', 'Not a PEM-encoded CRL');
    this.ensureDir(this.dir);
    writeAtomic(this.paths.crl, pem, CERT_MODE);
  }

  // ── Issued client bundles ───────────────────────────────────────────────────────

  clientBundleDir(commonName: string): string {
    // The CN becomes a path component; anything else could escape the store.
    if (!CLIENT_NAME.test(commonName)) {
      throw new BrokerError(
        'CA_FAILURE',
        `"${commonName}" cannot name a client bundle directory (letters, digits, '.', '_', '-')`,
      );
    }
    return join(this.paths.clients, commonName);
  }

  /** Writes client.crt, client.key and ca.crt; a renewal replaces the previous bundle. */
  saveClientBundle(commonName: string, issued: CertificateKeyPair, caPem: string): string {
    assertPairMatches(issued, `client certificate for ${commonName}`);
    const dir = this.clientBundleDir(commonName);
    this.ensureDir(dir); // recursive: the store and clients/ get 0700 too
    writeAtomic(join(dir, 'client.key'), issued.keyPem, KEY_MODE);
    writeAtomic(join(dir, 'client.crt'), issued.certPem, CERT_MODE);
    writeAtomic(join(dir, 'ca.crt'), caPem, CERT_MODE);
    return dir;
  }

  hasClientBundle(commonName: string): boolean {
    return existsSync(join(this.clientBundleDir(commonName), 'client.crt'));
  }

  loadClientBundle(commonName: string): ClientBundle {
    const dir = this.clientBundleDir(commonName);
    const pair = this.loadPair(join(dir, 'client.crt'), join(dir, 'client.key'), `client bundle ${commonName}`);
    return { ...pair, caPem: readText(join(dir, 'ca.crt'), `CA certificate of client bundle ${commonName}`) };
  }

  listClientBundles(): string[] {
    if (!existsSync(this.paths.clients)) return [];
    return readdirSync(this.paths.clients, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && CLIENT_NAME.test(entry.name))
      .map((entry) => entry.name)
      .sort();
  }

  // ── Permissions ─────────────────────────────────────────────────────────────────

  /**
   * Brings the store, clients/ and every clients/<cn>/ down to 0700 if any is looser (a
   * `mkdir certs` by hand, a volume, a copy): they hold private keys, and a key file's 0600
   * does not hide that it exists nor stop a swap of the directory's entries. Returns what
   * it changed, for the caller to log. A directory it cannot chmod (another owner) is an
   * error: the broker then refuses to start rather than keep keys in a readable place.
   */
  tightenDirectories(): Array<{ path: string; was: number }> {
    const dirs = [this.dir, this.paths.clients, ...this.listClientBundles().map((cn) => join(this.paths.clients, cn))];
    const tightened: Array<{ path: string; was: number }> = [];
    for (const path of dirs) {
      let was: number;
      try {
        was = statSync(path).mode & 0o777;
      } catch {
        continue; // not there (yet): ensureDir creates it 0700
      }
      if ((was & 0o077) === 0) continue;
      try {
        chmodSync(path, DIR_MODE);
      } catch (error) {
        throw new BrokerError(
          'CA_FAILURE',
          `${path} holds private keys and is mode ${was.toString(8)}; it could not be made 0700 (${(error as NodeJS.ErrnoException).code ?? String(error)}): chmod 700 it or fix its owner`,
          { path },
        );
      }
      tightened.push({ path, was });
    }
    return tightened;
  }

  // ── Internals ───────────────────────────────────────────────────────────────────

  private loadPair(certPath: string, keyPath: string, what: string): CertificateKeyPair {
    const pair = {
      certPem: readText(certPath, `${what} (certificate)`),
      keyPem: readText(keyPath, `${what} (private key)`),
    };
    // Catches a half-finished replacement or files copied from elsewhere before they are used.
    assertPairMatches(pair, what);
    return pair;
  }

  private savePair(pair: CertificateKeyPair, certPath: string, keyPath: string, what: string): void {
    assertPairMatches(pair, what);
    this.ensureDir(this.dir);
    writeAtomic(keyPath, pair.keyPem, KEY_MODE);
    writeAtomic(certPath, pair.certPem, CERT_MODE);
  }

  private ensureDir(path: string): void {
    if (existsSync(path)) return;
    try {
      mkdirSync(path, { recursive: true, mode: DIR_MODE });
      chmodSync(path, DIR_MODE); // the umask may have narrowed it oddly; state it outright
    } catch (error) {
      throw fsFailure(`Could not create ${path}`, error);
    }
  }
}

function assertPairMatches(pair: CertificateKeyPair, what: string): void {
  let matches: boolean;
  try {
    matches = keyMatchesCertificate(loadRsaPrivateKey(pair.keyPem), new X509Certificate(pair.certPem));
  } catch (error) {
    if (error instanceof BrokerError) throw error;
    throw new BrokerError('CA_FAILURE', `The ${what} could not be read`, { cause: String(error) });
  }
  if (!matches) throw new BrokerError('CA_FAILURE', `The ${what} and its private key do not match`);
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new BrokerError('CA_FAILURE', `No ${what} at ${path}`, { path });
    }
    throw fsFailure(`Could not read ${path}`, error);
  }
}

/**
 * temp file (mode set by fchmod, so the umask cannot widen it) → fsync → rename, or
 * link when `exclusive` so an existing file is never replaced. The directory is fsynced
 * so the new name itself survives a crash.
 */
function writeAtomic(path: string, content: string, mode: number, exclusive = false): void {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fd = openSync(temp, 'wx', mode);
    try {
      fchmodSync(fd, mode);
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (exclusive) {
      linkSync(temp, path);
      rmSync(temp);
    } else {
      renameSync(temp, path);
    }
    fsyncDirectory(dirname(path));
  } catch (error) {
    rmSync(temp, { force: true });
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new BrokerError('CA_FAILURE', `${path} already exists; refusing to overwrite it`, { path });
    }
    throw fsFailure(`Could not write ${path}`, error);
  }
}

function fsyncDirectory(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsFailure(message: string, error: unknown): BrokerError {
  return new BrokerError('CA_FAILURE', message, { cause: (error as NodeJS.ErrnoException).code ?? String(error) });
}
