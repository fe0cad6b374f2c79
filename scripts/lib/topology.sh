# shellcheck shell=bash
# make run TOPOLOGY=cluster: a Redis Cluster of 3 masters with 1 replica each (AOF on), MariaDB
# servers holding the shard databases between them (the main database on the first), one
# gateway and several sinks in one consumer group. Sourced by scripts/services.sh after
# lib/redis.sh, lib/mariadb.sh and lib/app.sh, whose helpers it uses.
# Several topologies can live side by side (make run's, make test-cluster's, the drill's): each
# has a TOPOLOGY_NAME (topology by default) that names its files. State: data in
# .data/<name>/redis-<port> and .data/<name>/mariadb-<n>, pids in .data/run/<name>-*, logs in
# .data/log/<name>-*; its databases are TOPOLOGY_DB_PREFIX's (topo_main, topo_0, ...), apart from
# make run's. Each started topology leaves its ports in .data/run/topologies/<name>, so make
# stop finds and stops every one of them by pid.
T="$TOPOLOGY_NAME"

# The MariaDB servers: the main one (MYSQL_PORT) first, then mariadb-2, -3, ... on TOPOLOGY_MYSQL_PORTS.
topo_mysql_ports() { printf '%s\n' "$MYSQL_PORT" $TOPOLOGY_MYSQL_PORTS; }

# Shard database d lives on server d % servers (core/mysql.ts reads MYSQL_SHARD_URLS that way).
topo_shard_urls() {
  local p out=()
  for p in $(topo_mysql_ports); do out+=("mysql://root@127.0.0.1:$p"); done
  local IFS=,
  printf '%s\n' "${out[*]}"
}

topo_redis_nodes() {
  local p out=()
  for p in $TOPOLOGY_REDIS_PORTS; do out+=("127.0.0.1:$p"); done
  local IFS=,
  printf '%s\n' "${out[*]}"
}

# The topology's storage settings: what its gateway and sinks get on top of app.sh's, and what a
# tool reading their storage needs (topology-env: make loadtest and make bench TOPOLOGY=cluster).
TOPO_SETTINGS=("REDIS_CLUSTER_NODES=$(topo_redis_nodes)" "MYSQL_URL=$MYSQL_URL" "MYSQL_SHARD_URLS=$(topo_shard_urls)"
  "SHARD_DBS=$SHARD_DBS" "DB_PREFIX=$TOPOLOGY_DB_PREFIX")
# The environment of the topology's gateway and sinks: app.sh's, pointed at the cluster and servers.
TOPO_ENV_CMD=("${APP_ENV_CMD[@]}" "${TOPO_SETTINGS[@]}")

# topology-env: the storage settings, one VAR=VALUE a line, for `export $(...)` in the Makefile.
cmd_topology_env() { printf '%s\n' "${TOPO_SETTINGS[@]}"; }

# ---------------------------------------------------------------------------------------------
# Redis Cluster

# topology_redis_start PORT: starts one cluster node of the topology (also a node the drill adds
# to reshard onto); it joins a cluster only by its nodes.conf or by add-node.
topology_redis_start() {
  local p="$1" dir="$DATA/$T/redis-$1"
  require_free_port "topology redis" "$p" TOPOLOGY_REDIS_PORTS
  dirs "$dir"
  # node timeout 5 s: a dead master's replica takes over within seconds (Redis's 15 s default).
  # The announced address: a lone master meets nobody, so would never learn it (CLUSTER SLOTS "").
  # TOPOLOGY_MIN_REPLICAS_TO_WRITE=1 goes with REDIS_WAIT_REPLICAS=1: a master without a replica
  # then refuses a claim script before it runs (docs/reliability.md, "What a failover guarantees").
  redis-server --port "$p" --bind 127.0.0.1 --protected-mode yes --dir "$dir" \
    --cluster-enabled yes --cluster-config-file "nodes-$p.conf" --cluster-node-timeout 5000 \
    --cluster-announce-ip 127.0.0.1 --min-replicas-to-write "${TOPOLOGY_MIN_REPLICAS_TO_WRITE:-0}" \
    --appendonly yes --appendfsync "${REDIS_APPENDFSYNC:-everysec}" --save '' --maxmemory-policy noeviction \
    --daemonize yes --pidfile "$RUN/$T-redis-$p.pid" --logfile "$LOG/$T-redis-$p.log" ||
    { log_tail "$LOG/$T-redis-$p.log"; die "$T: redis $p failed to start"; }
}

