#!/usr/bin/env bash
# What the README's two commands need, installed when missing (npm start runs
# `setup.sh start` before it builds, npm test runs `setup.sh test`; .ci/run calls it too):
#
#   start  Node.js ^22.19 or 24, the npm dependencies, redis-server, mariadb-server and
#          openssl. Redis and MariaDB need not run: the broker starts its own under data/.
#   test   the same, plus what the tests drive: chromium (portal), promtool (package
#          prometheus: alert rules), mariadb-client (mb backup), rabbitmq-server (amqp
#          target: the tests start nodes of their own on free ports, never the system's);
#          Redis and MariaDB must answer on 127.0.0.1 (started here when they do not).
#
# System packages come from apt: directly as root, through `sudo -n` when that needs no
# password; otherwise the exact command is printed and the script stops (exit 1).
# Debian/Ubuntu only. MB_SKIP_SETUP=1 skips all of it (you manage the machine yourself).
set -euo pipefail
mode="${1:-start}"
case "$mode" in start | test) ;; *) echo "usage: scripts/setup.sh start|test" >&2; exit 2 ;; esac
[ "${MB_SKIP_SETUP:-}" = 1 ] && exit 0
cd "$(dirname "$0")/.."
say() { printf 'setup: %s\n' "$*"; }
fail() { printf 'setup: %s\n' "$*" >&2; exit 1; }

# ── Node.js ──────────────────────────────────────────────────────────────────────────
# undici 8 and commander 15 need 22.19 / 22.12; Node 20 is past its end of life. An older
# `node` is not refused: npm start / npm test run through scripts/node.sh, which uses
# Node 24 from the npm registry then; fetch it now, so a failure says so here.
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=19)?0:1)'; then
  say "Node.js $(node --version) is past its end of life: fetching Node $(tr -d ' \nv' <.nvmrc) from the npm registry (scripts/fetch-node.sh, cached in ~/.cache)"
  node24="$(bash scripts/fetch-node.sh)" || fail "cannot get Node 24: install Node.js 22.19+ or 24 (nvm install), then run the command again"
  export PATH="$node24:$PATH"
  say "using $(node --version) for this project (scripts/node.sh)"
fi

# ── npm dependencies ─────────────────────────────────────────────────────────────────
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing the npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi

# ── system packages ──────────────────────────────────────────────────────────────────
as_root=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then as_root=(sudo -n); else as_root=(); fi
fi
can_be_root() { [ "$(id -u)" = 0 ] || [ ${#as_root[@]} -gt 0 ]; }
root_cmd() { if [ "$(id -u)" = 0 ]; then "$@"; else "${as_root[@]}" "$@"; fi; }

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
missing=()
have redis-server || missing+=(redis-server)
have mariadbd || have mysqld || missing+=(mariadb-server)
have openssl || missing+=(openssl)
if [ "$mode" = test ]; then
  have mariadb-dump || have mysqldump || missing+=(mariadb-client)
  have chromium || missing+=(chromium)
  have promtool || missing+=(prometheus)
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
fi
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || fail "missing: ${missing[*]}; install them with your package manager (apt-get names)"
  if ! can_be_root; then
    fail "missing: ${missing[*]}. Install them, then run the command again:
  sudo apt-get update && sudo apt-get install -y ${missing[*]}"
  fi
  say "installing ${missing[*]} (apt-get)"
  root_cmd apt-get update -qq
  root_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# ── Redis and MariaDB on 127.0.0.1 (tests; the broker starts its own when needed) ────
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; }
mariadb_up() { mariadb-admin -h127.0.0.1 --connect-timeout=2 ping >/dev/null 2>&1 || mysqladmin -h127.0.0.1 --connect-timeout=2 ping >/dev/null 2>&1; }
# The default config and the tests connect as root@127.0.0.1 without a password.
mariadb_login() { mariadb -uroot -h127.0.0.1 -e 'SELECT 1' >/dev/null 2>&1 || mysql -uroot -h127.0.0.1 -e 'SELECT 1' >/dev/null 2>&1; }

if [ "$mode" = test ]; then
  if ! redis_up || ! mariadb_up; then
    can_be_root || fail "Redis and MariaDB must run on 127.0.0.1 for the tests. Start them, then run the command again:
  sudo systemctl start redis-server mariadb"
    if ! redis_up; then
      say "starting redis-server on 127.0.0.1:6379"
      root_cmd systemctl start redis-server 2>/dev/null ||
        { root_cmd mkdir -p /var/lib/redis /var/log/redis &&
          root_cmd redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
            --dir /var/lib/redis --logfile /var/log/redis/mb-setup.log; }
    fi
    if ! mariadb_up; then
      say "starting mariadbd"
      root_cmd systemctl start mariadb 2>/dev/null ||
        { root_cmd mkdir -p /run/mysqld && { root_cmd chown mysql:mysql /run/mysqld 2>/dev/null || true; } &&
          root_cmd start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd; }
    fi
    for _ in $(seq 1 60); do redis_up && mariadb_up && break; sleep 1; done
    redis_up || fail "Redis did not come up on 127.0.0.1:6379"
    mariadb_up || fail "MariaDB did not come up on 127.0.0.1:3306"
  fi
fi
if mariadb_up && ! mariadb_login; then
  # A fresh Debian MariaDB lets root in through the Unix socket only.
  sql="CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
  can_be_root || fail "MariaDB refuses root@127.0.0.1 without a password (the development default). Allow it, then run the command again:
  sudo mariadb -e \"$sql\""
  say "allowing root@127.0.0.1 without a password in MariaDB (loopback only; a development default — production: docs/deploy.md)"
  root_cmd mariadb -e "$sql"
fi
say "ready ($mode): Node $(node --version)"
