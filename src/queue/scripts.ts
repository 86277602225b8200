/**
 * The broker's Lua scripts, and the one place that loads them and defines them on an
 * ioredis client.
 *
 * Each script is one file under `lua/`, named `<name>-<numKeys>.lua` like BullMQ's
 * (`-n`: the number of keys varies and goes first on each call), with a header that
 * documents KEYS/ARGV/returns. Redis scripts cannot import: a line `--@include <file>.lua`
 * is replaced, when the script is loaded, by that fragment of `lua/includes/` (logic two
 * scripts must share, such as the limits state). The files are read beside this
 * module: src/queue/lua/ under vitest, dist/queue/lua/ (copied by `npm run build`) in production.
 */
import { readFileSync } from 'node:fs';
import type { ChainableCommander, Redis } from 'ioredis';

const LUA_DIR = new URL('./lua/', import.meta.url);
const INCLUDE = /^--@include ([\w-]+\.lua)[ \t]*$/gm;

/** The broker's scripts: ioredis command name → script file (without `.lua`). */
const SCRIPT_FILES = {
  mbClaimDue: 'claim-due-2',
  mbClaimDeadLetters: 'claim-dead-letters-2',
  mbScheduleNew: 'schedule-new-2',
  mbEnqueue: 'enqueue-n',
  mbStoreAck: 'store-ack-n',
  mbSettle: 'settle-n',
  mbRateTake: 'rate-take-1',
  mbExtendLock: 'extend-lock-1',
  mbReleaseLock: 'release-lock-1',
  mbLoginBegin: 'login-begin-1',
  mbLoginGiveBack: 'login-give-back-1',
} as const;

/** The scripts as commands of a client (see each file's header for what they do). */
export interface BrokerScripts {
  mbClaimDue(schedule: string, inflight: string, now: number, limit: number, leaseUntil: number): Promise<string[]>;
  /** `entriesAndIds`: pairs of dead-letter entry id and its message id. */
  mbClaimDeadLetters(
    dead: string,
    redriving: string,
    now: number,
    until: number,
    ...entriesAndIds: string[]
  ): Promise<string[]>;
  mbScheduleNew(schedule: string, inflight: string, dueAt: number, ...ids: string[]): Promise<number>;
  /** Keys and arguments as `addEnqueue` lays them out; the key count goes first. */
  mbEnqueue(numKeys: number, ...keysThenArgs: Array<string | number | Buffer>): Promise<unknown>;
  /** Keys and arguments as `acknowledgeStored` lays them out; the key count goes first. */
  mbStoreAck(numKeys: number, ...keysThenArgs: Array<string | number>): Promise<number>;
  /** Keys and arguments as `DeliverySchedule.settle` lays them out; the key count goes first. */
  mbSettle(numKeys: number, ...keysThenArgs: Array<string | number>): Promise<number>;
  mbRateTake(limitsKey: string, limit: number, windowMs: number): Promise<unknown>;
  mbExtendLock(key: string, token: string, ttlMs: number): Promise<number>;
  mbReleaseLock(key: string, token: string): Promise<number>;
  mbLoginBegin(failuresKey: string, limit: number, windowMs: number): Promise<unknown>;
  mbLoginGiveBack(failuresKey: string): Promise<number>;
}

export type ScriptedRedis = Redis & BrokerScripts;

/** A pipeline (or MULTI) of a client the scripts are defined on: each script queues like any command. */
export type ScriptedPipeline = ChainableCommander & {
  [Name in keyof BrokerScripts]: (...args: Parameters<BrokerScripts[Name]>) => ScriptedPipeline;
};

const loaded = new Map<string, string>();
const defined = new WeakSet<object>();

/**
 * The text of `lua/<name>.lua` with its includes spliced in, read once per process.
 * Throws when a file or an include is missing (a fragment may not include another).
 */
export function loadScript(name: string): string {
  let lua = loaded.get(name);
  if (lua === undefined) {
    lua = spliceIncludes(`${name}.lua`, read(`${name}.lua`), (fragment) => read(`includes/${fragment}`));
    loaded.set(name, lua);
  }
  return lua;
}

/** Replaces each `--@include <file>.lua` line of `lua` by `readFragment(file)`. */
export function spliceIncludes(file: string, lua: string, readFragment: (fragment: string) => string): string {
  const spliced = lua.replace(INCLUDE, (_line, fragment: string) => readFragment(fragment));
  // Left over: a malformed include line, or one inside a fragment. Either would run as a
  // bare comment, leaving the script without the functions it calls.
  if (/^--@include/m.test(spliced)) throw new Error(`${file}: an --@include is malformed or nested`);
  return spliced;
}

/** The key count that `<name>-<numKeys>` declares; undefined for `-n` (given on each call). */
export function numberOfKeys(name: string): number | undefined {
  const count = /-(\d+|n)$/.exec(name)?.[1];
  if (count === undefined) throw new Error(`script ${name} is not named <name>-<numKeys>`);
  return count === 'n' ? undefined : Number(count);
}

/**
 * Defines every broker script on `redis` — once per client, however often it is called —
 * and returns the client typed with them. Pipelines made from the client afterwards
 * have them too (ioredis copies a client's scripts into each new pipeline).
 */
export function defineScripts(redis: Redis): ScriptedRedis {
  if (!defined.has(redis)) {
    for (const [command, file] of Object.entries(SCRIPT_FILES)) {
      const keys = numberOfKeys(file);
      redis.defineCommand(command, { lua: loadScript(file), ...(keys === undefined ? {} : { numberOfKeys: keys }) });
    }
    defined.add(redis);
  }
  return redis as ScriptedRedis;
}

/** A new pipeline of `redis`, with the scripts defined on it first. */
export function scriptedPipeline(redis: Redis): ScriptedPipeline {
  return defineScripts(redis).pipeline() as ScriptedPipeline;
}

function read(file: string): string {
  return readFileSync(new URL(file, LUA_DIR), 'utf8');
}
