/**
 * What sealing (and opening) a message costs in CPU, by way of what the ingest actor and
 * the encryption actor run: `EncryptionService.seal` (envelope(s), HMAC of the number,
 * mask) and `EncryptionService.open` with the number asked back (the webhook path). Messages of realistic
 * size: a 160-character body, an E.164 number, a UUID message id; batches as the ingest
 * actor sees them under load (--batch). CPU is this thread's (`process.threadCpuUsage()`),
 * per message, one line per round; the median of the rounds is the figure.
 *
 * The script only uses `EncryptionService` and `KeyStore`, whose signatures are the same
 * before and after envelope v2: copy it into a checkout of an older commit to compare
 * (one process per side, the sides taking turns):
 *
 *   npx tsx bench/seal-cost.ts [--messages 100000] [--batch 16] [--rounds 5] [--body-chars 160]
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { SealInput } from '../src/crypto/crypto.types.js';
import { EncryptionService } from '../src/crypto/encryption.service.js';
import { KeyStore } from '../src/crypto/key-store.js';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '100000' },
    batch: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '5' },
    'body-chars': { type: 'string', default: '160' },
  },
});
const total = Number(args.messages);
const batchSize = Number(args.batch);
const rounds = Number(args.rounds);
const bodyChars = Number(args['body-chars']);

const dir = await mkdtemp(join(tmpdir(), 'mb-seal-cost-'));
try {
  const store = await KeyStore.loadOrCreate(join(dir, 'secrets'));
  const service = new EncryptionService(store);
  const batches: SealInput[][] = [];
  for (let i = 0; i < total; i += batchSize)
    batches.push(
      Array.from({ length: Math.min(batchSize, total - i) }, (_, j) => ({
        message_id: randomUUID(),
        sender_number: `+4477009${String((i + j) % 100000).padStart(5, '0')}`,
        message_body: `${'Your code is 123456. '.repeat(Math.ceil(bodyChars / 21))}`.slice(0, bodyChars),
      })),
    );
  const seal: number[] = [];
  const open: number[] = [];
  for (let round = 0; round < rounds + 1; round++) {
    let started = process.threadCpuUsage();
    const sealed = batches.map((b) => service.seal(b));
    let used = process.threadCpuUsage(started);
    const sealUs = (used.user + used.system) / total;
    started = process.threadCpuUsage();
    let ok = 0;
    sealed.forEach((s, i) => {
      const results = service.open(
        s.map((m, j) => ({ message_id: batches[i]![j]!.message_id, body_enc: m.body_enc, sender_enc: m.sender_enc })),
      );
      for (const r of results) if (r.ok && r.sender_number !== undefined) ok++;
    });
    used = process.threadCpuUsage(started);
    const openUs = (used.user + used.system) / total;
    if (ok !== total) throw new Error(`only ${ok} of ${total} opened`);
    // Round 0 warms up (JIT, OpenSSL's first contexts) and is not counted.
    if (round > 0) {
      seal.push(sealUs);
      open.push(openUs);
    }
    console.log(
      `round ${round}${round === 0 ? ' (warm-up)' : ''}: seal ${sealUs.toFixed(2)} µs/msg, open ${openUs.toFixed(2)} µs/msg`,
    );
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(
    JSON.stringify({
      messages: total,
      batch: batchSize,
      body_chars: bodyChars,
      seal_us_per_msg: Number(median(seal).toFixed(2)),
      open_us_per_msg: Number(median(open).toFixed(2)),
    }),
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
