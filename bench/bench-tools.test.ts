/**
 * The bench tools themselves: the load generator (through `bench:floor`, which runs it
 * against a bare HTTPS server for a second) and the profile summary. The broker bench
 * (`npm run bench`) needs a quiet machine and is run by hand; these keep its parts honest.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parseFrame } from './event-frame.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const tsx = (script: string, args: string[]) =>
  run(process.execPath, ['--import', 'tsx', join(ROOT, script), ...args], { cwd: ROOT, timeout: 60_000 });

const dir = mkdtempSync(join(tmpdir(), 'mb-bench-tools-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bench tools', () => {
  it('bench:floor drives a bare HTTPS server with the load generator and reports rate, latency and CPU per request', async () => {
    const { stdout } = await tsx('bench/https-floor.ts', ['--duration', '1', '--connections', '4']);
    const summary = JSON.parse(stdout) as Record<string, unknown> & { latency_ms: { p50: number; p99: number } };
    expect(summary.errors).toEqual({});
    expect(summary.answered_202).toBe(summary.requests);
    expect(summary.requests_per_s).toBeGreaterThan(0);
    expect(summary.latency_ms.p50).toBeGreaterThan(0);
    expect(summary.latency_ms.p99).toBeGreaterThanOrEqual(summary.latency_ms.p50);
    expect(summary.server_cpu_ms_per_request).toBeGreaterThan(0);
    expect(summary.load_generator_cpu_ms_per_request).toBeGreaterThan(0);
  });

  it('bench:floor --reconnect opens a TLS connection per request, sessions resumed', async () => {
    const { stdout } = await tsx('bench/https-floor.ts', ['--duration', '1', '--connections', '2', '--reconnect']);
    const summary = JSON.parse(stdout) as {
      options: { reconnect: boolean };
      requests: number;
      answered_202: number;
      tls_connections: { opened: number; resumed: number };
    };
    expect(summary.options.reconnect).toBe(true);
    expect(summary.answered_202).toBe(summary.requests);
    expect(summary.tls_connections.opened).toBe(summary.requests);
    expect(summary.tls_connections.resumed).toBeGreaterThan(0);
  });

  it('profile-summary adds self time by package and by function, leaving idle out', async () => {
    // main → fastify handler (30 ms self) → ioredis write (50 ms self); idle 100 ms.
    const profile = {
      nodes: [
        { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 3] },
        {
          id: 2,
          callFrame: { functionName: 'handler', url: 'file:///app/node_modules/fastify/lib/route.js', lineNumber: 9 },
          children: [4],
        },
        { id: 3, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
        {
          id: 4,
          callFrame: { functionName: 'write', url: 'file:///app/node_modules/ioredis/built/Redis.js', lineNumber: 41 },
        },
      ],
      samples: [2, 4, 3, 4],
      timeDeltas: [30_000, 20_000, 100_000, 30_000],
      startTime: 0,
      endTime: 180_000,
    };
    writeFileSync(join(dir, 'CPU.1.cpuprofile'), JSON.stringify(profile));
    const { stdout } = await tsx('bench/profile-summary.ts', [dir]);
    expect(stdout).toContain('busy 0.08 s');
    expect(stdout).toMatch(/62\.5%\s+0\.05 s\s+ioredis/);
    expect(stdout).toMatch(/37\.5%\s+0\.03 s\s+fastify/);
    expect(stdout).toMatch(/write ioredis:42/);
    expect(stdout).not.toContain('(idle)');
  });

  it("the fan-out bench's subscribers read an event frame's fields as JSON.parse would, and other frames in full", () => {
    const events = [
      {
        event_id: '1-0',
        type: 'delivered',
        message_id: 'm',
        client_id: 'a.default',
        domain: 'default',
        attempt: 1,
        at: 'T1',
      },
      {
        event_id: '2-3',
        type: 'retry_scheduled',
        message_id: 'n',
        client_id: 'a.default',
        domain: 'default',
        attempt: 2,
        at: 'T2',
        next_attempt_at: 'T3',
        error_class: 'timeout',
      },
    ];
    for (const event of events) {
      const { event_id, type, message_id, at } = event;
      expect(parseFrame(JSON.stringify(event))).toEqual({ event_id, type, message_id, at });
    }
    expect(parseFrame('{"type":"subscribed","last_event_id":"0-0"}')).toEqual({
      type: 'subscribed',
      last_event_id: '0-0',
    });
  });
});

describe('bench options', () => {
  it('takes --set as two arguments or as --set=path=value', async () => {
    const { configOverrides } = await import('./bench-support.js');
    expect(
      configOverrides(['--set', 'delivery.held_attempts=0', '--set=actors.young_generation_mb=8', '--set=log.x=true']),
    ).toEqual({ delivery: { held_attempts: 0 }, actors: { young_generation_mb: 8 }, log: { x: true } });
  });
});
