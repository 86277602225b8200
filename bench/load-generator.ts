/**
 * The load generator, run as its own process so it does not share an event loop with
 * the broker or the orchestrator: N keep-alive mTLS connections (undici), each sending
 * one request after another for a duration or until a fixed count is reached.
 *
 * Input: one JSON argument (LoadOptions). Output: one JSON line (LoadResult) on stdout.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect, createSecureContext } from 'node:tls';
import { Agent, type buildConnector } from 'undici';

export interface LoadOptions {
  url: string;
  cert: string;
  key: string;
  ca: string;
  connections: number;
  /** Seconds; ignored when `count` is set. */
  durationS: number;
  count?: number;
  /** Characters of message_body. */
  size: number;
  /** A new TLS connection per request (with session resumption). */
  reconnect: boolean;
  /** Every request carries a fresh Idempotency-Key. */
  idempotency?: boolean;
}

export interface LoadResult {
  sent: number;
  accepted: number;
  errors: Record<string, number>;
  started_at: number;
  ended_at: number;
  latency_ms: { p50: number; p90: number; p99: number; max: number };
  /** CPU seconds the load generator itself used: on a 2-core box it competes with the broker. */
  cpu_s: number;
  /** TLS connections opened, and how many of them resumed a session. */
  tls: { opened: number; resumed: number };
}

async function run(options: LoadOptions): Promise<LoadResult> {
  const tls = { opened: 0, resumed: 0 };
  const agent = new Agent({
    connections: options.connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    connect: resumingConnector(
      readFileSync(options.cert, 'utf8'),
      readFileSync(options.key, 'utf8'),
      readFileSync(options.ca, 'utf8'),
      tls,
    ),
  });
  const body = JSON.stringify({ sender_number: '+14155550123', message_body: 'x'.repeat(Math.max(1, options.size)) });
  const url = new URL(options.url);
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let sent = 0;
  let accepted = 0;
  const startedAt = Date.now();
  const deadline = startedAt + options.durationS * 1000;
  const more = () => (options.count !== undefined ? sent < options.count : Date.now() < deadline);

  const worker = async () => {
    while (more()) {
      sent++;
      const t0 = process.hrtime.bigint();
      try {
        const response = await post(agent, {
          origin: url.origin,
          path: `${url.pathname.replace(/\/$/, '')}/api/v1/messages`,
          headers: options.idempotency
            ? { 'content-type': 'application/json', 'idempotency-key': randomUUID() }
            : { 'content-type': 'application/json' },
          body,
          reset: options.reconnect,
        });
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (response.status === 202) accepted++;
        else {
          const code = errorCodeOf(response.status, response.body);
          errors[code] = (errors[code] ?? 0) + 1;
        }
      } catch (error) {
        const code = (error as { code?: string }).code ?? 'CLIENT_ERROR';
        errors[code] = (errors[code] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: options.connections }, worker));
  const endedAt = Date.now();
  await agent.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  const cpu = process.cpuUsage();
  return {
    sent,
    accepted,
    errors,
    started_at: startedAt,
    ended_at: endedAt,
    latency_ms: { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: round(latencies.at(-1) ?? 0) },
    cpu_s: round((cpu.user + cpu.system) / 1e6),
    tls,
  };
}

/**
 * TLS connections that resume the last session, as a gateway that reconnects does.
 * undici's own session cache holds sessions through WeakRefs, and a resumed TLS 1.3
 * connection gets no new ticket from Node's server, so the cached ticket is soon
 * collected and nearly every reconnect becomes a full handshake (measured: 1 of 50
 * resumed; with this connector 49 of 50).
 */
function resumingConnector(
  cert: string,
  key: string,
  ca: string,
  counts: { opened: number; resumed: number },
): buildConnector.connector {
  let session: Buffer | undefined;
  // One context for every connection: no key and certificate parsing per connect.
  const secureContext = createSecureContext({ cert, key, ca });
  return (options, callback) => {
    const socket = tlsConnect({
      host: options.hostname,
      port: Number(options.port),
      servername: options.servername ?? 'localhost',
      secureContext,
      ALPNProtocols: ['http/1.1'],
      ...(session ? { session } : {}),
    });
    socket.setNoDelay(true);
    socket.on('session', (ticket: Buffer) => (session = ticket));
    // The callback is undici's, once: a handshake failure, or the connected socket.
    const failed = (error: Error) => callback(error, null);
    socket.once('error', failed);
    socket.once('secureConnect', () => {
      socket.off('error', failed);
      counts.opened++;
      if (socket.isSessionReused()) counts.resumed++;
      callback(null, socket);
    });
  };
}

/**
 * One POST through undici's dispatcher API: no Readable body, no promise chain per
 * chunk. `request()` costs the load generator about twice the CPU per request (measured
 * against a plain HTTPS server: 0.22 vs 0.12 ms), CPU the broker on the same two cores
 * would otherwise not get. The body of a 202 is not kept; an error's body is, for its code.
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

function errorCodeOf(status: number, body: string): string {
  try {
    return (JSON.parse(body) as { error_code?: string }).error_code ?? `HTTP_${status}`;
  } catch {
    return `HTTP_${status}`;
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

const options = JSON.parse(process.argv[2] ?? '{}') as LoadOptions;
run(options).then(
  (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
  (error: unknown) => {
    process.stderr.write(`load generator failed: ${(error as Error).stack}\n`);
    process.exit(1);
  },
);
