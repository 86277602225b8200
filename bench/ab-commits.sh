#!/bin/bash
# A/B of two built checkouts, alternated: `bench/ab-commits.sh /tmp/base [bench args…]`
# runs `bench.ts --limits off --duration 15` in BASE then in this checkout, ROUNDS times
# (default 3), one line per run on stdout. Build BASE first: git clone, cp -a node_modules,
# npm run build.
set -uo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
base=$1; shift
export PATH="$(cd "$here" && bash scripts/fetch-node.sh):$PATH"
OUT=${OUT:-/tmp/ab-commits}
mkdir -p "$OUT"
run() {
  local dir=$1 tag=$2; shift 2
  (cd "$dir" && npx tsx bench/bench.ts --limits off --duration 15 "$@" >"$OUT/$tag.json" 2>"$OUT/$tag.err")
  node "$here/bench/summary-line.mjs" "$OUT/$tag.json" "$tag"
}
for i in $(seq 1 "${ROUNDS:-3}"); do run "$base" "base$i" "$@"; run "$here" "new$i" "$@"; done
