/**
 * The folder layout is the architecture: a thread (src/actors/<name>/) is where code runs,
 * not what it is. Outside src/actors/, a module may use an actor only through its client
 * and its protocol; domain code (src/crypto, src/ca, src/delivery, src/ingest…) never
 * reaches into a thread's wiring.
 */
import { describe, expect, it } from 'vitest';
import { importGraph } from './import-graph.js';

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
