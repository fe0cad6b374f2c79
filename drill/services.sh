#!/usr/bin/env bash
# The fault drill's own Redis and MariaDB (make drill). The drill kills, pauses and restarts
# them, so they are never the servers of `make run` / `make test`: their own loopback ports,
# their data under .data/drill, their own pid files. Reuses scripts/lib/*.sh; signals only the
# processes named by this script's pid files (checked to be ours), never by name.
#
# Usage: drill/services.sh <command>
#   up | down                  redis + mariadb | stop both (a paused server is resumed first)
#   redis-up | mariadb-up | mariadb-down
#   signal redis|mariadb SIG   send SIG (KILL, STOP or CONT) to our own server; KILL waits for exit
#   reset                      delete the drill's Redis data (refused while that Redis runs)
#   apps-down                  stop gateways/sinks a killed drill left behind (run/app-*.pid)
#   status
# Environment: DRILL_REDIS_PORT (6392), DRILL_MYSQL_PORT (3392), DRILL_APPENDFSYNC (everysec).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$ROOT/.data/drill"
RUN="$DATA/run"
LOG="$DATA/log"

# The servers of make run / make test (the Makefile exports their ports): never the drill's.
DEV_PORTS="${REDIS_PORT:-6391} ${MYSQL_PORT:-3391} ${CLUSTER_PORTS:-7101 7102 7103}"
# Only DRILL_* variables choose the drill's ports: REDIS_PORT/MYSQL_PORT name the dev servers.
REDIS_PORT="${DRILL_REDIS_PORT:-6392}"
MYSQL_PORT="${DRILL_MYSQL_PORT:-3392}"
REDIS_APPENDFSYNC="${DRILL_APPENDFSYNC:-everysec}"
MYSQL_SOCKET="$RUN/mariadb.sock"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
MYSQL_URL="mysql://root@127.0.0.1:$MYSQL_PORT"

# Bounded waits, in seconds (as in scripts/services.sh).
REDIS_WAIT=10
MYSQL_WAIT=30
STOP_WAIT=15

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

LIB="$ROOT/scripts/lib"
# shellcheck source=../scripts/lib/common.sh
source "$LIB/common.sh"
# shellcheck source=../scripts/lib/redis.sh
source "$LIB/redis.sh"
# shellcheck source=../scripts/lib/mariadb.sh
source "$LIB/mariadb.sh"

check_port_number DRILL_REDIS_PORT "$REDIS_PORT"
check_port_number DRILL_MYSQL_PORT "$MYSQL_PORT"
for p in $DEV_PORTS; do
  [[ "$p" != "$REDIS_PORT" && "$p" != "$MYSQL_PORT" ]] ||
    die "drill: port $p belongs to the servers of make run/make test; the drill kills its servers, pick other DRILL_*_PORT values"
done
case "$REDIS_APPENDFSYNC" in
  everysec | always) ;;
  *) die "DRILL_APPENDFSYNC must be everysec or always, got '$REDIS_APPENDFSYNC'" ;;
esac
for b in redis-server redis-cli mariadbd mariadb-install-db mariadb-admin mariadb setsid; do
  command -v "$b" >/dev/null || die "drill: '$b' is missing (run: make deps)"
done

# server_of NAME: sets PROG and PIDF for redis or mariadb.
server_of() {
  case "$1" in
    redis) PROG=redis-server PIDF="$RUN/redis.pid" ;;
    mariadb) PROG=mariadbd PIDF="$RUN/mariadb.pid" ;;
    *) die "drill: unknown server '$1' (redis or mariadb)" ;;
  esac
}

cmd_signal() {
  local name="${1:-}" sig="${2:-}" pid i
  server_of "$name"
  case "$sig" in
    KILL | STOP | CONT) ;;
    *) die "drill: signal must be KILL, STOP or CONT, got '$sig'" ;;
  esac
  pid="$(live_pid "$PIDF" "$PROG")" || die "$name: not running (no live pid in ${PIDF#"$ROOT"/})"
  kill "-$sig" "$pid"
  if [[ "$sig" == KILL ]]; then
    for ((i = 0; i < 50; i++)); do
      is_ours "$pid" "$PROG" || break
      sleep 0.1
    done
    if is_ours "$pid" "$PROG"; then die "$name: pid $pid survived SIGKILL"; fi
  fi
  say "$name: SIG$sig sent to pid $pid"
}

cmd_reset() {
  if live_pid "$RUN/redis.pid" redis-server >/dev/null; then die "drill: reset refused, the drill's redis is running"; fi
  rm -rf "$DATA/redis"
  say "redis: data of the drill removed"
}

# The drill writes run/app-<name>.pid for each gateway and sink it spawns; after a drill that
# died without cleaning up, their processes (node, cwd = the checkout) are stopped here.
cmd_apps_down() {
  local f
  for f in "$RUN"/app-*.pid; do
    [[ -e "$f" ]] || continue
    f="${f##*/}"
    stop_pidfile "${f%.pid}" "$RUN/$f" node
  done
}

cmd_status() {
  local name pid
  for name in redis mariadb; do
    server_of "$name"
    if pid="$(live_pid "$PIDF" "$PROG")"; then
      printf '%-8s running  pid %-7s state %s\n' "$name" "$pid" "$(awk '{print $3}' "/proc/$pid/stat")"
    else
      printf '%-8s stopped\n' "$name"
    fi
  done
}

usage() { sed -n '7,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

case "${1:-}" in
  up)
    cmd_redis_up
    cmd_mariadb_up
    ;;
  down)
    # stop_pidfile sends SIGCONT after SIGTERM, so a paused server stops too.
    cmd_redis_down
    cmd_mariadb_down
    ;;
  redis-up) cmd_redis_up ;;
  mariadb-up) cmd_mariadb_up ;;
  mariadb-down) cmd_mariadb_down ;;
  signal) cmd_signal "${2:-}" "${3:-}" ;;
  reset) cmd_reset ;;
  apps-down) cmd_apps_down ;;
  status) cmd_status ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
