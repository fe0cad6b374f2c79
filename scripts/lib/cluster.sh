# shellcheck shell=bash
# Redis Cluster for the tests: 3 masters, no replicas, on CLUSTER_PORTS, data in .data/cluster.
# Sourced by scripts/services.sh (after lib/redis.sh, whose wait_redis it uses).

cluster_healthy() {
  local p info
  for p in $CLUSTER_PORTS; do
    live_pid "$RUN/cluster-$p.pid" redis-server >/dev/null || return 1
    info="$(rcli "$p" cluster info 2>/dev/null)" || return 1
    [[ "$info" == *cluster_state:ok* && "$info" == *cluster_slots_assigned:16384* ]] || return 1
  done
}

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
  local start=$SECONDS
  while ((SECONDS - start < CLUSTER_WAIT)); do
    if cluster_healthy; then
      say "cluster: up ($(cluster_nodes))"
      return 0
    fi
    sleep 0.2
  done
  for p in $CLUSTER_PORTS; do
    printf '%s: %s\n' "$p" "$(rcli "$p" cluster info 2>&1 | grep -E 'cluster_state|slots_assigned' | tr -d '\r' | tr '\n' ' ')" >&2
  done
  die "cluster: not cluster_state:ok within ${CLUSTER_WAIT}s"
}

cmd_cluster_down() {
  local p
  for p in $CLUSTER_PORTS; do stop_pidfile "cluster node $p" "$RUN/cluster-$p.pid" redis-server; done
}
