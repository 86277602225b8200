/**
 * The folder layout is the architecture: a thread (src/actors/<name>/) is where code runs,
 * not what it is. Outside src/actors/, a module may use an actor only through its client
 * and its protocol; domain code (src/crypto, src/ca, src/delivery, src/ingest…) never
 * reaches into a thread's wiring.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importGraph, ROOT } from './import-graph.js';

/** Every import cycle in the graph, one per strongly connected component, as `a → b → … → a`. */
function importCycles(graph: ReturnType<typeof importGraph>): string[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[] = [];
  const next = (file: string) => (graph.get(file) ?? []).map((e) => e.to).filter((to) => graph.has(to));
  // Tarjan's algorithm; recursion depth is bounded by the length of the longest import chain.
  const visit = (file: string) => {
    index.set(file, index.size);
    low.set(file, index.get(file)!);
    stack.push(file);
    onStack.add(file);
    for (const to of next(file)) {
      if (!index.has(to)) {
        visit(to);
        low.set(file, Math.min(low.get(file)!, low.get(to)!));
      } else if (onStack.has(to)) low.set(file, Math.min(low.get(file)!, index.get(to)!));
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1 || next(file).includes(file)) cycles.push(component.sort().join(' ↔ '));
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return cycles;
}

const ACTOR_FILE = /^src\/actors\/([a-z-]+)\/(.+)\.ts$/;

describe('layout', () => {
  it("imports an actor's files from outside src/actors/ only through its client and protocol", () => {
    const offenders: string[] = [];
    for (const [from, edges] of importGraph(['src', 'test', 'bench', 'chaos'])) {
      if (from.startsWith('src/actors/')) continue;
      for (const { to } of edges) {
        const match = ACTOR_FILE.exec(to);
        if (!match) continue;
        const [, actor, file] = match;
        if (file === `${actor}.client` || file === `${actor}.protocol`) continue;
        // Tests of an actor's own thread live beside it, under src/actors/ (covered by the skip above).
        offenders.push(`${from} → ${to}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('has no import cycle in src/, not even through `import type`', () => {
    // A cycle makes module initialisation order matter and hides which layer owns what:
    // shared types go to a *.types.ts module that imports nothing back.
    expect(importCycles(importGraph(['src']))).toEqual([]);
  });

  it("takes drizzle-orm's values only from src/db/drizzle.ts (its CommonJS build; the file says why)", () => {
    const offenders = [...importGraph(['src', 'test', 'bench', 'chaos']).keys()].filter((file) => {
      if (file === 'src/db/drizzle.ts') return false;
      const text = readFileSync(join(ROOT, file), 'utf8');
      return /(?:^|\n)\s*import\s+(?!type\s)[^'"]*?from\s*'drizzle-orm[^']*'/.test(text);
    });
    expect(offenders).toEqual([]);
  });

  it('keeps each actor folder to its thread: entry, protocol, client and thread-local wiring', () => {
    const graph = importGraph(['src']);
    const actorFiles = [...graph.keys()].filter((file) => ACTOR_FILE.test(file));
    // Every actor has its entry and its protocol.
    for (const actor of ['ca', 'delivery', 'encryption', 'ingest']) {
      expect(actorFiles).toContain(`src/actors/${actor}/${actor}.actor.ts`);
      expect(actorFiles).toContain(`src/actors/${actor}/${actor}.protocol.ts`);
    }
  });
});
