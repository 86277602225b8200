/**
 * The shipped monitoring files on their own (no broker): alert rules valid and their unit
 * tests green under promtool, the dashboard importable in shape. That they only name
 * exported metrics is checked against a running broker in test/e2e/prometheus.e2e.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { metricNamesIn } from '../support/promql-names.js';
import { alertRules, dashboard, dashboardQueries, promtool } from '../support/monitoring-files.js';

describe('monitoring/alerts.yml', () => {
  it('passes promtool check rules', () => {
    const { status, output } = promtool(['check', 'rules', 'alerts.yml']);
    expect(output).toContain('SUCCESS');
    expect(status).toBe(0);
  });

  it('fires as intended (promtool test rules alerts.test.yml)', () => {
    const { status, output } = promtool(['test', 'rules', 'alerts.test.yml']);
    expect(output).toContain('SUCCESS');
    expect(status).toBe(0);
  });

  it('has a rule for each situation the issue lists', () => {
    const names = alertRules().map((r) => r.alert);
    for (const alert of [
      'BrokerQueueGrowing',
      'BrokerOldestUnstoredMessage',
      'BrokerDeadLetters',
      'BrokerDeliveryBacklogGrowing',
      'BrokerDeliveryFailureRatio',
      'BrokerCrlNearNextUpdate',
      'BrokerClientCertificateExpiring',
      'BrokerActorRestarted',
      'BrokerNotReady',
      'BrokerRedisNotDurable',
    ]) {
      expect(names).toContain(alert);
    }
  });
});

describe('monitoring/grafana/broker.json', () => {
  const board = dashboard();
  const panels = board.panels.filter((p) => p.type !== 'row');

  it('is an importable dashboard: uid, schema version, a data source variable, unique panel ids on a 24-column grid', () => {
    expect(board.uid).toBe('message-broker');
    expect(board.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(board.templating.list.some((v) => v.type === 'datasource')).toBe(true);
    const ids = board.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of board.panels) expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
    for (const p of panels) {
      expect(p.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
    }
  });

  it('has the panels the issue asks for', () => {
    const titles = panels.map((p) => p.title.toLowerCase()).join('\n');
    for (const topic of [
      'requests per second',
      'latency',
      'backlog',
      'oldest unstored',
      'delivered per second',
      'failures',
      'retries',
      'dead letters',
      'days left',
      'actors up',
      'restarts',
    ]) {
      expect(titles).toContain(topic);
    }
  });

  it('every query names at least one metric', () => {
    for (const { where, expr } of dashboardQueries(board)) expect(metricNamesIn(expr).length, where).toBeGreaterThan(0);
  });
});
