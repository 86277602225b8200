/**
 * What both load clients (wrk-like and undici) count and share: when to stop, the
 * request each one sends, and the tally of answers, latencies and errors by code.
 */
import type { LoadOptions } from './load-generator.js';

export class LoadTally {
  sent = 0;
  accepted = 0;
  readonly errors: Record<string, number> = {};
  readonly latencies: number[] = [];
  readonly startedAt = Date.now();
  private readonly deadline: number;

  constructor(private readonly options: Pick<LoadOptions, 'count' | 'durationS'>) {
    this.deadline = this.startedAt + options.durationS * 1000;
  }

  /** Whether another request should start: by count when one is set, otherwise by time. */
  more(): boolean {
    return this.options.count !== undefined ? this.sent < this.options.count : Date.now() < this.deadline;
  }

  answered(latencyMs: number, status: number, body: string | undefined): void {
    this.latencies.push(latencyMs);
    if (status === 202) this.accepted++;
    else this.failed(errorCodeOf(status, body ?? ''));
  }

  failed(code: string): void {
    this.errors[code] = (this.errors[code] ?? 0) + 1;
  }
}

/** The broker's `error_code` from an error body, or `HTTP_<status>` when there is none. */
export function errorCodeOf(status: number, body: string): string {
  try {
    return (JSON.parse(body) as { error_code?: string }).error_code ?? `HTTP_${status}`;
  } catch {
    return `HTTP_${status}`;
  }
}

/** The message every request submits: `size` characters of body from one sender. */
export function messageJson(size: number): string {
  return JSON.stringify({ sender_number: '+14155550123', message_body: 'x'.repeat(Math.max(1, size)) });
}

/** The submit endpoint under the broker's URL (which may carry a path prefix). */
export function messagesPath(url: URL): string {
  return `${url.pathname.replace(/\/$/, '')}/api/v1/messages`;
}
