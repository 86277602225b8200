/**
 * Notices key rotations done by `mb keys …` (or a key file copied in by an operator on a
 * multi-host install) and re-reads the key store, so a running broker seals with a new
 * active key within moments and can open rows re-encrypted under it.
 *
 *   <secrets.dir>/ ──fs.watch (inotify: at once)──┐
 *                 ──stat every reload_interval_ms─┴─▶ signature changed? ─▶ KeyStore.reload()
 *
 * fs.watch alone is not reliable (network filesystems, editors that replace the
 * directory, events lost under load); the poll is the guarantee, the watch the speed-up.
 * A check costs two stat calls.
 */
import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from '../logger.js';
import type { KeyStore, SecretKind } from './key-store.js';

export interface KeyWatcherOptions {
  store: KeyStore;
  dir: string;
  intervalMs: number;
  logger: Logger;
}

export class KeyWatcher {
  private timer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private signature = '';
  private checking: Promise<void> | undefined;
  private again = false;
  /** When each kind's active entry last changed in this process (start counts as a change). */
  readonly activeSince: Record<SecretKind, number> = { key: Date.now(), pepper: Date.now() };

  constructor(private readonly options: KeyWatcherOptions) {}

  async start(): Promise<void> {
    this.signature = await this.options.store.signature();
    this.timer = setInterval(() => void this.check(), this.options.intervalMs);
    this.timer.unref();
    try {
      this.watcher = watch(this.options.dir, { persistent: false }, () => void this.check());
      this.watcher.on('error', () => this.watcher?.close());
    } catch (error) {
      this.options.logger.warn({ err: (error as Error).message }, 'cannot watch the secrets dir; polling only');
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.watcher?.close();
  }

  /** Serialised: a burst of events runs one check, plus one more if any came during it. */
  check(): Promise<void> {
    if (this.checking) {
      this.again = true;
      return this.checking;
    }
    this.checking = this.run().finally(() => {
      this.checking = undefined;
      if (this.again) {
        this.again = false;
        void this.check();
      }
    });
    return this.checking;
  }

  private async run(): Promise<void> {
    const { store, logger } = this.options;
    try {
      const signature = await store.signature();
      if (signature === this.signature) return;
      const before = { key: store.ids('key').active, pepper: store.ids('pepper').active };
      const changed = await store.reload();
      // Only now: a file that failed to parse is tried again at the next check.
      this.signature = signature;
      if (!changed) return;
      const now = Date.now();
      for (const kind of ['key', 'pepper'] as const)
        if (store.ids(kind).active !== before[kind]) this.activeSince[kind] = now;
      logger.info(
        {
          active_key_id: store.activeKey().id,
          key_ids: store.ids('key').all,
          pepper_id: store.activePepper().id,
          pepper_ids: store.ids('pepper').all,
        },
        'encryption keys reloaded',
      );
    } catch (error) {
      // The message names the file and the kind of problem, never key material (KeyStore).
      logger.error(
        { err: (error as Error).message },
        'key files changed but cannot be read; keeping the keys in memory',
      );
    }
  }
}
