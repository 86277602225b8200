/**
 * `npm run chaos [-- --scenario NAME[,NAME…]] [--duration S] [--outage S] [--connections N]`
 *
 * Runs each chaos scenario against the real supervisor (dist/, built by the npm script),
 * a redis-server of its own (AOF) and a database of its own, under sustained keep-alive
 * mTLS load, and prints one row per scenario. Exits 1 if any acknowledged message was
 * lost (the everysec Redis scenario reports its loss instead, held to the last second),
 * stored twice, or anything unexpected was stored.
 */
import type { ScenarioResult } from './scenario-support.js';
import { SCENARIOS } from './scenarios/index.js';

interface RunOptions {
  scenarios: string[];
  durationS: number;
  outageS?: number;
  connections: number;
}

function parseArgs(argv: string[]): RunOptions {
  const value = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const names = value('scenario')?.split(',') ?? SCENARIOS.map((s) => s.name);
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length > 0)
    throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const outage = value('outage');
  return {
    scenarios: names,
    durationS: Number(value('duration') ?? 25),
    connections: Number(value('connections') ?? 4),
    ...(outage ? { outageS: Number(outage) } : {}),
  };
}

const COLUMNS = [
  'scenario',
  'sent',
  'acknowledged',
  'lost',
  'duplicated',
  'unexpected',
  'indeterminate',
  'notes',
] as const;

function formatTable(results: readonly ScenarioResult[]): string {
  const rows = results.map((r) => {
    const c = r.counts;
    const indeterminate = `${c.indeterminate} (${c.indeterminateStored} stored)`;
    const refused = Object.entries(c.refusedBy).map(([code, n]) => `${n} ${code}`);
    const unknown = Object.entries(c.indeterminateBy).map(([code, n]) => `${n} ${code}`);
    const notes = [
      ...r.notes,
      ...(refused.length > 0 ? [`refused: ${refused.join(', ')}`] : []),
      ...(unknown.length > 0 ? [`indeterminate: ${unknown.join(', ')}`] : []),
      ...r.failures.map((f) => `FAIL: ${f}`),
    ].join('; ');
    return [r.name, c.sent, c.acknowledged, c.lost, c.duplicated, c.unexpected, indeterminate, notes].map(String);
  });
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(COLUMNS), line(COLUMNS.map((_, i) => (i > 0 && i < 7 ? '---:' : '---'))), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const results: ScenarioResult[] = [];
  const started = Date.now();
  for (const scenario of SCENARIOS.filter((s) => options.scenarios.includes(s.name))) {
    process.stderr.write(`chaos: ${scenario.name} (${options.durationS} s of load)\n`);
    const result = await scenario.run({
      durationS: options.durationS,
      connections: options.connections,
      log: (line) => process.stderr.write(`  ${line}\n`),
      ...(options.outageS !== undefined ? { outageS: options.outageS } : {}),
    });
    process.stderr.write(
      `  ${result.failures.length === 0 ? 'ok' : `FAILED: ${result.failures.join('; ')}`} (${result.seconds.toFixed(0)} s)\n`,
    );
    results.push(result);
  }
  process.stdout.write(`${formatTable(results)}\n`);
  process.stdout.write(
    `\n${results.length} scenarios in ${((Date.now() - started) / 1000).toFixed(0)} s, ${new Date().toISOString()}\n`,
  );
  if (results.some((r) => r.failures.length > 0)) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`chaos failed: ${(error as Error).stack}\n`);
  process.exit(1);
});
