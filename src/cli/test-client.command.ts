/**
 * The test client: `mb send` submits one message (or `--count N` of them) with a client
 * certificate and prints the answer (or a summary); `mb selftest` runs the checks a new
 * installation must pass. Without --url/--cert/--key/--ca they default to this host's
 * broker (config: server.port, pki.dir) and the demo client created on first start.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig } from '../config/config.js';
import { ApiClient, defaultClientFiles, failureCode, type ClientFiles } from '../test-client/api-client.js';
import { runLoad } from '../test-client/load-runner.js';
import { runSelftest } from '../test-client/selftest.js';
import { parseNonNegativeNumber, parsePositiveInt } from './cli-support.js';

interface ConnectionOptions {
  url?: string;
  cert?: string;
  key?: string;
  ca?: string;
  timeoutMs: number;
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);

function withConnection(command: Command): Command {
  return command
    .option('--url <url>', 'broker base URL (default https://localhost:<server.port>)')
    .option('--cert <file>', 'client certificate PEM (default: the demo client)')
    .option('--key <file>', 'client key PEM')
    .option('--ca <file>', "CA certificate PEM that signed the broker's server certificate (default <pki.dir>/ca.crt)")
    .option('--timeout-ms <ms>', 'per-request timeout', parsePositiveInt, 10000);
}

function clientFiles(options: ConnectionOptions, command: Command): ClientFiles {
  const given = {
    ...(options.url ? { url: options.url } : {}),
    ...(options.cert ? { cert: options.cert } : {}),
    ...(options.key ? { key: options.key } : {}),
    ...(options.ca ? { ca: options.ca } : {}),
  };
  if (given.url && given.cert && given.key && given.ca) return given as ClientFiles;
  // Only what is missing comes from the config, so the client also runs far from a broker.
  const file = command.optsWithGlobals<{ config?: string }>().config;
  return defaultClientFiles(given, loadConfig(file ? { file } : {}));
}

export function registerTestClientCommands(program: Command): void {
  withConnection(
    program
      .command('send')
      .description('Submit a message over mTLS and print the answer; --count N sends many and prints a summary'),
  )
    .option('--sender <e164>', 'sender number', '+14155550123')
    .option('--message <text>', 'message body; {n} is replaced by the sequence number', 'Hello from mb send')
    .option('--metadata <json>', 'metadata object (JSON)', parseMetadataOption)
    .option('--count <n>', 'how many messages', '1')
    .option('--concurrency <n>', 'requests in flight', '10')
    .option(
      '--rate <per-second>',
      'pace submissions (the default rate limit is 100 per minute per client); 0 = no pacing',
      parseNonNegativeNumber,
      0,
    )
    .option('--json', 'machine-readable output')
    .action(
      async (
        options: ConnectionOptions & {
          sender: string;
          message: string;
          metadata?: Record<string, unknown>;
          count: string;
          concurrency: string;
          rate: number;
          json?: boolean;
        },
        command: Command,
      ) => {
        const count = Number(options.count);
        const concurrency = Number(options.concurrency);
        if (!Number.isInteger(count) || count < 1 || !Number.isInteger(concurrency) || concurrency < 1)
          command.error('--count and --concurrency must be positive integers');
        const metadata = options.metadata;
        const body = (n: number) => ({
          sender_number: options.sender,
          message_body: options.message.replaceAll('{n}', String(n + 1)),
          ...(metadata ? { metadata } : {}),
        });
        const client = new ApiClient(clientFiles(options, command), {
          connections: concurrency,
          timeoutMs: options.timeoutMs,
        });
        try {
          if (count === 1) {
            const answer = await client.post('/api/v1/messages', body(0)).catch((error: unknown) => {
              throw new Error(`${client.files.url}: ${failureCode(error)} ${(error as Error).message}`);
            });
            say(
              options.json
                ? JSON.stringify({ status: answer.status, body: answer.body })
                : `${answer.status} ${JSON.stringify(answer.body, null, 2)}`,
            );
            if (answer.status !== 202) process.exitCode = 1;
            return;
          }
          const summary = await runLoad(client, { count, concurrency, rate: options.rate, body });
          if (options.json) return say(JSON.stringify(summary));
          const { sent, accepted, duration_ms, accepted_per_s, latency_ms, errors } = summary;
          say(
            `sent ${sent} in ${(duration_ms / 1000).toFixed(2)} s: ${accepted} accepted (${accepted_per_s}/s), ${sent - accepted} refused or failed`,
          );
          say(`latency ms: p50 ${latency_ms.p50}  p95 ${latency_ms.p95}  p99 ${latency_ms.p99}  max ${latency_ms.max}`);
          if (Object.keys(errors).length > 0)
            say(
              `errors: ${Object.entries(errors)
                .map(([code, n]) => `${code} × ${n}`)
                .join(', ')}`,
            );
          // A script running a load test should notice refusals.
          if (accepted < sent) process.exitCode = 1;
        } finally {
          await client.close();
        }
      },
    );

  withConnection(
    program
      .command('selftest')
      .description(
        'Check a running installation: health, a message accepted and visible by status lookup, invalid input and a missing certificate refused. ' +
          'PASS/WARN/FAIL per check: health degraded is a WARN with its reason, only down (or a failed check) is a FAIL and exits 1',
      ),
  )
    .option('--json', 'machine-readable output')
    .action(async (options: ConnectionOptions & { json?: boolean }, command: Command) => {
      const client = new ApiClient(clientFiles(options, command), {
        connections: 2,
        timeoutMs: options.timeoutMs,
      });
      try {
        const results = await runSelftest(client);
        const count = (status: string) => results.filter((r) => r.status === status).length;
        const [passed, warned, failed] = [count('pass'), count('warn'), count('fail')];
        if (options.json) say(JSON.stringify({ url: client.files.url, passed, warned, failed, checks: results }));
        else {
          say(`selftest of ${client.files.url}`);
          for (const r of results) say(`${r.status.toUpperCase()}  ${r.name.padEnd(28)} ${r.detail}`);
          say(`${results.length} checks: ${passed} passed, ${warned} warned, ${failed} failed`);
        }
        // A warning is for the operator to read; only a failure is for a script to stop on.
        if (failed > 0) process.exitCode = 1;
      } finally {
        await client.close();
      }
    });
}

/**
 * `--metadata` as a JSON object, a usage error otherwise: JSON.parse's own message alone
 * ("Expected property name … at position 1") did not say which option it was about.
 */
function parseMetadataOption(value: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw new InvalidArgumentError(
      `expected a JSON object, such as '{"ref":"order-42"}' (${(error as Error).message})`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new InvalidArgumentError(`expected a JSON object, such as '{"ref":"order-42"}'`);
  return parsed as Record<string, unknown>;
}
