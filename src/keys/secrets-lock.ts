/**
 * One `mb keys` change at a time per secrets dir: two rotations at once would both read
 * k1, both write k2 with different bytes, and the loser's rows would be unreadable. A lock
 * file created with O_EXCL holds the writer's pid; one left by a dead process is taken over.
 */
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BrokerError } from '../errors.js';

const LOCK_FILE = '.mb-keys.lock';

export async function withSecretsLock<T>(dir: string, work: () => Promise<T>): Promise<T> {
  const path = join(dir, LOCK_FILE);
  await takeLock(path);
  try {
    return await work();
  } finally {
    await rm(path, { force: true });
  }
}

async function takeLock(path: string): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (pid > 0 && isAlive(pid))
        throw new BrokerError('BAD_REQUEST', `another mb keys command (pid ${pid}) is changing the keys; ${path}`);
      await rm(path, { force: true });
    }
  }
  throw new BrokerError('BAD_REQUEST', `cannot take ${path}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
