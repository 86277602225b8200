/**
 * `mb keys status|rotate|activate|reencrypt|retire`: data keys and HMAC peppers.
 *
 * Runs on a broker host as the broker's user: it loads the key files under secrets.dir
 * (the only place besides the encryption actor that ever does), changes them under a lock
 * file, and re-encrypts rows itself while the brokers keep running; they notice the new
 * files within `secrets.reload_interval_ms` (see src/actors/encryption/key-watcher.ts).
 * Multi-host: every host must hold the same files — `--stage` a new key, copy the file to
 * every host, then `activate` it and copy again (docs/deploy.md, "Key rotation").
 */
import type { Command } from 'commander';
import { envelopeVersionOf } from '../crypto/envelope.js';
import { KeyStore, type SecretKind } from '../crypto/key-store.js';
import { MessageKeysRepository } from '../db/message-keys.repository.js';
import { AuditRepository } from '../db/audit.repository.js';
import { listInstances, type InstanceReport } from '../instances/instance-registry.js';
import { COLUMN_OF, KeyRotationService } from '../keys/key-rotation.service.js';
import { DEFAULT_RETIRE_GRACE_MS, retirementBlockers } from '../keys/key-retirement.js';
import { keysFor } from '../queue/keys.js';
import { withSecretsLock } from '../keys/secrets-lock.js';
import { withContext, type CliContext } from './cli-context.js';
import { commandGroup, parseNonNegativeNumber, parsePositiveInt } from './cli-support.js';

interface KindOption {
  pepper?: boolean;
}
interface RewriteOptions extends KindOption {
  reencrypt?: boolean;
  batch: number;
  waitMs: number;
}

const kindOf = (options: KindOption): SecretKind => (options.pepper ? 'pepper' : 'key');
const say = (line: string): void => void process.stdout.write(`${line}\n`);