# Starts the nodes that are not running; their AOF and nodes.conf survive make stop, so a
# restarted cluster comes back with its data and roles. Only a cluster that has no slot
# anywhere (a first start) is created.
topology_redis_up() {
  local p assigned=0
  for p in $TOPOLOGY_REDIS_PORTS; do
    live_pid "$RUN/$T-redis-$p.pid" redis-server >/dev/null || topology_redis_start "$p"
  done
  for p in $TOPOLOGY_REDIS_PORTS; do
    wait_redis "$T redis" "$p" "$RUN/$T-redis-$p.pid" "$LOG/$T-redis-$p.log"
    if rcli "$p" cluster info 2>/dev/null | grep -q '^cluster_slots_assigned:[1-9]'; then assigned=1; fi
  done
  if ((assigned == 0)); then
    local masters
    masters=$(($(wc -w <<<"$TOPOLOGY_REDIS_PORTS") / (TOPOLOGY_REDIS_REPLICAS + 1)))
    say "$T: creating the Redis Cluster (masters: $masters, replicas per master: $TOPOLOGY_REDIS_REPLICAS)"
    if ((masters >= 3)); then
      local out
      # shellcheck disable=SC2046 # one argument per node
      out="$(timeout 60 redis-cli --cluster create $(topo_redis_nodes | tr , ' ') --cluster-replicas "$TOPOLOGY_REDIS_REPLICAS" \
        --cluster-yes 2>&1)" ||
        { printf '%s\n' "$out" >&2; die "$T: redis-cli --cluster create failed (a half-made cluster: make stop, rm -rf .data/$T, retry)"; }
    else
      topology_create_small "$masters"
    fi
  fi
  # shellcheck disable=SC2086 # one argument per port
  wait_nodes_healthy "$T: Redis Cluster" "$T-redis" $TOPOLOGY_REDIS_PORTS
  topology_wait_replicas
}

