/**
 * Pooled MySQL connections whose query gets no answer, found and dropped.
 *
 * mysql2 has no deadline on a query, and a connection whose packets go nowhere (a network
 * partition, a host gone without a reset, a proxy that forgot the session) is not an error
 * to TCP while the far end acknowledges or the path stays silent: its query waited for
 * ever. The store pipeline's INSERT was such a query, so after MySQL had been unreachable
 * for a moment the backlog was never stored, the health said storing worked, and every
 * pooled connection that met the outage stayed stuck until a restart.
 *
 * A deadline per query would kill a legitimately slow one (a migration, a purge, a lock
 * wait), so a connection silent for `silentMs` with a query out is not dropped on time
 * alone: MySQL is asked, over a connection of its own, what it is doing for that
 * connection (`information_schema.PROCESSLIST`, by the connection's thread id). Working on
 * it: left alone. Idle or unknown there (the query never arrived, or its answer was lost):
 * the session is killed on the server (it may hold a transaction's locks) and the socket
 * destroyed, which fails the query with a connection error the caller retries. MySQL not
 * answering the question at all: destroyed too, as the path is down anyway.
 */
import type { Socket } from 'node:net';
import { createConnection } from 'mysql2/promise';
import type { Pool } from 'mysql2/promise';

/** The parts of mysql2's core connection this reads; `_command` is its query in flight (mysql2 3.x). */
interface CoreConnection {
  threadId: number | null;
  stream: Socket;
  _command?: unknown;
  on(event: 'end' | 'error', listener: () => void): unknown;
}

interface Watched {
  lastRead: number;
  lastWritten: number;
  bytesWritten: number;
  /** When MySQL last said it runs this connection's query: asked again only a silence later. */
  lastAsked: number;
}

export interface SilentConnectionOptions {
  /** The pool's own URL: the check connects as the same user, who sees its own sessions. */
  url: string;
  /** How long a query may go without a byte from MySQL before MySQL is asked about it. */
  silentMs: number;
  /** How often connections are looked at. @defaultValue 1000 */
  everyMs?: number;
  /** Told each connection dropped and why. */
  onDropped?: (threadId: number | null, why: string) => void;
}

/** Commands MySQL reports for a session with nothing to do: the query we wait for is not running. */
const IDLE_COMMANDS = new Set(['Sleep', 'Killed']);

/** Starts watching the pool's connections; returns the stop function. */
export function watchSilentConnections(pool: Pool, options: SilentConnectionOptions): () => void {
  if (options.silentMs <= 0) return () => undefined;
  const watched = new Map<CoreConnection, Watched>();
  pool.pool.on('connection', (connection) => {
    const core = connection as unknown as CoreConnection;
    const state: Watched = { lastRead: Date.now(), lastWritten: Date.now(), bytesWritten: 0, lastAsked: 0 };
    watched.set(core, state);
    // A second 'data' listener: mysql2 keeps its own, the stream stays in flowing mode.
    core.stream.on('data', () => (state.lastRead = Date.now()));
    const forget = () => watched.delete(core);
    core.on('end', forget);
    core.on('error', forget);
    core.stream.once('close', forget);
  });

  let checking = false;
  const timer = setInterval(() => {
    if (checking) return;
    const now = Date.now();
    const silent: CoreConnection[] = [];
    for (const [core, state] of watched) {
      // Written since the last look: a query just went out, its silence starts now.
      if (core.stream.bytesWritten !== state.bytesWritten) {
        state.bytesWritten = core.stream.bytesWritten;
        state.lastWritten = now;
      }
      const quietSince = Math.max(state.lastRead, state.lastWritten, state.lastAsked);
      if (core._command && now - quietSince >= options.silentMs) silent.push(core);
    }
    if (silent.length === 0) return;
    checking = true;
    void dropUnanswered(silent, options, {
      // Its answer came while MySQL was asked (the query ended meanwhile): not silent after all.
      stillSilent: (core) => Boolean(core._command) && (watched.get(core)?.lastRead ?? now) < now,
      running: (core) => {
        const state = watched.get(core);
        if (state) state.lastAsked = Date.now();
      },
    })
      .catch(() => undefined)
      .finally(() => (checking = false));
  }, options.everyMs ?? 1000);
  timer.unref();
  return () => clearInterval(timer);
}

async function dropUnanswered(
  silent: CoreConnection[],
  options: SilentConnectionOptions,
  seen: { stillSilent: (core: CoreConnection) => boolean; running: (core: CoreConnection) => void },
): Promise<void> {
  const ids = silent.map((core) => core.threadId).filter((id): id is number => id !== null);
  let running: Map<number, string> | undefined;
  let check;
  // Time enough for a busy MySQL to answer, short enough not to hold the pool's callers long.
  const askMs = Math.min(Math.max(options.silentMs, 2000), 5000);
  try {
    check = await createConnection({ uri: options.url, connectTimeout: askMs });
    const asked = check.query<Array<{ ID: number; COMMAND: string } & import('mysql2').RowDataPacket>>(
      'SELECT ID, COMMAND FROM information_schema.PROCESSLIST WHERE ID IN (?)',
      [ids.length > 0 ? ids : [0]],
    );
    const [rows] = await withDeadline(asked, askMs);
    running = new Map(rows.map((row) => [Number(row.ID), row.COMMAND]));
    for (const core of silent) {
      const command = core.threadId === null ? undefined : running.get(core.threadId);
      if (command === undefined || !IDLE_COMMANDS.has(command) || !seen.stillSilent(core)) continue;
      // Its transaction's locks go with it (a retried INSERT of the same rows would wait for them).
      await withDeadline(check.query(`KILL CONNECTION ${Number(core.threadId)}`), askMs).catch(() => undefined);
    }
  } catch {
    running = undefined; // MySQL did not answer the question either: every silent connection goes.
  } finally {
    check?.destroy();
  }
  for (const core of silent) {
    const command = running && core.threadId !== null ? running.get(core.threadId) : undefined;
    if (command !== undefined && !IDLE_COMMANDS.has(command)) {
      seen.running(core); // MySQL is working on it
      continue;
    }
    if (!seen.stillSilent(core)) continue;
    const why =
      running === undefined
        ? `no answer for ${options.silentMs} ms and MySQL unreachable`
        : command === undefined
          ? `no answer for ${options.silentMs} ms; MySQL no longer knows the connection`
          : `no answer for ${options.silentMs} ms; MySQL had the connection idle`;
    options.onDropped?.(core.threadId, why);
    core.stream.destroy(Object.assign(new Error(`MySQL connection dropped: ${why}`), { code: 'ETIMEDOUT' }));
  }
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