export function registerKeysCommands(program: Command): void {
  const group = commandGroup(program, 'keys').description(
    'Data keys and HMAC peppers: status, rotation, re-encryption, retirement',
  );
  const withKind = (command: Command) => command.option('--pepper', 'the HMAC pepper instead of the data key');
  const withRewrite = (command: Command) =>
    withKind(command)
      .option('--no-reencrypt', 'only switch keys; leave existing rows for a later mb keys reencrypt')
      // Parsed here: `abc` became NaN rows per batch, and a run that moved nothing said every row was moved.
      .option('--batch <n>', 'rows per batch', parsePositiveInt, 500)
      .option('--wait-ms <ms>', 'how long to wait for running brokers to switch', parseNonNegativeNumber, 30000);

  group
    .command('status')
    .description('Active key and pepper, rows under each, and what every running broker uses')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withContext(command, async (context) => {
        const store = await KeyStore.open(context.config.secrets.dir);
        const repo = new MessageKeysRepository(context.database().db);
        const status = {
          key: { ...store.ids('key'), rows: await repo.countById('key_id') },
          pepper: { ...store.ids('pepper'), rows: await repo.countById('pepper_id') },
          instances: await instancesOrNull(context),
        };
        if (options.json) return say(JSON.stringify(status, null, 2));
        for (const kind of ['key', 'pepper'] as const) {
          const s = status[kind];
          say(`${kind === 'key' ? 'data keys' : 'peppers'}: active ${s.active}`);
          for (const id of new Set([...s.all, ...Object.keys(s.rows)])) {
            const state =
              id === s.active
                ? 'active'
                : s.staged.includes(id)
                  ? 'staged'
                  : s.all.includes(id)
                    ? 'old'
                    : 'MISSING FROM FILE';
            say(`  ${id.padEnd(6)} ${state.padEnd(8)} ${s.rows[id] ?? 0} row(s)`);
          }
          if (s.retired.length > 0) say(`  retired: ${s.retired.join(', ')}`);
        }
        if (status.instances === null) return say('brokers: Redis does not answer, cannot tell');
        say(`brokers: ${status.instances.length} running`);
        for (const i of status.instances) {
          const k = i.keys;
          const lag =
            k && (k.active_key_id !== status.key.active || k.pepper_id !== status.pepper.active)
              ? "  ← differs from this host's files"
              : '';
          say(`  ${i.instance_id} (${i.host}) key ${k?.active_key_id ?? '?'} pepper ${k?.pepper_id ?? '?'}${lag}`);
        }
      });
    });

  withRewrite(
    group
      .command('rotate')
      .description('Create a new data key (or pepper), make it active and move existing rows onto it'),
  )
    .option('--stage', 'create it without activating (multi-host: distribute the file first, then mb keys activate)')
    .action(async (options: RewriteOptions & { stage?: boolean }, command: Command) => {
      await withContext(command, async (context) => {
        const kind = kindOf(options);
        const id = await withSecretsLock(context.config.secrets.dir, async () => {
          const store = await KeyStore.open(context.config.secrets.dir);
          const added = await store.addEntry(kind, { activate: false });
          // Recorded before it seals anything: an id another host made first with other
          // bytes is refused here, still inactive.
          await context.verifySecrets();
          if (!options.stage) await store.activate(kind, added);
          return added;
        });
        await audit(context, options.stage ? 'keys.stage' : 'keys.rotate', kind, id);
        if (options.stage) {
          say(`created ${kind} ${id} (staged, not active)`);
          say(
            `next: copy ${context.config.secrets.dir}/${kind === 'key' ? 'data-keys.json' : 'pepper.json'} to every broker host, then run mb keys activate ${id}${options.pepper ? ' --pepper' : ''}`,
          );
          return;
        }
        say(`created ${kind} ${id}; it is active`);
        await switchAndRewrite(context, kind, id, options);
      });
    });

  withRewrite(
    group
      .command('activate <id>')
      .description('Make a staged (or older) key or pepper the active one and move rows onto it'),
  ).action(async (id: string, options: RewriteOptions, command: Command) => {
    await withContext(command, async (context) => {
      const kind = kindOf(options);
      await withSecretsLock(context.config.secrets.dir, async () =>
        (await KeyStore.open(context.config.secrets.dir)).activate(kind, id),
      );
      await audit(context, 'keys.activate', kind, id);
      say(`${kind} ${id} is active`);
      await switchAndRewrite(context, kind, id, options);
    });
  });

  withKind(
    group
      .command('reencrypt')
      .description('Move rows still under old keys (or peppers) onto the active one; resumes where a run stopped'),
  )
    .option('--batch <n>', 'rows per batch', parsePositiveInt, 500)
    .action(async (options: KindOption & { batch: number }, command: Command) => {
      await withContext(command, async (context) => {
        await rewrite(context, kindOf(options), options.batch);
      });
    });

  withKind(
    group
      .command('retire [ids...]')
      .description(
        'Remove old keys (or peppers) that no row and no running broker uses; default: every such old one, never a staged one (name it to remove it)',
      ),
  )
    .option(
      '--grace-ms <ms>',
      'how long every broker must have used the new key',
      parseNonNegativeNumber,
      DEFAULT_RETIRE_GRACE_MS,
    )
    .action(async (ids: string[], options: KindOption & { graceMs: number }, command: Command) => {
      await withContext(command, async (context) => {
        const kind = kindOf(options);
        const blocked = await withSecretsLock(context.config.secrets.dir, async () => {
          const store = await KeyStore.open(context.config.secrets.dir);
          const repo = new MessageKeysRepository(context.database().db);
          const instances = await instancesOrNull(context);
          if (instances === null)
            throw new Error('Redis does not answer: cannot tell which keys the running brokers use; nothing retired');
          // A staged key (rotate --stage, being copied to every host) is not old: retired by
          // default, the `mb keys activate` that follows found no such key.
          const { all, active, staged } = store.ids(kind);
          const candidates = ids.length > 0 ? ids : all.filter((id) => id !== active && !staged.includes(id));
          let refused = 0;
          for (const id of candidates) {
            const blockers = await retirementBlockers(kind, id, {
              store,
              repo,
              instances,
              graceMs: options.graceMs,
              oldestUnstoredAt: await oldestUnstoredAt(context),
            });
            if (blockers.length > 0) {
              refused++;
              say(`kept ${id}: ${blockers.join('; ')}`);
              continue;
            }
            await store.retire(kind, id);
            await audit(context, 'keys.retire', kind, id);
            say(`retired ${kind} ${id}`);
          }
          if (candidates.length === 0) say(`no old ${kind} to retire`);
          return refused;
        });
        // Asked by name and refused: a script should notice.
        if (blocked > 0 && ids.length > 0) process.exitCode = 1;
      });
    });
}

