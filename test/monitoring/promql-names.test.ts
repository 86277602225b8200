import { describe, expect, it } from 'vitest';
import { Exposition } from '../support/metrics-scrape.js';
import { metricNamesIn } from '../support/promql-names.js';

describe('metricNamesIn', () => {
  it('finds the selectors and nothing else', () => {
    expect(metricNamesIn('deriv(redis_queue_size[5m]) > 0 and redis_queue_size > 0')).toEqual(['redis_queue_size']);
    expect(
      metricNamesIn(
        'sum by (job, instance, domain) (rate(mb_delivery_attempts_total{outcome!="delivered"}[10m])) / (sum by (domain) (rate(mb_delivery_attempts_total[10m])) > 0) > 0.2',
      ),
    ).toEqual(['mb_delivery_attempts_total']);
    expect(
      metricNamesIn(
        'histogram_quantile(0.99, sum by (le) (rate(proxy_request_duration_seconds_bucket{endpoint="/api/v1/messages",instance=~"$instance"}[$__rate_interval])))',
      ),
    ).toEqual(['proxy_request_duration_seconds_bucket']);
    expect(
      metricNamesIn(
        'max by (job, instance, client) (mb_client_cert_expiry_seconds) < 30 * 86400 and on (instance) up == 1e3',
      ),
    ).toEqual(['mb_client_cert_expiry_seconds', 'up']);
    expect(metricNamesIn('sum(rate(a_sum[1m])) / sum(rate(a_count[1m])) offset 5m')).toEqual(['a_sum', 'a_count']);
  });
});

describe('Exposition.names', () => {
  it('lists sample names, and the series names of declared families that have no sample yet', () => {
    const text =
      '# HELP x_seconds h\n# TYPE x_seconds histogram\nx_seconds_bucket{le="1"} 1\nx_seconds_count 1\n# TYPE y_total counter\nup 1\n';
    expect([...new Exposition(text).names()].sort()).toEqual([
      'up',
      'x_seconds',
      'x_seconds_bucket',
      'x_seconds_count',
      'x_seconds_sum',
      'y_total',
    ]);
  });
});
