/**
 * `mb send --count N --concurrency C [--rate R]`: N submissions over C connections, paced
 * to R per second if asked (a broker's rate limit counts per client: 100 per minute by
 * default), summed up as throughput, latency percentiles and failures by code.
 */
import { failureCode, type ApiClient } from './api-client.js';

export interface LoadOptions {
  count: number;
  concurrency: number;
  /** Submissions started per second, 0 = as fast as the broker answers. */
  rate: number;
  body(n: number): Record<string, unknown>;
}

export interface LoadSummary {
  sent: number;
  accepted: number;
  duration_ms: number;
  accepted_per_s: number;
  latency_ms: { p50: number; p95: number; p99: number; max: number };
  /** Failures by error_code (or HTTP_<status>, or the transport's error code). */
  errors: Record<string, number>;
  message_ids: string[];
}

export async function runLoad(client: ApiClient, options: LoadOptions): Promise<LoadSummary> {
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  const ids: string[] = [];
  let next = 0;
  const started = performance.now();
  const gapMs = options.rate > 0 ? 1000 / options.rate : 0;

  const worker = async () => {
    for (;;) {
      const n = next++;
      if (n >= options.count) return;
      if (gapMs > 0) {
        const due = started + n * gapMs;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
      try {
        const answer = await client.post('/api/v1/messages', options.body(n));
        latencies.push(answer.ms);
        if (answer.status === 202 && typeof answer.body.message_id === 'string') ids.push(answer.body.message_id);
        else errors[failureCode(answer)] = (errors[failureCode(answer)] ?? 0) + 1;
      } catch (error) {
        errors[failureCode(error)] = (errors[failureCode(error)] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, options.count)) }, worker));
  const duration = performance.now() - started;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  return {
    sent: options.count,
    accepted: ids.length,
    duration_ms: round(duration),
    accepted_per_s: round((ids.length * 1000) / Math.max(duration, 1)),
    latency_ms: { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: round(latencies.at(-1) ?? 0) },
    errors,
    message_ids: ids,
  };
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
