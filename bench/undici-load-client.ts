/**
 * The load generator's former client, kept for comparison (`--client undici`): undici's
 * Agent with `connections` keep-alive sockets, one request at a time on each, through the
 * dispatcher API. It costs the load generator 0.08–0.09 ms of CPU per request against
 * `bench:floor`, the wrk-like client (bench/wrk-load-client.ts) 0.048 (2026-12-06): CPU
 * the broker on the same two cores would otherwise get.
 */
import { randomUUID } from 'node:crypto';
import { Agent } from 'undici';
import type { LoadOptions } from './load-generator.js';
import { type LoadTally, messageJson, messagesPath } from './load-tally.js';
import type { ResumingTlsDialer } from './resuming-tls-dialer.js';

export async function driveWithUndici(
  options: LoadOptions,
  dialer: ResumingTlsDialer,
  tally: LoadTally,
): Promise<void> {
  const agent = new Agent({
    connections: options.connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    connect: (connectOptions, callback) =>
      dialer.dial(
        { hostname: connectOptions.hostname, port: Number(connectOptions.port), servername: connectOptions.servername },
        // undici's callback is typed as two overloads (error, null) | (null, socket).
        (error, socket) => (error ? callback(error, null) : callback(null, socket!)),
      ),
  });
  const body = messageJson(options.size);
  const url = new URL(options.url);
  const path = messagesPath(url);

  const worker = async () => {
    while (tally.more()) {
      tally.sent++;
      const t0 = performance.now();
      try {
        const response = await post(agent, {
          origin: url.origin,
          path,
          headers: options.idempotency
            ? { 'content-type': 'application/json', 'idempotency-key': randomUUID() }
            : { 'content-type': 'application/json' },
          body,
          reset: options.reconnect,
        });
        tally.answered(performance.now() - t0, response.status, response.body);
      } catch (error) {
        tally.failed((error as { code?: string }).code ?? 'CLIENT_ERROR');
      }
    }
  };
  await Promise.all(Array.from({ length: options.connections }, worker));
  await agent.close();
}

/**
 * One POST through undici's dispatcher API: no Readable body, no promise chain per
 * chunk. `request()` costs the load generator about twice the CPU per request (measured
 * against a plain HTTPS server: 0.22 vs 0.12 ms). The body of a 202 is not kept; an
 * error's body is, for its code.
 */
function post(
  agent: Agent,
  options: { origin: string; path: string; headers: Record<string, string>; body: string; reset: boolean },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let text = '';
    agent.dispatch(
      {
        origin: options.origin,
        path: options.path,
        method: 'POST',
        headers: options.headers,
        body: options.body,
        reset: options.reset,
      },
      {
        // Its presence tells undici this handler speaks the controller API.
        onRequestStart() {},
        onResponseStart(_controller, statusCode) {
          status = statusCode;
        },
        onResponseData(_controller, chunk) {
          if (status !== 202) text += chunk.toString();
        },
        onResponseEnd() {
          resolve({ status, body: text });
        },
        onResponseError(_controller, error) {
          reject(error);
        },
      },
    );
  });
}
