/**
 * JSON with object keys sorted at every level: two values that mean the same give the
 * same text, whatever order their keys were written in. Used to hash requests
 * (Idempotency-Key) and configurations (instance fingerprints).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
  return out;
}
