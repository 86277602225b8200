/**
 * The Node.js lines the broker runs on (package.json `engines`). On an older one it fails
 * deep inside — `process.threadCpuUsage` in every actor (a restart loop, then "ca actor is
 * not available"), zlib's zstd in undici when `mb` loads — so both entry points ask this
 * first and say what to do instead. Imports nothing: it must load on any Node.
 */
const NEEDED = 'Node.js 22.19 or later, or 24 (the maintained LTS lines)';

/** Why this Node.js cannot run the broker, or undefined when it can. */
export function unsupportedNode(version: string = process.versions.node): string | undefined {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if ((major === 22 && minor >= 19) || major >= 24) return undefined;
  return (
    `Node.js ${version} is not supported: the broker needs ${NEEDED}. ` +
    'Install one (nodejs.org, nvm), or in the source tree use the one scripts/fetch-node.sh fetches: ' +
    'export PATH="$(bash scripts/fetch-node.sh):$PATH"'
  );
}
