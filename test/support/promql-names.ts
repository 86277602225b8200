/**
 * The metric names a PromQL expression reads — enough PromQL to check alerts.yml and the
 * Grafana dashboard against what the broker exports (no PromQL parser ships with the
 * project; promtool has no "list the selectors" command).
 *
 * Strips strings, label matchers `{…}`, ranges `[…]`, grouping clauses `by (…)` and
 * friends; what remains and is not a function, an aggregation or a keyword is a name.
 */
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'inf',
  'nan',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
]);

export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+-?[0-9smhdwy]+/g, ' ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const before = stripped[match.index - 1] ?? ' ';
    const after = stripped.slice(match.index + match[0].length).trimStart();
    if (/[0-9.]/.test(before)) continue; // exponent of a number literal (1e3)
    if (after.startsWith('(')) continue; // a function or an aggregation
    if (KEYWORDS.has(match[0].toLowerCase())) continue;
    names.add(match[0]);
  }
  return [...names];
}