# topology_create_small MASTERS: redis-cli --cluster create refuses fewer than 3 masters, and
# capacity calibrate measures 1 and 2 as well: the slots are split evenly by hand, the nodes
# meet the first, and each replica (the ports after the masters, in order) follows its master.
topology_create_small() {
  local n="$1" ports i p id start
  read -r -a ports <<<"$TOPOLOGY_REDIS_PORTS"
  for ((i = 0; i < n; i++)); do
    rcli "${ports[i]}" cluster addslotsrange $((i * 16384 / n)) $(((i + 1) * 16384 / n - 1)) >/dev/null ||
      die "$T: cluster addslotsrange on ${ports[i]} failed"
  done
  for p in "${ports[@]:1}"; do rcli "$p" cluster meet 127.0.0.1 "${ports[0]}" >/dev/null || die "$T: cluster meet from $p failed"; done
  for ((i = n; i < ${#ports[@]}; i++)); do
    p="${ports[i]}"
    id="$(rcli "${ports[(i - n) % n]}" cluster myid | tr -d '\r')"
    start=$SECONDS
    # the replica must have heard of its master through the gossip before it can follow it.
    until rcli "$p" cluster replicate "$id" 2>/dev/null | grep -q OK; do
      ((SECONDS - start < CLUSTER_WAIT)) || die "$T: $p could not replicate ${ports[(i - n) % n]} within ${CLUSTER_WAIT}s"
      sleep 0.2
    done
  done
}

# Every replica has finished its first sync (master_link_status:up): until then a master has
# no copy of its writes, and a WAIT for a replica (REDIS_WAIT_REPLICAS) would time out.
topology_wait_replicas() {
  local p start=$SECONDS pending
  while ((SECONDS - start < CLUSTER_WAIT)); do
    pending=""
    for p in $TOPOLOGY_REDIS_PORTS; do
      rcli "$p" role 2>/dev/null | head -n 1 | grep -q slave || continue
      rcli "$p" info replication 2>/dev/null | grep -q '^master_link_status:up' || pending+=" $p"
    done
    [[ -z "$pending" ]] && return 0
    sleep 0.2
  done
  die "$T: replicas$pending not in sync with their masters within ${CLUSTER_WAIT}s"
}

topology_redis_down() {
  local p
  for p in $TOPOLOGY_REDIS_PORTS; do stop_pidfile "$T redis $p" "$RUN/$T-redis-$p.pid" redis-server; done
}

# ---------------------------------------------------------------------------------------------
# MariaDB servers beyond the main one

topology_mysql_up() {
  local p n=2
  for p in $TOPOLOGY_MYSQL_PORTS; do
    mariadb_up "$T-mariadb-$n" "$p" "$DATA/$T/mariadb-$n"
    n=$((n + 1))
  done
}

topology_mysql_down() {
  local p n=2
  for p in $TOPOLOGY_MYSQL_PORTS; do
    mariadb_down "$T-mariadb-$n"
    n=$((n + 1))
  done
}

# ---------------------------------------------------------------------------------------------
# gateway and sinks

# topo_start NAME MAIN [VAR=VALUE...]: node MAIN in the background, pid in run/NAME.pid.
topo_start() {
  local name="$1" main="$2" pid
  shift 2
  pid="$(spawn "$LOG/$name.log" "${TOPO_ENV_CMD[@]}" "$@" node --import tsx "$main")"
  printf '%s\n' "$pid" >"$RUN/$name.pid"
  say "$name: started (pid $pid)"
}

# topo_wait_healthy NAME URL: URL answers 2xx within HEALTH_WAIT s while NAME's process lives.
topo_wait_healthy() {
  local name="$1" url="$2" start=$SECONDS
  while ((SECONDS - start < HEALTH_WAIT)); do
    curl -fsS -m 2 -o /dev/null "$url" 2>/dev/null && return 0
    live_pid "$RUN/$name.pid" node >/dev/null || break
    sleep 0.2
  done
  log_tail "$LOG/$name.log" 40
  topology_app_down >&2
  die "$name: not healthy on $url within ${HEALTH_WAIT}s (or it exited)"
}

topology_app_up() {
  local p i=1 all=1
  live_pid "$RUN/$T-gateway.pid" node >/dev/null || all=""
  for p in $TOPOLOGY_SINK_PORTS; do
    live_pid "$RUN/$T-sink-$i.pid" node >/dev/null || all=""
    i=$((i + 1))
  done
  if [[ -n "$all" ]]; then
    say "$T: gateway and sinks already running"
    return 0
  fi
  # A partly running app (a sink died) is restarted whole.
  topology_app_down >/dev/null
  i=1
  require_free_port gateway "$PORT" PORT
  for p in $TOPOLOGY_SINK_PORTS; do require_free_port sink "$p" TOPOLOGY_SINK_PORTS; done
  cd "$ROOT" || die "$T: cannot cd to $ROOT"
  say "$T: migrating schema (sink/migrate.ts)"
  "${TOPO_ENV_CMD[@]}" node --import tsx sink/migrate.ts || die "$T: sink/migrate.ts failed"
  for p in $TOPOLOGY_SINK_PORTS; do
    topo_start "$T-sink-$i" sink/main.ts "SINK_METRICS_PORT=$p" "SINK_CONSUMER=$(hostname)-sink-$i"
    i=$((i + 1))
  done
  # Gateway workers (gateway/workers.ts): one process per core left over is how production runs it.
  topo_start "$T-gateway" gateway/main.ts "GATEWAY_WORKERS=${TOPOLOGY_GATEWAY_WORKERS:-2}"
  topo_wait_healthy "$T-gateway" "http://127.0.0.1:$PORT/healthz"
  i=1
  for p in $TOPOLOGY_SINK_PORTS; do
    topo_wait_healthy "$T-sink-$i" "http://127.0.0.1:$p/healthz"
    i=$((i + 1))
  done
}

topology_app_down() {
  local p i=1
  # Gateway first: it drains in-flight claims on SIGTERM; then the sinks flush what is left.
  stop_pidfile "$T-gateway" "$RUN/$T-gateway.pid" node
  for p in $TOPOLOGY_SINK_PORTS; do
    stop_pidfile "$T-sink-$i" "$RUN/$T-sink-$i.pid" node
    i=$((i + 1))
  done
}

# ---------------------------------------------------------------------------------------------
# whole topology

# Remembers this topology's name and ports for make stop (topology_down_all).
topology_record() {
  mkdir -p "$RUN/topologies"
  printf 'TOPOLOGY_REDIS_PORTS=%q\nTOPOLOGY_MYSQL_PORTS=%q\nTOPOLOGY_SINK_PORTS=%q\n' \
    "$TOPOLOGY_REDIS_PORTS" "$TOPOLOGY_MYSQL_PORTS" "$TOPOLOGY_SINK_PORTS" >"$RUN/topologies/$T"
}

# The servers only (the cluster and the MariaDB servers beyond MYSQL_PORT's, which must run):
# for make test-cluster and the drill, which start gateways and sinks of their own.
cmd_topology_storage_up() {
  topology_record
  topology_mysql_up
  topology_redis_up
}

cmd_topology_up() {
  cmd_deps
  cmd_mariadb_up
  cmd_topology_storage_up
  topology_app_up
  topology_print
}

cmd_topology_down() {
  topology_app_down
  topology_redis_down
  topology_mysql_down
}

# topology_each CMD...: runs CMD once for every topology started under .data, in a subshell
# each, with the name and ports it was started with (run/topologies/<name>).
topology_each() {
  local f
  for f in "$RUN"/topologies/*; do
    [[ -f "$f" ]] || continue
    (
      # shellcheck disable=SC1090 # written by topology_record
      source "$f"
      T="$(basename "$f")"
      "$@"
    )
  done
}

# make stop: every topology, each by the pid files its name gives.
topology_down_all() { topology_each cmd_topology_down; }

# Each master with its replicas and slots (from CLUSTER NODES), each MariaDB server with its
# databases, the gateway and the sinks.
topology_print() {
  local p first n=0 d dbs servers
  servers="$(topo_mysql_ports | wc -l)"
  first="${TOPOLOGY_REDIS_PORTS%% *}"
  say "topology:"
  rcli "$first" cluster nodes | tr -d '\r' | awk '
    { addr = $2; sub(/@.*/, "", addr) }
    $3 ~ /master/ { m[$1] = addr; s = ""; for (i = 9; i <= NF; i++) s = s (s ? " " : "") $i; slots[$1] = s }
    $3 ~ /slave/ { r[$4] = (r[$4] ? r[$4] " " : "") addr }
    END { for (id in m) printf "  redis master  %-16s replica %-16s slots %s\n", m[id], (r[id] ? r[id] : "none"), slots[id] }' | sort
  for p in $(topo_mysql_ports); do
    dbs=""
    ((n == 0)) && dbs="${TOPOLOGY_DB_PREFIX}_main"
    for ((d = n; d < SHARD_DBS; d += servers)); do dbs+="${dbs:+ }${TOPOLOGY_DB_PREFIX}_$d"; done
    printf '  mariadb       %-16s %s\n' "127.0.0.1:$p" "${dbs:-(no database)}"
    n=$((n + 1))
  done
  say "  gateway       http://127.0.0.1:$PORT  (${TOPOLOGY_GATEWAY_WORKERS:-2} workers; admin token: ADMIN_TOKEN, dev-admin-token by default)"
  n=1
  for p in $TOPOLOGY_SINK_PORTS; do
    printf '  sink %-8s http://127.0.0.1:%s/metrics  /healthz\n' "$n" "$p"
    n=$((n + 1))
  done
  say "  logs          ${LOG#"$ROOT"/}/$T-*.log"
}

# topo_health PORT: whether 127.0.0.1:PORT/healthz answers 2xx, in words.
topo_health() { curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$1/healthz" 2>/dev/null && echo "healthz ok" || echo "healthz failing"; }

# make status: the lines of every topology started under .data.
topology_status_all() { topology_each topology_status; }

# Lines for make status, only when some process of the topology runs.
topology_status() {
  local p pid role n=2 i=1 f any=""
  for f in "$RUN/$T"-*.pid; do [[ -e "$f" ]] && any=1; done
  [[ -n "$any" ]] || return 0
  printf '%s:\n' "$T"
  for p in $TOPOLOGY_REDIS_PORTS; do
    if pid="$(live_pid "$RUN/$T-redis-$p.pid" redis-server)"; then
      role="$(rcli "$p" role 2>/dev/null | head -n 1 | tr -d '\r')"
      printf '%-13s running  pid %-7s 127.0.0.1:%s (%s, %s)\n' "topo redis" "$pid" "$p" "${role:-no answer}" \
        "$(rcli "$p" cluster info 2>/dev/null | tr -d '\r' | grep -E '^cluster_state:' || true)"
    else
      printf '%-13s stopped  127.0.0.1:%s\n' "topo redis" "$p"
    fi
  done
  for p in $TOPOLOGY_MYSQL_PORTS; do
    if pid="$(live_pid "$RUN/$T-mariadb-$n.pid" mariadbd)"; then
      printf '%-13s running  pid %-7s mysql://root@127.0.0.1:%s\n' "topo mariadb-$n" "$pid" "$p"
    else
      printf '%-13s stopped\n' "topo mariadb-$n"
    fi
    n=$((n + 1))
  done
  if pid="$(live_pid "$RUN/$T-gateway.pid" node)"; then
    printf '%-13s running  pid %-7s http://127.0.0.1:%s (%s)\n' "topo gateway" "$pid" "$PORT" "$(topo_health "$PORT")"
  else
    printf '%-13s stopped\n' "topo gateway"
  fi
  for p in $TOPOLOGY_SINK_PORTS; do
    if pid="$(live_pid "$RUN/$T-sink-$i.pid" node)"; then
      printf '%-13s running  pid %-7s http://127.0.0.1:%s/metrics (%s)\n' "topo sink $i" "$pid" "$p" "$(topo_health "$p")"
    else
      printf '%-13s stopped\n' "topo sink $i"
    fi
    i=$((i + 1))
  done
}
