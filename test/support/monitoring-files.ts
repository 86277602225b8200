/**
 * The shipped monitoring files (monitoring/alerts.yml, monitoring/grafana/broker.json) as
 * data for the tests, and promtool (Debian package `prometheus`).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';

export const MONITORING = resolve(import.meta.dirname, '../../monitoring');
export const PROMTOOL = process.env.PROMTOOL ?? 'promtool';
export const PROMETHEUS = process.env.PROMETHEUS ?? 'prometheus';

export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: Array<{ refId: string; expr: string; datasource?: { type: string; uid: string } }>;
}

export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: DashboardPanel[];
  templating: { list: Array<{ name: string; type: string; definition?: string }> };
}

export function alertRules(): Array<{ alert: string; expr: string }> {
  const file = parse(readFileSync(join(MONITORING, 'alerts.yml'), 'utf8')) as {
    groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
  };
  return file.groups.flatMap((g) => g.rules.map((r) => ({ alert: r.alert, expr: String(r.expr) })));
}

export function dashboard(): Dashboard {
  return JSON.parse(readFileSync(join(MONITORING, 'grafana/broker.json'), 'utf8')) as Dashboard;
}

/** Every query of the dashboard: panel targets, and the metric of `label_values(metric, label)` variables. */
export function dashboardQueries(board: Dashboard = dashboard()): Array<{ where: string; expr: string }> {
  const queries = board.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr })),
  );
  for (const variable of board.templating.list) {
    const metric = /^label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,/.exec(variable.definition ?? '')?.[1];
    if (metric) queries.push({ where: `variable ${variable.name}`, expr: metric });
  }
  return queries;
}

/** Runs promtool; `input` is its stdin (`check metrics` reads the exposition there). */
export function promtool(args: string[], cwd = MONITORING, input?: string): { status: number | null; output: string } {
  const run = spawnSync(PROMTOOL, args, { cwd, encoding: 'utf8', ...(input === undefined ? {} : { input }) });
  if (run.error) throw new Error(`${PROMTOOL} is not installed (Debian package "prometheus"): ${run.error.message}`);
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}