/** After a switch: wait for running brokers to follow, then move the rows (unless told not to). */
async function switchAndRewrite(
  context: CliContext,
  kind: SecretKind,
  id: string,
  options: RewriteOptions,
): Promise<void> {
  const lagging = await waitForBrokers(context, kind, id, options.waitMs);
  if (lagging === null)
    say('Redis does not answer: cannot see the running brokers (they reload the key files on their own)');
  else if (lagging.length > 0) {
    say(
      `warning: ${lagging.map((i) => i.instance_id).join(', ')} still use${lagging.length === 1 ? 's' : ''} another ${kind}: give ${lagging.length === 1 ? 'that host' : 'those hosts'} the current key file; rows they store meanwhile are moved by the next mb keys reencrypt`,
    );
  }
  if (options.reencrypt === false)
    return say(`existing rows stay where they are; run mb keys reencrypt${kind === 'pepper' ? ' --pepper' : ''} later`);
  await rewrite(context, kind, options.batch);
}

async function rewrite(context: CliContext, kind: SecretKind, batchSize: number): Promise<void> {
  const store = await KeyStore.open(context.config.secrets.dir);
  const repo = new MessageKeysRepository(context.database().db);
  let shown = 0;
  const version = envelopeVersionOf(context.config.secrets.envelope_version);
  const report = await new KeyRotationService(store, repo, version).rewrite(kind, {
    batchSize,
    onProgress: ({ from, to, rewritten }) => {
      if (rewritten - shown >= 10_000) {
        shown = rewritten;
        say(`  … ${rewritten} row(s) moved (now ${from} → ${to})`);
      }
    },
  });
  const rate = report.ms > 0 ? Math.round((report.rewritten * 1000) / report.ms) : report.rewritten;
  say(
    `${kind === 'key' ? 're-encrypted' : 're-hashed'} ${report.rewritten} row(s) onto ${report.target} in ${report.ms} ms (${rate} rows/s)`,
  );
  if (report.skipped > 0) say(`  ${report.skipped} row(s) changed meanwhile and were left alone`);
  if (report.unreadable > 0) {
    say(
      `  ${report.unreadable} row(s) do not open with any key in the file; they keep their old id (e.g. ${report.unreadable_examples.slice(0, 5).join(', ')})`,
    );
    process.exitCode = 1;
  }
  const left = Object.entries(await repo.countById(COLUMN_OF[kind])).filter(([id]) => id !== report.target);
  if (left.length === 0)
    say(
      `every row is under ${report.target}; old ${kind}s can go: mb keys retire${kind === 'pepper' ? ' --pepper' : ''}`,
    );
  else
    say(
      `still under old ids: ${left.map(([id, n]) => `${id}=${n}`).join(', ')} (rows a lagging broker stored, or unreadable ones)`,
    );
}

/** Live brokers that do not yet report `id` as active after `timeoutMs`, or null without Redis. */
async function waitForBrokers(
  context: CliContext,
  kind: SecretKind,
  id: string,
  timeoutMs: number,
): Promise<InstanceReport[] | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const instances = await instancesOrNull(context);
    if (instances === null) return null;
    const lagging = instances.filter((i) => (kind === 'key' ? i.keys?.active_key_id : i.keys?.pepper_id) !== id);
    if (lagging.length === 0) {
      say(
        instances.length > 0
          ? `all ${instances.length} running broker(s) use ${id}`
          : 'no running broker reports in Redis; each picks the key up when it starts',
      );
      return [];
    }
    if (Date.now() >= deadline) return lagging;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function instancesOrNull(context: CliContext): Promise<InstanceReport[] | null> {
  try {
    return await listInstances(await context.redis(), context.config.redis.key_prefix);
  } catch {
    return null;
  }
}

/** Unix ms of the oldest entry of any domain stream (the id's time part), or null when all are empty. */
async function oldestUnstoredAt(context: CliContext): Promise<number | null> {
  const redis = await context.redis();
  const pipeline = redis.pipeline();
  for (const keys of keysFor(context.config).values()) pipeline.xrange(keys.stream, '-', '+', 'COUNT', 1);
  let oldest: number | null = null;
  for (const [error, reply] of (await pipeline.exec()) ?? []) {
    if (error) throw error;
    const id = (reply as Array<[string, string[]]>)[0]?.[0];
    if (id) oldest = Math.min(oldest ?? Number.POSITIVE_INFINITY, Number(id.split('-')[0]));
  }
  return oldest;
}

async function audit(context: CliContext, action: string, kind: SecretKind, id: string): Promise<void> {
  await new AuditRepository(context.database().db).record({
    actor: 'cli',
    action,
    target_type: kind === 'key' ? 'data_key' : 'pepper',
    target_id: id,
  });
}
