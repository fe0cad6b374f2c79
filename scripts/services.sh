#!/usr/bin/env bash
# Local servers for development and tests: Redis, MariaDB, a 3-master Redis Cluster and the app
# processes (gateway, sink). Everything lives under $ROOT/.data; nothing is a system service.
# Processes are stopped only through the pid files this script writes, never by name.
#
# Usage: scripts/services.sh <command>
#   deps                 install redis/mariadb (apt) and npm dependencies when missing or stale
#   browser-deps         install chromium (apt) when missing: the console's browser test
#   up | down            deps + redis + mariadb | stop everything (app, cluster, redis, mariadb)
#   redis-up | redis-down
#   mariadb-up | mariadb-down
#   cluster-up | cluster-down
#   app-up | app-down    gateway + sink (app-up runs sink/migrate.ts first)
#   status
# Environment: REDIS_PORT (6391), MYSQL_PORT (3391), PORT (8080), CLUSTER_PORTS ("7101 7102 7103"),
#   ADMIN_TOKEN (passed to the app only when set), REDIS_APPENDFSYNC (everysec; docs/reliability.md).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$ROOT/.data"
RUN="$DATA/run"
LOG="$DATA/log"

REDIS_PORT="${REDIS_PORT:-6391}"
MYSQL_PORT="${MYSQL_PORT:-3391}"
PORT="${PORT:-8080}"
# the sink's /metrics and /healthz listener (SINK_METRICS_PORT).
SINK_METRICS_PORT="${SINK_METRICS_PORT:-9464}"
CLUSTER_PORTS="${CLUSTER_PORTS:-7101 7102 7103}"
MYSQL_SOCKET="${MYSQL_SOCKET:-$RUN/mariadb.sock}"

REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
MYSQL_URL="mysql://root@127.0.0.1:$MYSQL_PORT"

# Bounded waits, in seconds.
REDIS_WAIT=10
MYSQL_WAIT=30
CLUSTER_WAIT=20
HEALTH_WAIT=20
SINK_WAIT=10
STOP_WAIT=15

# mariadbd and friends live in /usr/sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# The commands live in scripts/lib/, one concern per file: common.sh (messages, pid files, ports,
# spawn), deps.sh, redis.sh, cluster.sh, mariadb.sh, app.sh (gateway + sink, status).
LIB="$ROOT/scripts/lib"
# shellcheck source=lib/common.sh
source "$LIB/common.sh"
# shellcheck source=lib/deps.sh
source "$LIB/deps.sh"
# shellcheck source=lib/redis.sh
source "$LIB/redis.sh"
# shellcheck source=lib/cluster.sh
source "$LIB/cluster.sh"
# shellcheck source=lib/mariadb.sh
source "$LIB/mariadb.sh"
# shellcheck source=lib/app.sh
source "$LIB/app.sh"

check_port_number REDIS_PORT "$REDIS_PORT"
check_port_number MYSQL_PORT "$MYSQL_PORT"
check_port_number PORT "$PORT"
check_port_number SINK_METRICS_PORT "$SINK_METRICS_PORT"
for p in $CLUSTER_PORTS; do check_port_number CLUSTER_PORTS "$p"; done

# ---------------------------------------------------------------------------------------------

usage() { sed -n '6,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

case "${1:-}" in
  deps) cmd_deps ;;
  browser-deps) cmd_browser_deps ;;
  redis-up) cmd_redis_up ;;
  redis-down) cmd_redis_down ;;
  mariadb-up) cmd_mariadb_up ;;
  mariadb-down) cmd_mariadb_down ;;
  cluster-up) cmd_cluster_up ;;
  cluster-down) cmd_cluster_down ;;
  app-up) cmd_app_up ;;
  app-down) cmd_app_down ;;
  up)
    cmd_deps
    cmd_redis_up
    cmd_mariadb_up
    ;;
  down)
    cmd_app_down
    cmd_cluster_down
    cmd_redis_down
    cmd_mariadb_down
    ;;
  status) cmd_status ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
