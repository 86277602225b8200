/**
 * Is Redis durable enough for a 202 to mean something? Reads `appendonly` and
 * `appendfsync`; when allowed (`redis.manage_persistence`), turns AOF on and raises the
 * fsync policy to what `queue.fsync` asks for. Managed Redis services often disable
 * CONFIG: then the state is unknown and health says degraded.
 */
import type { Redis } from 'ioredis';

export interface DurabilityState {
  appendonly: string;
  appendfsync: string;
  durable: boolean;
  /** What the broker changed, if anything. */
  changed: string[];
  problem?: string;
}

export async function ensureDurability(
  redis: Redis,
  wanted: 'everysec' | 'always',
  manage: boolean,
): Promise<DurabilityState> {
  const changed: string[] = [];
  try {
    let state = await readPersistence(redis);
    if (manage) {
      if (state.appendonly !== 'yes') {
        await redis.config('SET', 'appendonly', 'yes');
        changed.push('appendonly yes');
      }
      if (state.appendfsync === 'no' || (wanted === 'always' && state.appendfsync !== 'always')) {
        await redis.config('SET', 'appendfsync', wanted);
        changed.push(`appendfsync ${wanted}`);
      }
      if (changed.length > 0) state = await readPersistence(redis);
    }
    const durable =
      state.appendonly === 'yes' &&
      state.appendfsync !== 'no' &&
      (wanted !== 'always' || state.appendfsync === 'always');
    const result: DurabilityState = { ...state, durable, changed };
    if (!durable)
      result.problem = `Redis has appendonly=${state.appendonly} appendfsync=${state.appendfsync}; queue.fsync=${wanted} needs AOF on`;
    return result;
  } catch (error) {
    return {
      appendonly: 'unknown',
      appendfsync: 'unknown',
      durable: false,
      changed,
      problem: `cannot read Redis persistence settings: ${(error as Error).message}`,
    };
  }
}

async function readPersistence(redis: Redis): Promise<{ appendonly: string; appendfsync: string }> {
  const [, appendonly = 'unknown'] = (await redis.config('GET', 'appendonly')) as string[];
  const [, appendfsync = 'unknown'] = (await redis.config('GET', 'appendfsync')) as string[];
  return { appendonly, appendfsync };
}
