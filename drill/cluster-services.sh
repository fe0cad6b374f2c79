#!/usr/bin/env bash
# The servers of the scaled-out drill (make drill TOPOLOGY=cluster): a Redis Cluster of 3 masters
# with a replica each and a spare node to reshard onto, the drill's MariaDB (DRILL_MYSQL_PORT,
# the main and shard 0 databases) and a second one (shard 1). It is topology.sh's topology under
# the name drill-topology (data in .data/drill-topology, pids in .data/run/drill-topology-*), so
# make stop finds it too. The drill kills, stops and reshards these servers: never the ones of
# make run, make test or make test-cluster. Signals only processes named by pid files.
#
# Usage: drill/cluster-services.sh <command>
#   up | down            the cluster and both MariaDB servers | stop them all (spare node too)
#   reset                delete the cluster's data: the next up creates a fresh 3+3 cluster
#   node-kill PORT       SIGKILL to one Redis node; waits until it is gone
#   node-signal PORT STOP|CONT   pause or resume one Redis node
#   nodes-up             start the nodes that are down (a killed master rejoins as a replica); wait
#                        for cluster_state:ok and the replicas' sync
#   spare-add            start the spare node and add it to the cluster as a master with no slots
#   mariadb-2-down | mariadb-2-up   stop (SIGTERM by pid) | start the second MariaDB
# Environment: DRILL_MYSQL_PORT (3392), DRILL_TOPOLOGY_REDIS_PORTS ("7501 ... 7506"),
#   DRILL_TOPOLOGY_SPARE_PORT (7507), DRILL_TOPOLOGY_MYSQL_PORT (3394).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# topology.sh keeps a topology's files under .data/<name> and .data/{run,log}, as scripts/services.sh.
DATA="$ROOT/.data"
RUN="$DATA/run"
LOG="$DATA/log"

# The servers of make run / make test / make test-cluster / make run TOPOLOGY=cluster: never the drill's.
SHARED_PORTS="${REDIS_PORT:-6391} ${MYSQL_PORT:-3391} ${CLUSTER_PORTS:-7101 7102 7103}
  ${TOPOLOGY_REDIS_PORTS:-7201 7202 7203 7204 7205 7206} ${TOPOLOGY_MYSQL_PORTS:-3393}
  ${TEST_TOPOLOGY_REDIS_PORTS:-7311 7312 7313 7314 7315 7316} ${TEST_TOPOLOGY_MYSQL_PORTS:-3395}
  ${CAPACITY_CLUSTER_PORTS:-7601 7602 7603 7604 7605 7606}"
TOPOLOGY_NAME=drill-topology
TOPOLOGY_REDIS_PORTS="${DRILL_TOPOLOGY_REDIS_PORTS:-7501 7502 7503 7504 7505 7506}"
TOPOLOGY_REDIS_REPLICAS=1
SPARE_PORT="${DRILL_TOPOLOGY_SPARE_PORT:-7507}"
TOPOLOGY_MYSQL_PORTS="${DRILL_TOPOLOGY_MYSQL_PORT:-3394}"
MYSQL_PORT="${DRILL_MYSQL_PORT:-3392}"
# Read by topology.sh and app.sh when sourced; the drill starts its gateways and sinks itself.
TOPOLOGY_SINK_PORTS=""
TOPOLOGY_DB_PREFIX=drill
SHARD_DBS=2
PORT=0
SINK_METRICS_PORT=0
REDIS_PORT=0
REDIS_URL=""
MYSQL_URL="mysql://root@127.0.0.1:$MYSQL_PORT"

REDIS_WAIT=10
MYSQL_WAIT=30
CLUSTER_WAIT=30
HEALTH_WAIT=20
STOP_WAIT=15

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

LIB="$ROOT/scripts/lib"
# shellcheck source=../scripts/lib/common.sh
source "$LIB/common.sh"
# shellcheck source=../scripts/lib/redis.sh
source "$LIB/redis.sh"
# shellcheck source=../scripts/lib/cluster.sh
source "$LIB/cluster.sh"
# shellcheck source=../scripts/lib/mariadb.sh
source "$LIB/mariadb.sh"
# shellcheck source=../scripts/lib/app.sh
source "$LIB/app.sh"
# shellcheck source=../scripts/lib/topology.sh
source "$LIB/topology.sh"

for p in $TOPOLOGY_REDIS_PORTS $SPARE_PORT $TOPOLOGY_MYSQL_PORTS $MYSQL_PORT; do
  check_port_number "drill topology port" "$p"
  for s in $SHARED_PORTS; do
    [[ "$p" != "$s" ]] || die "drill: port $p belongs to shared servers; the drill kills its servers, pick other DRILL_* ports"
  done
