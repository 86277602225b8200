/**
 * The repository's import graph, read from the source text: which module imports which
 * (relative `.js` specifiers resolved to the `.ts` files they compile from).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s(?:type\s)?[^'"]*?from\s*'(\.{1,2}\/[^']+)'|import\(\s*'(\.{1,2}\/[^']+)'\s*\)/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** file (repo-relative) → the repo-relative files it imports; `typeOnly` marks `import type` edges. */
export function importGraph(dirs: readonly string[]): Map<string, Array<{ to: string; typeOnly: boolean }>> {
  const graph = new Map<string, Array<{ to: string; typeOnly: boolean }>>();
  for (const file of dirs.flatMap(sourceFiles)) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const edges: Array<{ to: string; typeOnly: boolean }> = [];
    for (const match of text.matchAll(IMPORT)) {
      const specifier = match[1] ?? match[2];
      if (!specifier?.endsWith('.js')) continue;
      const to = relative(ROOT, resolve(ROOT, dirname(file), specifier.replace(/\.js$/, '.ts')));
      edges.push({ to, typeOnly: /^\s*(?:import|export)\s+type\s/.test(match[0].trimStart()) });
    }
    graph.set(file, edges);
  }
  return graph;
}
