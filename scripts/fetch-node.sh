#!/usr/bin/env bash
# Prints the bin directory of a Node.js release line (default: the one in .nvmrc),
# fetched from the npm registry's node-linux-<arch> package into a cache outside the
# repository — so CI (and a machine whose distribution ships an older Node) needs no
# access beyond the npm registry. `npm pack` checks the tarball against the registry's
# sha512 integrity. Use: export PATH="$(bash scripts/fetch-node.sh):$PATH"
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
line="${1:-$(tr -d ' \nv' <"$root/.nvmrc")}"
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "fetch-node: no node-linux package for $(uname -m)" >&2; exit 1 ;;
esac
pkg="node-linux-$arch"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/message-broker/node"
mkdir -p "$cache"

# The newest release of the line; offline, the newest one already in the cache.
version="$(npm view "$pkg@^$line" version --json 2>/dev/null |
  node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>{try{const v=JSON.parse(s);console.log(Array.isArray(v)?v.at(-1):v)}catch{}})' || true)"
if [ -z "$version" ]; then
  version="$(ls "$cache" 2>/dev/null | grep -E "^$line\." | sort -V | tail -1 || true)"
  [ -n "$version" ] || { echo "fetch-node: cannot reach the npm registry and no Node $line is cached" >&2; exit 1; }
fi

dir="$cache/$version"
if [ ! -x "$dir/bin/node" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$pkg@$version" >/dev/null)
  mkdir -p "$tmp/x"
  tar -xzf "$tmp"/*.tgz -C "$tmp/x" --strip-components=1
  rm -rf "$dir" && mv "$tmp/x" "$dir"
fi
"$dir/bin/node" --version >/dev/null
echo "$dir/bin"
