// One line from a `bench.ts` JSON summary: rates, p99, RSS and CPU per message by thread.
import { readFileSync } from 'node:fs';

const [file, tag] = process.argv.slice(2);
const text = readFileSync(file, 'utf8');
const s = JSON.parse(text.slice(text.indexOf('{')));
const fields = [
  tag,
  new Date().toISOString().slice(11, 19),
  `acc/s ${s.accepted_per_s}`,
  `e2e/s ${s.end_to_end_per_s}`,
  `p99 ${s.latency_ms?.p99}`,
  `rss ${s.broker_peak_rss_mb} (start ${s.broker_peak_rss_mb_start}, load ${s.broker_peak_rss_mb_load})`,
  `cpu/1000 ${s.broker_cpu_s_per_1000} ${JSON.stringify(s.broker_cpu_s_per_1000_by_thread)}`,
  `redis ${s.redis_cpu_s_per_1000}`,
  `mariadb ${s.mariadb_cpu_s_per_1000}`,
  `generator ${s.load_generator_cpu_s_per_1000}`,
  `errors ${JSON.stringify(s.errors)}`,
  `load ${s.loadavg_1m}`,
];
console.log(fields.join(' '));
