# shellcheck shell=bash
# Redis Cluster for the tests: 3 masters, no replicas, on CLUSTER_PORTS, data in .data/cluster.
# Sourced by scripts/services.sh (after lib/redis.sh, whose wait_redis it uses).

# nodes_healthy PIDPREFIX PORT...: every node runs (pid in run/PIDPREFIX-PORT.pid) and sees the
# whole cluster ok with every slot assigned. The test cluster's and the topology's (topology.sh).
nodes_healthy() {
  local prefix="$1" p info
  shift
  for p in "$@"; do
    live_pid "$RUN/$prefix-$p.pid" redis-server >/dev/null || return 1
    info="$(rcli "$p" cluster info 2>/dev/null)" || return 1
    [[ "$info" == *cluster_state:ok* && "$info" == *cluster_slots_assigned:16384* ]] || return 1
  done
}

# wait_nodes_healthy LABEL PIDPREFIX PORT...: until nodes_healthy, or die within CLUSTER_WAIT
# printing each node's state.
wait_nodes_healthy() {
  local label="$1" prefix="$2" p start=$SECONDS
  shift 2
  while ((SECONDS - start < CLUSTER_WAIT)); do
    nodes_healthy "$prefix" "$@" && return 0
    sleep 0.2
  done
  for p in "$@"; do
    printf '%s: %s\n' "$p" "$(rcli "$p" cluster info 2>&1 | grep -E 'cluster_state|slots_assigned' | tr -d '\r' | tr '\n' ' ')" >&2
  done
  die "$label: not cluster_state:ok within ${CLUSTER_WAIT}s"
}

# shellcheck disable=SC2086 # one argument per port
cluster_healthy() { nodes_healthy cluster $CLUSTER_PORTS; }

cluster_nodes() {
  local p out=()
  for p in $CLUSTER_PORTS; do out+=("127.0.0.1:$p"); done
  printf '%s\n' "${out[*]}"
}

cmd_cluster_up() {
  local p
  if cluster_healthy; then
    say "cluster: already running and healthy ($(cluster_nodes))"
    return 0
  fi
  # Not healthy (or not running): start from nothing, since old node ids and slot maps would
  # fight a fresh create.
  for p in $CLUSTER_PORTS; do
    if live_pid "$RUN/cluster-$p.pid" redis-server >/dev/null; then
      say "cluster: running but not healthy; recreating"
      break
    fi
  done
  cmd_cluster_down >/dev/null
  for p in $CLUSTER_PORTS; do require_free_port "cluster node" "$p" CLUSTER_PORTS; done
  say "cluster: starting nodes $(cluster_nodes)"
  for p in $CLUSTER_PORTS; do
    local dir="$DATA/cluster/$p"
    rm -rf "$dir"
    dirs "$dir"
    redis-server --port "$p" --bind 127.0.0.1 --protected-mode yes --dir "$dir" \
      --cluster-enabled yes --cluster-config-file "nodes-$p.conf" \
      --appendonly no --save '' \
      --daemonize yes --pidfile "$RUN/cluster-$p.pid" --logfile "$LOG/cluster-$p.log" ||
      { log_tail "$LOG/cluster-$p.log"; die "cluster: node $p failed to start"; }
  done
  for p in $CLUSTER_PORTS; do wait_redis "cluster node" "$p" "$RUN/cluster-$p.pid" "$LOG/cluster-$p.log"; done
  say "cluster: creating"
  local out
  # shellcheck disable=SC2046
  out="$(timeout 30 redis-cli --cluster create $(cluster_nodes) --cluster-replicas 0 --cluster-yes 2>&1)" ||
    { printf '%s\n' "$out" >&2; die "cluster: redis-cli --cluster create failed"; }
  # shellcheck disable=SC2086 # one argument per port
  wait_nodes_healthy cluster cluster $CLUSTER_PORTS
  say "cluster: up ($(cluster_nodes))"
}

cmd_cluster_down() {
  local p
  for p in $CLUSTER_PORTS; do stop_pidfile "cluster node $p" "$RUN/cluster-$p.pid" redis-server; done
}
