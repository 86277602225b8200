/**
 * One prom-client registry per thread. Module state is per thread, so the main thread
 * and every actor each get their own `registry` from this import; the supervisor asks
 * each actor for its metrics over its port and merges them into `/metrics`.
 */
import { Registry } from 'prom-client';

export const registry = new Registry();
