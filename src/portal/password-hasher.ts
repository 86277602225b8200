/**
 * Portal passwords: scrypt at the OWASP parameters (N = 2^17, r = 8, p = 1, 16-byte salt,
 * 32-byte key) in a PHC-style string, `$scrypt$ln=17,r=8,p=1$<salt>$<hash>` (base64, no
 * padding). The parameters travel with the hash, so a later rise of the cost still
 * verifies old hashes and `needsRehash` tells the login to upgrade them.
 *
 * (argon2id would be the first choice, but node:crypto has it only from Node 24.7 and the
 * project runs on Node 20 without native add-ons.)
 *
 * One hash at N = 2^17 takes 128 MiB and ~0.3 s of a libuv thread: at most
 * `MAX_CONCURRENT` run at once, so a burst of sign-ins cannot exhaust memory or starve
 * the thread pool other I/O needs.
 *
 * The accounts one email has in several tenants share one salt (`hash(password, saltOf)`
 * with a sibling's hash), so a sign-in without a domain derives once and compares the key
 * with each account's (`verifyEach`): its time does not grow with the number of accounts,
 * which would tell a visitor that the email has accounts elsewhere (#17, docs/security.md).
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export const OWASP_LOG_N = 17;
const R = 8;
const P = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
const MAX_CONCURRENT = 2;
const PHC = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,})\$([A-Za-z0-9+/]{16,})$/;

export interface ScryptParams {
  logN: number;
  r: number;
  p: number;
}

export class PasswordHasher {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  /** Verified against when the account does not exist, so both cases take as long. */
  private dummy: Promise<string> | undefined;

  constructor(private readonly logN: number = OWASP_LOG_N) {}

  /**
   * A new hash. With `saltOf` (another hash of the same email's accounts, or the account's
   * own) it keeps that hash's salt, so the email's accounts still derive once together.
   */
  async hash(password: string, saltOf?: string): Promise<string> {
    const salt = (saltOf === undefined ? undefined : parseHash(saltOf)?.salt) ?? randomBytes(SALT_BYTES);
    const key = await this.derive(password, salt, { logN: this.logN, r: R, p: P });
    return `$scrypt$ln=${this.logN},r=${R},p=${P}$${b64(salt)}$${b64(key)}`;
  }

  /** False for a wrong password and for a hash this code cannot read (never throws on input). */
  async verify(password: string, stored: string): Promise<boolean> {
    const parsed = parseHash(stored);
    if (!parsed) return false;
    const key = await this.derive(password, parsed.salt, parsed.params);
    return key.length === parsed.key.length && timingSafeEqual(key, parsed.key);
  }

  /**
   * Which of the hashes the password matches, deriving once per distinct salt and cost
   * (once for accounts made by `hash(…, saltOf)`): unreadable hashes are false.
   */
  async verifyEach(password: string, stored: readonly string[]): Promise<boolean[]> {
    const derived = new Map<string, Promise<Buffer>>();
    const parsed = stored.map(parseHash);
    for (const hash of parsed) {
      if (!hash) continue;
      const group = derivationOf(hash);
      if (!derived.has(group)) derived.set(group, this.derive(password, hash.salt, hash.params));
    }
    const keys = new Map<string, Buffer>();
    for (const [group, key] of derived) keys.set(group, await key);
    return parsed.map((hash) => {
      if (!hash) return false;
      const key = keys.get(derivationOf(hash))!;
      return key.length === hash.key.length && timingSafeEqual(key, hash.key);
    });
  }

  /** Spends the time of one verification, for sign-ins with an unknown email. */
  async verifyNothing(password: string): Promise<false> {
    this.dummy ??= this.hash(randomBytes(16).toString('hex'));
    await this.verify(password, await this.dummy);
    return false;
  }

  /** The stored hash is weaker than what new hashes get. */
  needsRehash(stored: string): boolean {
    const parsed = parseHash(stored);
    return !parsed || parsed.params.logN < this.logN || parsed.params.r < R;
  }

  private async derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
    await this.acquire();
    try {
      const N = 2 ** params.logN;
      // scrypt needs 128·N·r bytes; Node's default cap (32 MiB) is below the OWASP setting.
      const options: ScryptOptions = { N, r: params.r, p: params.p, maxmem: 2 * 128 * N * params.r };
      return await new Promise<Buffer>((resolve, reject) =>
        scrypt(password.normalize('NFC'), salt, KEY_BYTES, options, (error, key) =>
          error ? reject(error) : resolve(key),
        ),
      );
    } finally {
      this.release();
    }
  }

  private acquire(): Promise<void> {
    if (this.running < MAX_CONCURRENT) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }
}

export function parseHash(stored: string): { params: ScryptParams; salt: Buffer; key: Buffer } | undefined {
  const match = PHC.exec(stored);
  if (!match) return undefined;
  const params = { logN: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
  // Refuse parameters that would make verification itself a denial of service.
  if (params.logN < 1 || params.logN > 20 || params.r < 1 || params.r > 32 || params.p < 1 || params.p > 16)
    return undefined;
  return { params, salt: Buffer.from(match[4]!, 'base64'), key: Buffer.from(match[5]!, 'base64') };
}

/** A readable random password (20 characters from a 56-symbol alphabet without look-alikes, ~116 bits). */
export function generatePassword(length = 20): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789';
  const out: string[] = [];
  // Rejection sampling keeps every symbol equally likely.
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 256 - (256 % alphabet.length) && out.length < length) out.push(alphabet[byte % alphabet.length]!);
    }
  }
  return out.join('');
}

/** The portal's password rule: long enough to matter, short enough to bound hashing work. */
export function passwordProblem(password: string): string | undefined {
  if (password.length < 12) return 'Passwords need at least 12 characters';
  if (password.length > 256) return 'Passwords can have at most 256 characters';
  return undefined;
}

/** Hashes with the same derivation key need one scrypt between them. */
function derivationOf(hash: { params: ScryptParams; salt: Buffer }): string {
  return `${hash.params.logN},${hash.params.r},${hash.params.p}$${hash.salt.toString('base64')}`;
}

function b64(buffer: Buffer): string {
  return buffer.toString('base64').replace(/=+$/, '');
}
