/**
 * Moves existing rows onto the active data key (re-encryption) or the active pepper
 * (re-hash), online, in batches:
 *
 *   for each old id:  SELECT … WHERE key_id = old AND id > last ORDER BY id LIMIT n
 *                     open the message (any known key, v1 or v2) → seal it under the
 *                     active key as `secrets.envelope_version` says (2: one envelope,
 *                     sender_enc emptied)
 *                     UPDATE … SET … CASE id … WHERE id IN (…) AND key_id = old
 *
 * Resumable by construction: what a crash leaves behind is exactly the rows still under
 * an old id, and the next run selects those. The optimistic `AND key_id = old` means a
 * row rewritten or purged meanwhile is left alone, so two runs at once are harmless. The
 * broker keeps serving throughout: it holds every key, so rows open whichever key they
 * are under, and new rows are sealed under the active key as soon as it has reloaded.
 *
 * A re-hash needs the number back: it opens the message (data keys) and hashes the number
 * with the new pepper. Plaintext lives only in this process's memory, a batch at a time.
 */
import {
  ENVELOPE_V1,
  ENVELOPE_V2,
  openMessage,
  sealEnvelope,
  sealMessage,
  type EnvelopeVersion,
  type OpenedMessage,
} from '../crypto/envelope.js';
import type { KeyStore, SecretKind } from '../crypto/key-store.js';
import { hashNumber } from '../crypto/number-hash.js';
import type { IdColumn, MessageKeysRepository, SealedRow } from '../db/message-keys.repository.js';

export const COLUMN_OF: Record<SecretKind, IdColumn> = { key: 'key_id', pepper: 'pepper_id' };

export interface RewriteProgress {
  from: string;
  to: string;
  rewritten: number;
}

export interface RewriteReport {
  kind: SecretKind;
  /** The active id rows were moved to. */
  target: string;
  rewritten: number;
  /** Rows changed by someone else between read and write (left as they were). */
  skipped: number;
  /** Rows that do not open (unknown key, damaged envelope); they keep their old id. */
  unreadable: number;
  /** Up to 20 message ids of unreadable rows, for the operator to look at. */
  unreadable_examples: string[];
  ms: number;
}

export interface RewriteOptions {
  batchSize: number;
  onProgress?: (progress: RewriteProgress) => void;
}

export class KeyRotationService {
  /** `envelopeVersion`: what re-encrypted rows are written as (`secrets.envelope_version`). */
  constructor(
    private readonly store: KeyStore,
    private readonly repo: MessageKeysRepository,
    private readonly envelopeVersion: EnvelopeVersion = ENVELOPE_V2,
  ) {}

  async rewrite(kind: SecretKind, options: RewriteOptions): Promise<RewriteReport> {
    const started = Date.now();
    const column = COLUMN_OF[kind];
    const target = this.store.ids(kind).active;
    // Ids in the table, not only in the file: a row under an id the file lost is reported
    // as unreadable rather than silently left out.
    const inTable = Object.keys(await this.repo.countById(column));
    const report: RewriteReport = {
      kind,
      target,
      rewritten: 0,
      skipped: 0,
      unreadable: 0,
      unreadable_examples: [],
      ms: 0,
    };
    for (const from of inTable.filter((id) => id !== target)) {
      let afterId = 0;
      for (;;) {
        const page = await this.repo.pageUnder(column, from, afterId, options.batchSize);
        if (page.length === 0) break;
        afterId = page.at(-1)!.id;
        const { written, unreadable } =
          kind === 'key' ? await this.reencrypt(page, from, target) : await this.rehash(page, from, target);
        report.rewritten += written.affected;
        report.skipped += written.attempted - written.affected;
        report.unreadable += unreadable.length;
        for (const id of unreadable) if (report.unreadable_examples.length < 20) report.unreadable_examples.push(id);
        options.onProgress?.({ from, to: target, rewritten: report.rewritten });
        if (page.length < options.batchSize) break;
      }
    }
    report.ms = Date.now() - started;
    return report;
  }

  private async reencrypt(page: SealedRow[], from: string, to: string) {
    const key = this.store.keyById(to)!;
    const unreadable: string[] = [];
    const rows: Array<{ id: number; body_enc: Buffer; sender_enc: Buffer }> = [];
    for (const row of page) {
      const opened = this.openRow(row);
      if (!opened) {
        unreadable.push(row.message_id);
        continue;
      }
      const aad = Buffer.from(row.message_id, 'utf8');
      rows.push(
        this.envelopeVersion === ENVELOPE_V1
          ? {
              id: row.id,
              body_enc: sealEnvelope(key, to, opened.body, aad),
              sender_enc: sealEnvelope(key, to, opened.sender, aad),
            }
          : {
              id: row.id,
              body_enc: sealMessage(key, to, opened.sender, opened.body, aad),
              sender_enc: Buffer.alloc(0),
            },
      );
      opened.body.fill(0);
      opened.sender.fill(0);
    }
    const affected = await this.repo.replaceEnvelopes(rows, from, to);
    return { written: { attempted: rows.length, affected }, unreadable };
  }

  private async rehash(page: SealedRow[], from: string, to: string) {
    const { pepper } = this.store.activePepper();
    const unreadable: string[] = [];
    const rows: Array<{ id: number; sender_hash: string }> = [];
    for (const row of page) {
      const opened = this.openRow(row);
      if (!opened) {
        unreadable.push(row.message_id);
        continue;
      }
      rows.push({ id: row.id, sender_hash: hashNumber(pepper, opened.sender.toString('utf8')) });
      opened.body.fill(0);
      opened.sender.fill(0);
    }
    const affected = await this.repo.replaceHashes(rows, from, to);
    return { written: { attempted: rows.length, affected }, unreadable };
  }

  /** Body and number of a row of either envelope form; undefined when it does not open. */
  private openRow(row: SealedRow): { body: Buffer; sender: Buffer } | undefined {
    let opened: OpenedMessage;
    try {
      opened = openMessage(
        (id) => this.store.keyById(id),
        row.body_enc,
        row.sender_enc,
        Buffer.from(row.message_id, 'utf8'),
      );
    } catch {
      return undefined;
    }
    const { body, sender } = opened;
    return sender ? { body, sender } : undefined;
  }
}
