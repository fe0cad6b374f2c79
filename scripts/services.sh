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
#   topology-up | topology-down   make run TOPOLOGY=cluster: Redis Cluster 3+3, 2 MariaDB, gateway, 2 sinks
#   topology-storage-up  the topology's servers only (its first MariaDB, on MYSQL_PORT, must run)
#   topology-env         the topology's storage settings (VAR=VALUE lines) for tools reading its storage
#   status
# Environment: REDIS_PORT (6391), MYSQL_PORT (3391), PORT (8080), CLUSTER_PORTS ("7101 7102 7103"),
#   ADMIN_TOKEN (passed to the app only when set), REDIS_APPENDFSYNC (everysec; docs/reliability.md),
#   TOPOLOGY_REDIS_PORTS ("7201 ... 7206"), TOPOLOGY_MYSQL_PORTS ("3393": not 3392, the drill's; set empty: none), TOPOLOGY_SINK_PORTS
#   (SINK_METRICS_PORT and the next one), TOPOLOGY_DB_PREFIX (topo), SHARD_DBS (2), TOPOLOGY_NAME
#   (topology: names its data, pid and log files, so several topologies live side by side),
#   TOPOLOGY_REDIS_REPLICAS (1 per master; 0 for capacity calibrate's clusters of 1 to 3 masters).
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
# make run TOPOLOGY=cluster (lib/topology.sh): ports apart from the test cluster's and the dev servers'.
TOPOLOGY_REDIS_PORTS="${TOPOLOGY_REDIS_PORTS:-7201 7202 7203 7204 7205 7206}"
# Replicas per master: the ports are the masters' first, then their replicas' (capacity
# calibrate starts clusters of 1 to 3 masters without replicas).
TOPOLOGY_REDIS_REPLICAS="${TOPOLOGY_REDIS_REPLICAS:-1}"
# Set but empty: no MariaDB beyond MYSQL_PORT's (capacity calibrate's clusters need none).
TOPOLOGY_MYSQL_PORTS="${TOPOLOGY_MYSQL_PORTS-3393}"
TOPOLOGY_SINK_PORTS="${TOPOLOGY_SINK_PORTS:-$SINK_METRICS_PORT $((SINK_METRICS_PORT + 1))}"
# Databases of their own on the shared first MariaDB: with make run's coupon_* the topology's
# shard 1 would be on another server than make run's, and each would miscount the other's stock.
TOPOLOGY_DB_PREFIX="${TOPOLOGY_DB_PREFIX:-topo}"
# make run's topology; make test-cluster and the drill start theirs under other names and ports.
TOPOLOGY_NAME="${TOPOLOGY_NAME:-topology}"
# The app's default (config/settings.ts), passed to the topology's processes explicitly so the
# printed placement of the shard databases is the one they use.
SHARD_DBS="${SHARD_DBS:-2}"

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
# shellcheck source=lib/topology.sh
source "$LIB/topology.sh"

check_port_number REDIS_PORT "$REDIS_PORT"
check_port_number MYSQL_PORT "$MYSQL_PORT"
check_port_number PORT "$PORT"
check_port_number SINK_METRICS_PORT "$SINK_METRICS_PORT"
for p in $CLUSTER_PORTS; do check_port_number CLUSTER_PORTS "$p"; done
for p in $TOPOLOGY_REDIS_PORTS; do check_port_number TOPOLOGY_REDIS_PORTS "$p"; done
for p in $TOPOLOGY_MYSQL_PORTS; do check_port_number TOPOLOGY_MYSQL_PORTS "$p"; done
for p in $TOPOLOGY_SINK_PORTS; do check_port_number TOPOLOGY_SINK_PORTS "$p"; done
[[ "$TOPOLOGY_REDIS_REPLICAS" =~ ^[0-5]$ ]] || die "TOPOLOGY_REDIS_REPLICAS must be 0 to 5, got '$TOPOLOGY_REDIS_REPLICAS'"
n_ports=$(wc -w <<<"$TOPOLOGY_REDIS_PORTS")
((n_ports > 0 && n_ports % (TOPOLOGY_REDIS_REPLICAS + 1) == 0)) ||
  die "TOPOLOGY_REDIS_PORTS must name masters × (1 + TOPOLOGY_REDIS_REPLICAS) ports (6: 3 masters, 3 replicas), got $n_ports"
[[ "$SHARD_DBS" =~ ^[0-9]+$ ]] || die "SHARD_DBS must be a number, got '$SHARD_DBS'"
[[ "$TOPOLOGY_NAME" =~ ^[a-z][a-z0-9-]{0,30}$ ]] || die "TOPOLOGY_NAME must match [a-z][a-z0-9-]{0,30}, got '$TOPOLOGY_NAME'"
[[ "$TOPOLOGY_DB_PREFIX" =~ ^[a-z][a-z0-9_]{0,30}$ ]] || die "TOPOLOGY_DB_PREFIX must match [a-z][a-z0-9_]{0,30}, got '$TOPOLOGY_DB_PREFIX'"

# ---------------------------------------------------------------------------------------------

usage() { sed -n '6,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

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
  topology-up) cmd_topology_up ;;
  topology-down) cmd_topology_down ;;
  topology-storage-up) cmd_topology_storage_up ;;
  topology-env) cmd_topology_env ;;
  up)
    cmd_deps
    cmd_redis_up
    cmd_mariadb_up
    ;;
  down)
    topology_down_all
    cmd_app_down
    cmd_cluster_down
    cmd_redis_down
    cmd_mariadb_down
    ;;
  status)
    cmd_status
    topology_status_all
    ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
