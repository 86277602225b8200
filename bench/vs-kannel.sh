#!/bin/bash
# Kannel and the broker back to back, as issue #15's targets are defined: PAIRS pairs of
# `../shared/peers/kannel/run.sh file` + `bench.ts --limits off`, then (EXTRA=1) --fsync
# always, Kannel, --target webhook, bench:floor, Kannel. One line per run on stdout; the
# broker's JSON summaries in $OUT (default /tmp/vs-kannel). Run after `npm run build`.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$(bash scripts/fetch-node.sh):$PATH"
KANNEL=${KANNEL:-../shared/peers/kannel/run.sh}
OUT=${OUT:-/tmp/vs-kannel}
mkdir -p "$OUT"
kannel() { echo "$(date +%T) $("$KANNEL" file 2>&1 | grep SUMMARY)"; }
broker() {
  local tag=$1; shift
  npx tsx bench/bench.ts --limits off "$@" >"$OUT/$tag.json" 2>"$OUT/$tag.err"
  node bench/summary-line.mjs "$OUT/$tag.json" "$tag"
}
for i in $(seq 1 "${PAIRS:-3}"); do kannel; broker "store$i"; done
if [[ -n ${EXTRA:-} ]]; then
  broker fsync --fsync always; kannel
  broker webhook --target webhook
  npx tsx bench/https-floor.ts >"$OUT/floor.json" 2>&1
  echo "$(date +%T) floor $(grep -o '"requests_per_s": [0-9]*' "$OUT/floor.json")"
  kannel
fi
