/**
 * What a test broker has stored, read back the way an auditor would: the message rows of
 * the workspace database, opened with the workspace's own data keys (the files the
 * encryption actor uses), so a test can prove a body was stored exactly as sent — or not
 * at all. Also the error-schema check the hostile-input suites share.
 */
import { join } from 'node:path';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { expect } from 'vitest';
import { EncryptionService } from '../../src/crypto/encryption.service.js';
import { KeyStore } from '../../src/crypto/key-store.js';
import type { ApiResponse, Workspace } from './broker-harness.js';

export interface StoredRow {
  id: number;
  message_id: string;
  body_enc: Buffer;
  sender_enc: Buffer | null;
  /** As MariaDB returns a JSON column: text (MySQL's driver would parse it). */
  metadata: string | Record<string, unknown> | null;
}

export interface OpenedMessage {
  message_id: string;
  /** Undefined when the envelope does not open (wrong key, tampered, moved to another row). */
  message_body: string | undefined;
  sender_number: string | undefined;
}

export async function storedRows(workspace: Workspace): Promise<StoredRow[]> {
  const connection = await createConnection({ uri: workspace.database.url });
  try {
    const [rows] = await connection.query<RowDataPacket[]>(
      'SELECT id, message_id, body_enc, sender_enc, metadata FROM messages ORDER BY id',
    );
    return rows as StoredRow[];
  } finally {
    await connection.end();
  }
}

export async function storedCount(workspace: Workspace): Promise<number> {
  const connection = await createConnection({ uri: workspace.database.url });
  try {
    const [[row]] = (await connection.query('SELECT COUNT(*) AS n FROM messages')) as unknown as [[{ n: number }]];
    return Number(row.n);
  } finally {
    await connection.end();
  }
}

/** Where the harness puts the broker's data keys and pepper (see createWorkspace). */
export function secretsDirOf(workspace: Workspace): string {
  return join(workspace.dir, 'data/secrets');
}

/** Decrypts stored rows with the broker's keys; each row's message id is its AAD. */
export async function openStored(workspace: Workspace, rows: readonly StoredRow[]): Promise<OpenedMessage[]> {
  const service = new EncryptionService(await KeyStore.open(secretsDirOf(workspace)));
  const opened = service.open(
    rows.map((row) => ({ message_id: row.message_id, body_enc: row.body_enc, sender_enc: row.sender_enc })),
  );
  return opened.map((result, i) => ({
    message_id: rows[i]!.message_id,
    message_body: result.ok ? result.message_body : undefined,
    sender_number: result.ok ? result.sender_number : undefined,
  }));
}

/** A refusal in the one error schema, with its tracking id also in X-Request-Id. */
export function expectErrorSchema(response: ApiResponse, what: string): void {
  expect(response.status, what).toBeGreaterThanOrEqual(400);
  expect(response.status, what).toBeLessThan(500);
  expect(
    Object.keys(response.body).every((key) =>
      ['error_code', 'message', 'details', 'tracking_id', 'timestamp'].includes(key),
    ),
    what,
  ).toBe(true);
  expect(response.body, what).toMatchObject({
    error_code: expect.stringMatching(/^[A-Z_]+$/),
    message: expect.any(String),
    tracking_id: expect.any(String),
  });
  expect(Number.isNaN(Date.parse(String(response.body.timestamp))), what).toBe(false);
  expect(response.headers['x-request-id'], what).toBe(response.body.tracking_id);
}
