/**
 * Portal passwords: scrypt at OWASP's parameters in a PHC-style string,
 * `$scrypt$ln=15,r=8,p=3$<salt>$<hash>` (16-byte salt, 32-byte key, base64, no padding).
 * The parameters travel with the hash, so a later change of the cost still verifies old
 * hashes and `needsRehash` tells the login to replace them.
 *
 * OWASP lists five equivalent scrypt settings: N = 2^17, 2^16, 2^15, 2^14, 2^13 with
 * r = 8 and p = 1, 2, 3, 5, 10 — the same order of work, each half the memory of the one
 * before (128, 64, 32, 16, 8 MiB). The default is N = 2^15, p = 3: 32 MiB per hash
 * instead of 128. That memory is the broker's: a hash is one malloc in a libuv thread, and
 * at N = 2^17 the first start's admin password alone was the peak RSS of a whole bench run
 * (371 MB against 311 MB under load, docs/performance-history.md), two sign-ins at once +256 MB.
 * `portal.scrypt_log_n` picks the row; p follows from it (`pFor`) unless `portal.scrypt_p` sets it.
 *
 * (argon2id would be the first choice, but node:crypto has it only from Node 24.7 and the
 * project runs on Node 20 without native add-ons.)
 *
 * One hash takes ≈ 0.2–0.3 s of a libuv thread: at most `MAX_CONCURRENT` run at once, so a
 * burst of sign-ins cannot exhaust memory or starve the thread pool other I/O needs.
 *
 * The accounts one email has in several tenants share one salt (`hash(password, saltOf)`
 * with a sibling's hash), so a sign-in without a domain derives once and compares the key
 * with each account's (`verifyEach`): its time does not grow with the number of accounts,
 * which would tell a visitor that the email has accounts elsewhere (#17, docs/security.md).
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** log2(N) of new hashes by default: 32 MiB each (OWASP's N = 2^15, r = 8, p = 3). */
export const DEFAULT_LOG_N = 15;
const R = 8;
/** OWASP's parallelism for each N (r = 8): the rows of its table of equivalent settings. */
const OWASP_P: Readonly<Record<number, number>> = { 17: 1, 16: 2, 15: 3, 14: 5, 13: 10 };
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

  private readonly p: number;

  /** `p` 0 or absent: OWASP's for `logN` (`pFor`). */
  constructor(
    private readonly logN: number = DEFAULT_LOG_N,
    p = 0,
  ) {
    this.p = p > 0 ? p : pFor(logN);
  }

  /**
   * A new hash. With `saltOf` (another hash of the same email's accounts, or the account's
   * own) it keeps that hash's salt, so the email's accounts still derive once together.
   */
  async hash(password: string, saltOf?: string): Promise<string> {
    const salt = (saltOf === undefined ? undefined : parseHash(saltOf)?.salt) ?? randomBytes(SALT_BYTES);
    const key = await this.derive(password, salt, { logN: this.logN, r: R, p: this.p });
    return `$scrypt$ln=${this.logN},r=${R},p=${this.p}$${b64(salt)}$${b64(key)}`;
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

  /**
   * The stored hash is weaker than what new hashes get (less work, N·r·p), or needs more
   * memory to verify (N·r): a hash from before the default moved to 32 MiB (ln=17, p=1) is
   * replaced at its next sign-in, so that sign-ins stop costing 128 MiB each.
   */
  needsRehash(stored: string): boolean {
    const parsed = parseHash(stored);
    if (!parsed) return true;
    const { logN, r, p } = parsed.params;
    const memory = 2 ** logN * r;
    return r < R || memory * p < 2 ** this.logN * R * this.p || memory > 2 ** this.logN * R;
  }

  private async derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
    await this.acquire();
    try {
      const N = 2 ** params.logN;
      // scrypt needs 128·N·r bytes (p runs one after another in that memory); Node's
      // default cap (32 MiB) is that exactly at N = 2^15 and below it above.
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

/** scrypt's p for a given log2(N): OWASP's pairing from 2^13 to 2^17, 1 outside it (above: more than enough; below: tests). */
export function pFor(logN: number): number {
  return OWASP_P[logN] ?? 1;
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
