/**
 * The broker: one process, `node dist/supervisor.js [--config FILE]`. This entry point
 * only reads the config, opens the log output, creates the main thread's logger, hands
 * them to the composition root (src/app/compose.ts) and answers signals: SIGHUP reloads
 * the config (src/app/reload.ts), SIGTERM/SIGINT stop the broker (src/app/lifecycle.ts).
 *
 *                ┌──────────────────────── this process ───────────────────────────┐
 *  client ─mTLS─▶│ main thread: supervisor + Fastify front                          │
 *  browser ─────▶│   (TLS, identity per socket, schema, health, portal)             │
 *                │     │ worker port      │ worker port     │ worker port   │       │
 *                │  ingest actor     encryption actor   delivery actor   ca actor   │
 *                │  (group-commit    (data keys, AES-   (consumer group,  (CA key,  │
 *                │   XADD)            GCM, HMAC,         batch INSERT,     issue,   │
 *                │     │              piscina pool)      webhooks,         CRL)     │
 *                │     ▼                   ▲  MessageChannel  │ retries)           │
 *                │  Redis stream (AOF) ────┼───────────────▶ delivery ──▶ MySQL      │
 *                └─────────────────────────┴─────────────────────────────────────────┘
 *
 *   supervisor.ts ──▶ app/compose.ts (builds every service once, start order)
 *                       ├─ app/lifecycle.ts   embedded services, storage, Redis; stop order
 *                       ├─ app/reload.ts      a reload applied: log output, LiveConfig, actors
 *                       └─ app/portal-services.ts  the portal's services
 *
 * Observability: /metrics merges the main registry with each actor's (`actor.metrics`,
 * src/metrics/); every thread's log lines go through the main thread to stdout and the
 * rotated log file (src/logging/).
 *
 * Start: config → embedded Redis/MariaDB if needed → migrations → Redis durability →
 * actors (encryption, ca) → CA bootstrap (first start: CA, server and demo certificates)
 * → actors (ingest, delivery) → front listens → background jobs. SIGTERM/SIGINT: stop
 * accepting, answer in-flight requests, let actors finish their batch, exit 0.
 */
import type { RunningBroker } from './app/compose.js';
import { brokerArgsOrExit } from './app/broker-args.js';
import { unsupportedNode } from './app/node-support.js';
import { reexecWithBoundedHeap } from './app/main-heap.js';
import { ConfigError, loadConfig, type BrokerConfig } from './config/config.js';
import { BrokerError } from './errors.js';
import { createLogger } from './logger.js';
import { LogOutput } from './logging/log-output.js';
import { VERSION } from './version.js';

export type { RunningBroker } from './app/compose.js';

async function main(): Promise<void> {
  const refusal = unsupportedNode();
  if (refusal !== undefined) {
    process.stderr.write(`${refusal}\n`);
    process.exit(1);
  }
  // --help, --version and bad arguments end here: they never start a broker.
  const { configFile } = brokerArgsOrExit(process.argv.slice(2), VERSION);
  const readConfig = () => loadConfig(configFile === undefined ? {} : { file: configFile });
  let config: Readonly<BrokerConfig>;
  try {
    config = readConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`config error: ${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
  // Before anything is opened: this may restart the process in place with a bounded main
  // heap and V8 helper threads fitted to the host (src/app/main-heap.ts).
  reexecWithBoundedHeap({
    youngGenerationMb: config.actors.young_generation_mb,
    oldGenerationMb: config.actors.old_generation_mb,
    gcThreads: config.actors.gc_threads,
    batchScheduling: config.actors.batch_scheduling,
  });
  let logOutput: LogOutput;
  try {
    logOutput = LogOutput.fromConfig(config);
  } catch (error) {
    process.stderr.write(`cannot open the log file ${config.log.file}: ${(error as Error).message}\n`);
    process.exit(1);
  }
  const logger = createLogger(config.log.level, { actor: 'supervisor', instance_id: config.instance_id }, logOutput);
  let broker: RunningBroker | undefined;
  const reload = (running: RunningBroker) =>
    running.reloadFromFile().catch((error: unknown) => {
      if (error instanceof ConfigError)
        logger.error({ err: error.message }, 'config reload refused; running on with the old config');
      else logger.error({ err: error }, 'config reload failed');
    });
  // Listened for before the start: "listening on" is printed before the start has finished,
  // and a SIGHUP sent on it (a deploy tool, a test) met Node's default — the end of the process.
  let reloadAsked = false;
  process.on('SIGHUP', () => {
    if (broker) return void reload(broker);
    reloadAsked = true;
    logger.info('config reload asked while the broker starts: applied once it has started');
  });
  try {
    // Loaded only now: --help, --version and a bad config answer without loading the broker.
    const { startBroker } = await import('./app/compose.js');
    broker = await startBroker(config, logger, logOutput, readConfig);
  } catch (error) {
    logger.fatal({ err: error }, 'broker failed to start');
    process.stderr.write(`broker failed to start: ${startFailure(error)}\n`);
    process.exit(1);
  }
  const running = broker;
  if (reloadAsked) void reload(running);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      running.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'unclean shutdown');
          process.exit(1);
        },
      );
    });
  }
}

/** The one line an operator reads: the message and, when it has one, the system's reason (ENOTDIR, EACCES…). */
function startFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof BrokerError ? (error.details as { cause?: unknown } | undefined)?.cause : undefined;
  return typeof cause === 'string' && !message.includes(cause) ? `${message} (${cause})` : message;
}

// Run only as the entry point, so tests can import startBroker.
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) void main();
