/**
 * The encryption actor for real: compiled, in a worker thread, spoken to over RpcPeer,
 * with a batch large enough to go through its piscina pool.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/config.js';
import { RpcPeer } from '../../rpc/rpc-peer.js';
import type { ActorWorkerData } from '../actor.protocol.js';
import type { EncryptionProtocol } from './encryption.protocol.js';
import type { SealInput } from '../../crypto/crypto.types.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const actorFile = new URL('../../../dist/actors/encryption/encryption.actor.js', import.meta.url);

let dir: string;
let worker: Worker;
let peer: RpcPeer<EncryptionProtocol>;

/** Builds dist/ unless it is newer than every source file (a full build takes seconds). */
function build(): void {
  const built = statOrUndefined(fileURLToPath(actorFile))?.mtimeMs ?? 0;
  const sources = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' }).filter(
    (file) => file.endsWith('.ts') && !file.endsWith('.test.ts'),
  );
  if (sources.every((file) => (statOrUndefined(join(root, 'src', file))?.mtimeMs ?? 0) < built)) return;
  try {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'pipe' });
  } catch {
    // Other folders may be mid-edit and fail to typecheck; tsc still emits, and a missing
    // actor file shows up below as a failed start.
  }
}

function statOrUndefined(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function messages(count: number, body = (i: number) => `body ${i} — 🚀 שלום`): SealInput[] {
  return Array.from({ length: count }, (_, i) => ({
    message_id: randomUUID(),
    sender_number: `+44${String(7000000000 + i)}`,
    message_body: body(i),
  }));
}

async function startActor(values: Record<string, unknown>): Promise<Worker> {
  const config = loadConfig({ values, env: {}, argv: [] });
  const workerData: ActorWorkerData = { name: 'encryption', config, peers: {}, faultInjection: false };
  const started = new Worker(actorFile, { workerData });
  await new Promise<void>((resolve, reject) => {
    const onMessage = (message: unknown) => {
      if ((message as { kind?: string }).kind !== 'ready') return;
      started.off('message', onMessage);
      resolve();
    };
    started.on('message', onMessage);
    started.once('error', reject);
    started.once('exit', (code) => reject(new Error(`encryption actor exited with ${code} before ready`)));
  });
  return started;
}

beforeAll(async () => {
  build();
  dir = await mkdtemp(join(tmpdir(), 'mb-encryption-actor-'));
  worker = await startActor({ secrets: { dir: join(dir, 'secrets') } });
  peer = new RpcPeer<EncryptionProtocol>({ peerName: 'encryption', timeoutMs: 30_000 }, worker);
}, 120_000);

afterAll(async () => {
  await worker?.terminate();
  await rm(dir, { recursive: true, force: true });
});

describe('encryption actor', () => {
  it('reports its keys in health', async () => {
    const health = await peer.call('actor.health', {});
    expect(health).toMatchObject({ status: 'up', details: { active_key_id: 'k1', pepper_id: 'p1', key_count: 1 } });
  });

  it('seals and opens a batch of 2000 through its pool', async () => {
    const input = messages(2000, (i) => (i % 2 ? 'm'.repeat(1000) : `emoji 🚀 and RTL مرحبا #${i}`));
    const { items: sealed } = await peer.call('encryption.seal', { items: input });
    expect(sealed).toHaveLength(2000);
    expect(sealed[0]!.body_enc).toBeInstanceOf(Uint8Array);
    expect(sealed[0]!.sender_masked).toBe('+447*****0000');
    const health = await peer.call('actor.health', {});
    expect(health.details?.pool_threads).toBeGreaterThan(0); // the batch did go to the pool

    const { items: opened } = await peer.call('encryption.open', {
      items: sealed.map((s, i) => ({
        message_id: input[i]!.message_id,
        body_enc: s.body_enc,
        sender_enc: s.sender_enc,
      })),
    });
    opened.forEach((o, i) => {
      expect(o).toEqual({ ok: true, message_body: input[i]!.message_body, sender_number: input[i]!.sender_number });
    });
  });

  it('fails a moved ciphertext per item, inline and in the pool', async () => {
    for (const count of [3, 1000]) {
      const input = messages(count);
      const { items: sealed } = await peer.call('encryption.seal', { items: input });
      const items = sealed.map((s, i) => ({ message_id: input[i]!.message_id, body_enc: s.body_enc }));
      items[0]!.body_enc = sealed[1]!.body_enc;
      const { items: opened } = await peer.call('encryption.open', { items });
      expect(opened[0]).toMatchObject({ ok: false, error: { code: 'CRYPTO_FAILURE' } });
      expect(opened.slice(1).every((o) => o.ok)).toBe(true);
    }
  });

  it('seals two v1 envelopes through its pool with secrets.envelope_version: 1, and opens them', async () => {
    const v1 = await startActor({ secrets: { dir: join(dir, 'secrets'), envelope_version: 1 } });
    try {
      const v1Peer = new RpcPeer<EncryptionProtocol>({ peerName: 'encryption', timeoutMs: 30_000 }, v1);
      const input = messages(2000);
      const { items: sealed } = await v1Peer.call('encryption.seal', { items: input });
      for (const s of [sealed[0]!, sealed[1999]!]) {
        expect(s.body_enc[0]).toBe(1);
        expect(s.sender_enc[0]).toBe(1);
      }
      // The default actor (v2) opens them: both forms open everywhere.
      const { items } = await peer.call('encryption.open', {
        items: sealed.map((s, i) => ({
          message_id: input[i]!.message_id,
          body_enc: s.body_enc,
          sender_enc: s.sender_enc,
        })),
      });
      expect(items[1999]).toEqual({
        ok: true,
        message_body: input[1999]!.message_body,
        sender_number: input[1999]!.sender_number,
      });
      expect(items.every((r) => r.ok)).toBe(true);
    } finally {
      await v1.terminate();
    }
  });

  it('hashes like it seals', async () => {
    const [m] = messages(1);
    const { items } = await peer.call('encryption.seal', { items: [m!] });
    const { hashes } = await peer.call('encryption.hash', { numbers: [m!.sender_number] });
    expect(hashes).toEqual([[items[0]!.sender_hash]]);
  });

  it('turns a bad request into a coded error, inline and in the pool', async () => {
    for (const count of [1, 600]) {
      const items = messages(count);
      (items[count - 1] as unknown as Record<string, unknown>).message_body = 42;
      await expect(peer.call('encryption.seal', { items })).rejects.toMatchObject({ code: 'INVALID_PAYLOAD' });
    }
    const notAnArray = { numbers: 'x' } as unknown as { numbers: string[] };
    await expect(peer.call('encryption.hash', notAnArray)).rejects.toMatchObject({ code: 'INVALID_PAYLOAD' });
  });

  it('measures seal throughput for 160-byte bodies (inline and pooled)', async () => {
    const body = 'x'.repeat(160);
    for (const [label, batch, rounds] of [
      ['inline', 500, 20],
      ['pool', 4000, 5],
    ] as const) {
      const batches = Array.from({ length: rounds }, () => messages(batch, () => body));
      await peer.call('encryption.seal', { items: batches[0]! }); // warm up (pool threads start)
      const started = process.hrtime.bigint();
      for (const items of batches) await peer.call('encryption.seal', { items });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      console.log(
        `encryption actor seal via RPC, ${label} (batch ${batch}): ${Math.round((batch * rounds) / seconds)} msg/s`,
      );
    }
  });

  it('drains: closes its pool and refuses new work', async () => {
    await peer.call('actor.drain', {});
    await expect(peer.call('encryption.hash', { numbers: ['+12345678901'] })).rejects.toMatchObject({
      code: 'SHUTTING_DOWN',
    });
  });
});
