#!/usr/bin/env bash
# Runs Node.js with the arguments given, on a supported line: the `node` on PATH when it
# is 22.19+ or 24, otherwise Node 24 from the npm registry (scripts/fetch-node.sh, cached
# in ~/.cache), put first on PATH so whatever the process spawns (the broker's actors,
# the tests' child brokers, an installed `mb`) runs on it too. `npm start` and `npm test`
# go through here, so the README's two commands work on a machine whose distribution
# ships an older Node (Debian 12's is 18, this project's CI machines' 20).
set -euo pipefail
supported() { "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=19)?0:1)' 2>/dev/null; }
if command -v node >/dev/null && supported node; then exec node "$@"; fi
bin="$(bash "$(dirname "$0")/fetch-node.sh")"
export PATH="$bin:$PATH"
exec "$bin/node" "$@"