done
[[ $(wc -w <<<"$TOPOLOGY_REDIS_PORTS") == 6 ]] || die "DRILL_TOPOLOGY_REDIS_PORTS must name 6 ports (3 masters, 3 replicas)"
for b in redis-server redis-cli mariadbd mariadb-install-db mariadb-admin mariadb setsid; do
  command -v "$b" >/dev/null || die "drill: '$b' is missing (run: make deps)"
done

# The main MariaDB of the drill's topology: its own datadir, on the single-node drill's port.
MAIN_MARIADB="$T-mariadb-1"

cmd_up() {
  topology_record
  mariadb_up "$MAIN_MARIADB" "$MYSQL_PORT" "$DATA/$T/mariadb-1"
  cmd_topology_storage_up
}

cmd_down() {
  TOPOLOGY_REDIS_PORTS="$TOPOLOGY_REDIS_PORTS $SPARE_PORT" topology_redis_down
  topology_mysql_down
  mariadb_down "$MAIN_MARIADB"
}

cmd_reset() {
  local p
  for p in $TOPOLOGY_REDIS_PORTS $SPARE_PORT; do
    if live_pid "$RUN/$T-redis-$p.pid" redis-server >/dev/null; then die "drill: reset refused, redis $p of $T is running"; fi
  done
  rm -rf "$DATA/$T"/redis-*
  say "$T: Redis Cluster data removed"
}

cmd_node_kill() {
  local port="$1" pid i
  check_port_number PORT "$port"
  pid="$(live_pid "$RUN/$T-redis-$port.pid" redis-server)" || die "$T: redis $port is not running"
  kill -KILL "$pid"
  for ((i = 0; i < 50; i++)); do
    is_ours "$pid" redis-server || break
    sleep 0.1
  done
  if is_ours "$pid" redis-server; then die "$T: redis $port (pid $pid) survived SIGKILL"; fi
  say "$T: redis $port killed (pid $pid)"
}

cmd_node_signal() {
  local port="$1" sig="$2" pid
  check_port_number PORT "$port"
  [[ "$sig" == STOP || "$sig" == CONT ]] || die "node-signal: STOP or CONT, got '$sig'"
  pid="$(live_pid "$RUN/$T-redis-$port.pid" redis-server)" || die "$T: redis $port is not running"
  kill "-$sig" "$pid"
  say "$T: redis $port SIG$sig (pid $pid)"
}

cmd_spare_add() {
  local first out
  live_pid "$RUN/$T-redis-$SPARE_PORT.pid" redis-server >/dev/null && die "$T: spare node $SPARE_PORT already runs"
  rm -rf "$DATA/$T/redis-$SPARE_PORT"
  topology_redis_start "$SPARE_PORT"
  wait_redis "$T redis" "$SPARE_PORT" "$RUN/$T-redis-$SPARE_PORT.pid" "$LOG/$T-redis-$SPARE_PORT.log"
  # make stop stops it with the others.
  TOPOLOGY_REDIS_PORTS="$TOPOLOGY_REDIS_PORTS $SPARE_PORT" topology_record
  for first in $TOPOLOGY_REDIS_PORTS; do redis_ping "$first" && break; done
  out="$(timeout 30 redis-cli --cluster add-node "127.0.0.1:$SPARE_PORT" "127.0.0.1:$first" 2>&1)" ||
    { printf '%s\n' "$out" >&2; die "$T: redis-cli --cluster add-node failed"; }
  # shellcheck disable=SC2086 # one argument per port
  wait_nodes_healthy "$T: Redis Cluster with $SPARE_PORT" "$T-redis" $TOPOLOGY_REDIS_PORTS "$SPARE_PORT"
  # Slots can move to it only once every node knows it (gossip spreads add-node's MEET).
  local id p start=$SECONDS
  id="$(rcli "$SPARE_PORT" cluster myid | tr -d '\r')"
  for p in $TOPOLOGY_REDIS_PORTS; do
    until rcli "$p" cluster nodes 2>/dev/null | grep -q "^$id "; do
      ((SECONDS - start < CLUSTER_WAIT)) || die "$T: node $p does not know $SPARE_PORT ($id) within ${CLUSTER_WAIT}s"
      sleep 0.2
    done
  done
  say "$T: redis $SPARE_PORT added as a master without slots"
}

usage() { sed -n '9,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  reset) cmd_reset ;;
  node-kill) cmd_node_kill "${2:-}" ;;
  node-signal) cmd_node_signal "${2:-}" "${3:-}" ;;
  nodes-up) topology_redis_up ;;
  spare-add) cmd_spare_add ;;
  mariadb-2-down) topology_mysql_down ;;
  mariadb-2-up) topology_mysql_up ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
