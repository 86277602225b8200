/**
 * The fan-out bench's submitter (bench/events-fanout.ts), run as its own process so its
 * event loop is neither the broker's nor the subscribers': submits at a paced rate, spread
 * round-robin over many clients (each its own certificate and keep-alive connections), and
 * records each 202's message id and wall-clock time, which the subscribers' `delivered`
 * receipts are measured against.
 *
 * Paced, not closed-loop: every tick it sends what the rate says is due, up to a cap on
 * requests in flight; when the broker cannot keep up the achieved rate falls short of the
 * target instead of the queue growing, and the summary reports both.
 *
 * `batch` > 1 submits as a gateway at that rate would: `POST /api/v1/messages/batch` with
 * `batch` messages per request (a request leaves once a whole batch is due); 1 submits
 * each message on its own (`POST /api/v1/messages`). Every figure is per message: `sent`
 * and `accepted` count messages, `latency_ms` is each message's request → answer (its
 * batch's), `errors` counts refused messages by their item's code.
 *
 * Input: the path of a JSON file (SubmitOptions). Output: one JSON line (SubmitResult) on stdout,
 * and a `started` IPC message once the warm-up (one request on each connection) is done.
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'undici';
import { errorCodeOf, messageJson, messagesPath } from './load-tally.js';

export interface SubmitOptions {
  url: string;
  /** One certificate bundle (file paths) per client. */
  clients: Array<{ cert: string; key: string; ca: string }>;
  /** Target messages per second over all clients. */
  rate: number;
  durationS: number;
  size: number;
  /**
   * Most messages in flight at once (over all clients): `maxInFlight / batch` requests. In
   * messages, so that a batch run queues no more in the broker than a single-message run
   * (counted in requests, 200 batches of 20 held 4,000 messages waiting: seconds of latency
   * that were the bench's, not the fan-out's).
   */
  maxInFlight: number;
  /** Messages per request: 1 is the single-message route, more the batch route (≤ 100). */
  batch: number;
}

export interface SubmitResult {
  /** Messages (not requests). */
  sent: number;
  accepted: number;
  errors: Record<string, number>;
  started_at: number;
  ended_at: number;
  /** Per accepted message: [message_id, client index, Date.now() at the 202]. */
  accepted_messages: Array<[string, number, number]>;
  requests: number;
  /** Per message: its request's time to the answer. */
  latency_ms: { p50: number; p99: number; max: number };
  cpu_s: number;
}

const TICK_MS = 5;
const WARM_UP_AT_ONCE = 50;

async function run(options: SubmitOptions): Promise<SubmitResult> {
  const url = new URL(options.url);
  const batch = Math.max(1, Math.min(100, Math.floor(options.batch)));
  const single = messagesPath(url);
  const path = batch > 1 ? `${single}/batch` : single;
  const message = messageJson(options.size);
  const body = batch > 1 ? `{"messages":[${Array.from({ length: batch }, () => message).join(',')}]}` : message;
  const maxRequests = Math.max(1, Math.floor(options.maxInFlight / batch));
  const perClient = Math.max(1, Math.ceil(maxRequests / options.clients.length));
  const agents = options.clients.map(
    (files) =>
      new Agent({
        connections: perClient,
        pipelining: 1,
        keepAliveTimeout: 60_000,
        // A busy shared box takes more than undici's 10 s for some of the warm-up's handshakes.
        connect: {
          ca: readFileSync(files.ca),
          cert: readFileSync(files.cert),
          key: readFileSync(files.key),
          timeout: 60_000,
        },
      }),
  );
  const result: SubmitResult = {
    sent: 0,
    accepted: 0,
    errors: {},
    started_at: Date.now(),
    ended_at: 0,
    accepted_messages: [],
    requests: 0,
    latency_ms: { p50: 0, p99: 0, max: 0 },
    cpu_s: 0,
  };
  const latencies: number[] = [];
  let inFlight = 0;
  let next = 0;
  const fail = (code: string, n = 1) => void (result.errors[code] = (result.errors[code] ?? 0) + n);

  const submit = (client: number) => {
    inFlight++;
    result.sent += batch;
    result.requests++;
    const t0 = performance.now();
    post(agents[client]!, url.origin, path, body).then(
      ({ status, text }) => {
        inFlight--;
        const now = Date.now();
        const latency = performance.now() - t0;
        for (let i = 0; i < batch; i++) latencies.push(latency);
        if (batch > 1 && status === 207) {
          const answer = JSON.parse(text) as {
            results: Array<{ status: number; message_id?: string; error?: { error_code?: string } }>;
          };
          for (const item of answer.results) {
            if (item.status !== 202) fail(item.error?.error_code ?? `ITEM_${item.status}`);
            else {
              result.accepted++;
              result.accepted_messages.push([item.message_id!, client, now]);
            }
          }
          return;
        }
        if (status !== 202) return fail(errorCodeOf(status, text), batch);
        result.accepted++;
        result.accepted_messages.push([(JSON.parse(text) as { message_id: string }).message_id, client, now]);
      },
      (error: unknown) => {
        inFlight--;
        fail((error as { code?: string }).code ?? 'CLIENT_ERROR', batch);
      },
    );
  };

  // Warm-up, not measured: every connection opened (TLS handshakes are the broker's
  // costliest requests), then the timed run starts and the parent is told so.
  // At most WARM_UP_AT_ONCE handshakes at a time: a thousand at once on a busy box outlast
  // the broker's handshake deadline (server.headers_timeout_ms), which cuts them, as it should.
  const warmUps = agents.flatMap((agent) => Array.from({ length: perClient }, () => agent));
  await Promise.all(
    Array.from({ length: Math.min(WARM_UP_AT_ONCE, warmUps.length) }, async () => {
      for (let agent = warmUps.pop(); agent; agent = warmUps.pop())
        await post(agent, url.origin, path, body).catch(() => undefined);
    }),
  );
  process.send?.('started');
  result.started_at = Date.now();
  const deadline = result.started_at + options.durationS * 1000;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = Date.now();
      if (now >= deadline) {
        clearInterval(timer);
        resolve();
        return;
      }
      const due = Math.floor(((now - result.started_at) / 1000) * options.rate);
      while (result.sent + batch <= due && inFlight < maxRequests) {
        submit(next);
        next = (next + 1) % agents.length;
      }
    }, TICK_MS);
  });
  while (inFlight > 0) await new Promise((r) => setTimeout(r, 10));
  result.ended_at = Date.now();
  await Promise.all(agents.map((agent) => agent.close()));
  latencies.sort((a, b) => a - b);
  const at = (q: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  result.latency_ms = { p50: at(0.5), p99: at(0.99), max: round(latencies.at(-1) ?? 0) };
  const cpu = process.cpuUsage();
  result.cpu_s = round((cpu.user + cpu.system) / 1e6);
  return result;
}

/** One POST through undici's dispatcher API (bench/undici-load-client.ts says why not request()); the body is kept. */
function post(agent: Agent, origin: string, path: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let text = '';
    agent.dispatch(
      { origin, path, method: 'POST', headers: { 'content-type': 'application/json' }, body },
      {
        onRequestStart() {},
        onResponseStart(_controller, statusCode) {
          status = statusCode;
        },
        onResponseData(_controller, chunk) {
          text += chunk.toString();
        },
        onResponseEnd() {
          resolve({ status, text });
        },
        onResponseError(_controller, error) {
          reject(error);
        },
      },
    );
  });
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

const options = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as SubmitOptions;
run(options).then(
  (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
  (error: unknown) => {
    process.stderr.write(`submitter failed: ${(error as Error).stack}\n`);
    process.exit(1);
  },
);
