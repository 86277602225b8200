/**
 * Test support for the PKI tests: a throw-away directory and the openssl CLI as an
 * independent verifier (it shares no code with node-forge, so it catches encoding
 * mistakes that a forge round trip would hide). Not imported by runtime code.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CaMaterial } from './pki.types.js';

export interface Workdir {
  readonly dir: string;
  /** Writes a file and returns its path. */
  write(name: string, content: string | Uint8Array): string;
  read(name: string): string;
  remove(): void;
}

export function makeWorkdir(prefix = 'mb-pki-'): Workdir {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    write(name, content) {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    },
    read: (name) => readFileSync(join(dir, name), 'utf8'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface OpensslResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr together: openssl prints some reports (pkcs12 -info) on stderr. */
  output: string;
}

export function openssl(args: string[]): OpensslResult {
  const result = spawnSync('/usr/bin/openssl', args, { encoding: 'utf8' });
  return {
    status: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
    output: `${result.stdout}${result.stderr}`,
  };
}

/**
 * A second CA made by openssl (RSA-2048, so it is quick), for "another CA" cases and to
 * prove the issuer works with a CA it did not create. Same subject as ours by default,
 * which is the tricky case for name-based checks.
 */
export function opensslCa(work: Workdir, subject = '/O=Message Broker/CN=Test CA', name = 'other-ca'): CaMaterial {
  const keyPath = join(work.dir, `${name}.key`);
  const certPath = join(work.dir, `${name}.crt`);
  const result = openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-sha256',
    '-days',
    '30',
    '-subj',
    subject,
    '-keyout',
    keyPath,
    '-out',
    certPath,
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  if (result.status !== 0) throw new Error(`openssl req failed: ${result.output}`);
  return { certPem: readFileSync(certPath, 'utf8'), keyPem: readFileSync(keyPath, 'utf8') };
}
