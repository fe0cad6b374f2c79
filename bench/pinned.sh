#!/usr/bin/env bash
# The brief's "with its own core" measurement: the server under test (bare uWS hello, then the
# gateway) on CPU 1; wrk, Redis, MariaDB and the sink on CPU 0. Shows whether the gateway or
# its neighbours run out first. Needs `make services` running; 10 s wrk runs on loopback.
# Usage: bash bench/pinned.sh   (restores CPU affinity and deletes its data on any exit)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REDIS_PORT="${REDIS_PORT:-6391}" MYSQL_PORT="${MYSQL_PORT:-3391}"
export APP_ENV=local HOST=127.0.0.1 PORT=0 REDIS_URL="redis://127.0.0.1:$REDIS_PORT" MYSQL_URL="mysql://root@127.0.0.1:$MYSQL_PORT"
P="pin$RANDOM"
export KEY_PREFIX=$P DB_PREFIX=$P BACKLOG_MAX=100000000 \
  ADMIT_GLOBAL_RPS=10000000 ADMIT_GLOBAL_BURST=1000000 ADMIT_TEMPLATE_RPS=10000000 ADMIT_TEMPLATE_BURST=1000000
REDIS_PID=$(cat .data/run/redis.pid) MARIA_PID=$(cat .data/run/mariadb.pid)
PIDS=()
cleanup() {
  set +e # every step runs: mariadbd threads that exit mid-taskset must not stop the clean-up
  for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  taskset -acp 0-1 "$REDIS_PID" >/dev/null; taskset -acp 0-1 "$MARIA_PID" >/dev/null
  redis-cli -p "$REDIS_PORT" --scan --pattern "$P:*" | xargs -r redis-cli -p "$REDIS_PORT" unlink >/dev/null
  for db in $(mariadb --no-defaults -h127.0.0.1 -P"$MYSQL_PORT" -uroot -N -e "SHOW DATABASES LIKE '${P}\\_%'"); do
    mariadb --no-defaults -h127.0.0.1 -P"$MYSQL_PORT" -uroot -e "DROP DATABASE \`$db\`"
  done
}
trap cleanup EXIT
wrk_run() { # LABEL URL
  taskset -c 0 wrk -t1 -c100 -d3s -s bench/wrk-post.lua "$2" >/dev/null # warm-up
  echo "== $1"
  taskset -c 0 wrk -t1 -c100 -d10s --latency -s bench/wrk-post.lua "$2" | grep -E "Requests/sec|^ +(50|99)%|Non-2xx"
}
listening_port() { # LOG PATTERN: waits for the port a process logs
  for _ in $(seq 100); do
    local p; p=$(sed -n "s/.*$2\([0-9][0-9]*\).*/\1/p" "$1" | head -1)
    if [[ -n "$p" ]]; then echo "$p"; return; fi
    sleep 0.1
  done
  echo "no port in $1" >&2; exit 1
}
taskset -acp 0 "$REDIS_PID" >/dev/null; taskset -acp 0 "$MARIA_PID" >/dev/null
node --import tsx sink/migrate.ts >/dev/null

taskset -c 1 node --import tsx bench/hello-server.ts > .data/log/pinned-hello.log 2>&1 & PIDS+=($!)
wrk_run "hello (uWS on core 1)" "http://127.0.0.1:$(listening_port .data/log/pinned-hello.log 'port=')/"
kill "${PIDS[0]}"

taskset -c 1 node --import tsx gateway/main.ts > .data/log/pinned-gateway.log 2>&1 & PIDS+=($!)
taskset -c 0 node --import tsx sink/main.ts > .data/log/pinned-sink.log 2>&1 & SINK=$!; PIDS+=($SINK)
GW="http://127.0.0.1:$(listening_port .data/log/pinned-gateway.log '"port":')"
TID=$(curl -s -XPOST "$GW/v1/admin/templates" -H 'Authorization: Bearer dev-admin-token' -H 'Content-Type: application/json' \
  -d '{"name":"pinned","type":"direct","value":1,"totalStock":50000000,"perUserLimit":100}' | sed 's/.*"id":"\([^"]*\)".*/\1/')
export BENCH_TEMPLATE_ID=$TID BENCH_USERS=10000000
wrk_run "claim (gateway on core 1; wrk, Redis, MariaDB, sink on core 0)" "$GW/v1/claim"
kill -STOP "$SINK"
wrk_run "claim, sink paused" "$GW/v1/claim"
