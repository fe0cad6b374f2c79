#!/usr/bin/env bash
# Local servers for development and tests: Redis, MariaDB, a 3-master Redis Cluster and the app
# processes (gateway, sink). Everything lives under $ROOT/.data; nothing is a system service.
# Processes are stopped only through the pid files this script writes, never by name.
#
# Usage: scripts/services.sh <command>
#   deps                 install redis/mariadb (apt) and npm dependencies when missing or stale
#   up | down            deps + redis + mariadb | stop everything (app, cluster, redis, mariadb)
#   redis-up | redis-down
#   mariadb-up | mariadb-down
#   cluster-up | cluster-down
#   app-up | app-down    gateway + sink (app-up runs sink/migrate.ts first)
#   status
# Environment: REDIS_PORT (6391), MYSQL_PORT (3391), PORT (8080), CLUSTER_PORTS ("7101 7102 7103"),
#   ADMIN_TOKEN (passed to the app only when set).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$ROOT/.data"
RUN="$DATA/run"
LOG="$DATA/log"

REDIS_PORT="${REDIS_PORT:-6391}"
MYSQL_PORT="${MYSQL_PORT:-3391}"
PORT="${PORT:-8080}"
CLUSTER_PORTS="${CLUSTER_PORTS:-7101 7102 7103}"
MYSQL_SOCKET="${MYSQL_SOCKET:-$RUN/mariadb.sock}"

REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
MYSQL_URL="mysql://root@127.0.0.1:$MYSQL_PORT"

# Bounded waits, in seconds.
REDIS_WAIT=10
MYSQL_WAIT=30
CLUSTER_WAIT=20
HEALTH_WAIT=20
STOP_WAIT=15

# mariadbd and friends live in /usr/sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# ---------------------------------------------------------------------------------------------
# helpers

say() { printf '%s\n' "$*"; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# log_tail FILE [LINES]: show the end of a log after a failure. Logs written by spawn hold one
# "=== date: command" header per start; only the latest start is shown.
log_tail() {
  local file="$1" lines="${2:-30}"
  if [[ -s "$file" ]]; then
    printf -- '--- last lines of %s ---\n' "${file#"$ROOT"/}" >&2
    awk '/^=== [0-9]/ { n = 0 } { buf[n++] = $0 } END { for (i = 0; i < n; i++) print buf[i] }' "$file" |
      tail -n "$lines" >&2
    printf -- '---\n' >&2
  else
    printf '(no log at %s)\n' "${file#"$ROOT"/}" >&2
  fi
}

check_port_number() {
  if ! [[ "$2" =~ ^[0-9]{1,5}$ ]] || ((10#$2 < 1 || 10#$2 > 65535)); then
    die "$1 must be a TCP port, got '$2'"
  fi
}
check_port_number REDIS_PORT "$REDIS_PORT"
check_port_number MYSQL_PORT "$MYSQL_PORT"
check_port_number PORT "$PORT"
for p in $CLUSTER_PORTS; do check_port_number CLUSTER_PORTS "$p"; done

# is_ours PID PROGRAM: PID is a live (non-zombie) process running PROGRAM. Checks the command
# name and the executable, because redis-server is a symlink (exe shows redis-check-rdb) and node
# may rename itself (process.title changes comm but not exe).
is_ours() {
  local pid="$1" want="$2" comm exe state
  kill -0 "$pid" 2>/dev/null || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ "$state" != Z && "$state" != X ]] || return 1
  comm="$(cat "/proc/$pid/comm" 2>/dev/null)" || comm=""
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || exe=""
  exe="${exe% (deleted)}"
  [[ "$comm" == "$want" || "${exe##*/}" == "$want" ]]
}

# live_pid PIDFILE PROGRAM: prints the pid when the file names a live PROGRAM process; otherwise
# removes the (stale) file and fails.
live_pid() {
  local file="$1" want="$2" pid
  [[ -f "$file" ]] || return 1
  pid="$(tr -d '[:space:]' <"$file" 2>/dev/null)" || pid=""
  if [[ "$pid" =~ ^[0-9]+$ ]] && is_ours "$pid" "$want"; then
    printf '%s\n' "$pid"
    return 0
  fi
  rm -f "$file"
  return 1
}

# stop_pidfile LABEL PIDFILE PROGRAM: SIGTERM, wait up to STOP_WAIT s, then SIGKILL.
stop_pidfile() {
  local label="$1" file="$2" want="$3" pid i
  if ! pid="$(live_pid "$file" "$want")"; then
    say "$label: not running"
    return 0
  fi
  say "$label: stopping (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  # a stopped (SIGSTOP) process only acts on SIGTERM once it runs again.
  kill -CONT "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_WAIT * 10; i++)); do
    is_ours "$pid" "$want" || break
    sleep 0.1
  done
  if is_ours "$pid" "$want"; then
    say "$label: still running after ${STOP_WAIT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      is_ours "$pid" "$want" || break
      sleep 0.1
    done
    if is_ours "$pid" "$want"; then die "$label: pid $pid survived SIGKILL"; fi
  fi
  rm -f "$file"
  say "$label: stopped"
}

# port_busy PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_busy() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

require_free_port() {
  local label="$1" port="$2"
  if port_busy "$port"; then
    die "$label: 127.0.0.1:$port is already in use by another process (pick another port, e.g. ${3:-PORT}=...)"
  fi
}

# rcli PORT ARGS...: redis-cli against 127.0.0.1 that cannot hang on a stuck server.
rcli() {
  local port="$1"
  shift
  timeout 3 redis-cli -h 127.0.0.1 -p "$port" "$@"
}

redis_ping() { [[ "$(rcli "$1" ping 2>/dev/null)" == PONG ]]; }

mysql_ping() {
  timeout 5 mariadb-admin --no-defaults -h127.0.0.1 -P"$MYSQL_PORT" -uroot --connect-timeout=2 ping >/dev/null 2>&1
}

# Runs a background program detached from the terminal (own session, no stdin, appends to LOG)
# and prints its pid. Without job control the child is not a group leader, so setsid execs in
# place and the pid stays the program's.
spawn() {
  local log="$1"
  shift
  printf '=== %s: %s\n' "$(date '+%F %T')" "$*" >>"$log"
  nohup setsid "$@" </dev/null >>"$log" 2>&1 &
  printf '%s\n' "$!"
}

dirs() { mkdir -p "$RUN" "$LOG" "$@"; }

# ---------------------------------------------------------------------------------------------
# deps

as_root() {
  if [[ "$(id -u)" == 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    die "need root or sudo to run: $*"
  fi
}

# npm with the known-harmless 'Unknown user config "nodedir"' warning filtered out.
npm_quiet() {
  { npm "$@" 2>&1 1>&3 3>&- | { grep -v 'Unknown user config "nodedir"' >&2 || true; }; } 3>&1
}

cmd_deps() {
  local missing=() b
  for b in redis-server redis-cli mariadbd mariadb-install-db mariadb-admin mariadb; do
    command -v "$b" >/dev/null || missing+=("$b")
  done
  local pkgs=()
  if ((${#missing[@]} > 0)); then pkgs+=(redis-server mariadb-server); fi
  command -v curl >/dev/null || { missing+=(curl) && pkgs+=(curl); }
  command -v setsid >/dev/null || { missing+=(setsid) && pkgs+=(util-linux); }
  if ((${#pkgs[@]} > 0)); then
    say "deps: missing ${missing[*]}; installing ${pkgs[*]} with apt-get"
    command -v apt-get >/dev/null || die "apt-get not found; install ${pkgs[*]} yourself"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${pkgs[@]}"
    for b in redis-server redis-cli mariadbd mariadb-install-db mariadb-admin mariadb curl setsid; do
      command -v "$b" >/dev/null || die "deps: '$b' still missing after apt-get install"
    done
  else
    say "deps: redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), $(mariadbd --version | awk '{print $3}')"
  fi

  command -v node >/dev/null || die "deps: node not found (Node >= 20 is required)"
  command -v npm >/dev/null || die "deps: npm not found"
  local stamp="$ROOT/node_modules/.package-lock.json" why=""
  if [[ ! -d "$ROOT/node_modules" ]]; then
    why="node_modules is missing"
  elif [[ ! -f "$stamp" ]]; then
    why="node_modules/.package-lock.json is missing"
  elif [[ "$ROOT/package.json" -nt "$stamp" ]]; then
    why="package.json changed"
  elif [[ -f "$ROOT/package-lock.json" && "$ROOT/package-lock.json" -nt "$stamp" ]]; then
    why="package-lock.json changed"
  fi
  if [[ -n "$why" ]]; then
    # Not `npm ci`: registries that cannot resolve other platforms' optional binaries (e.g.
    # @msgpackr-extract/*-darwin) leave them out of the lock, and npm ci then refuses the lock
    # as out of sync. `install --no-save` still installs the locked versions and never rewrites
    # package.json or package-lock.json.
    say "deps: $why; running npm install --no-save"
    (cd "$ROOT" && npm_quiet install --no-save --no-audit --no-fund) || die "deps: npm install failed"
    # npm install may write package-lock.json after the stamp; keep the stamp the newest.
    touch "$stamp"
  else
    say "deps: node_modules up to date"
  fi
}

# ---------------------------------------------------------------------------------------------
# redis

cmd_redis_up() {
  local pidf="$RUN/redis.pid" log="$LOG/redis.log" dir="$DATA/redis" pid
  if pid="$(live_pid "$pidf" redis-server)"; then
    wait_redis redis "$REDIS_PORT" "$pidf" "$log"
    say "redis: already running (pid $pid, $REDIS_URL)"
    return 0
  fi
  require_free_port redis "$REDIS_PORT" REDIS_PORT
  dirs "$dir"
  say "redis: starting on 127.0.0.1:$REDIS_PORT"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode yes \
    --dir "$dir" --appendonly yes --appendfsync everysec --save '' \
    --daemonize yes --pidfile "$pidf" --logfile "$log" ||
    { log_tail "$log"; die "redis: redis-server failed to start"; }
  wait_redis redis "$REDIS_PORT" "$pidf" "$log"
  say "redis: up (pid $(cat "$pidf"), $REDIS_URL)"
}

# wait_redis LABEL PORT PIDFILE LOG: PONG within REDIS_WAIT s from our own process.
wait_redis() {
  local label="$1" port="$2" pidf="$3" log="$4" start=$SECONDS
  while ((SECONDS - start < REDIS_WAIT)); do
    if redis_ping "$port" && live_pid "$pidf" redis-server >/dev/null; then return 0; fi
    # redis writes its pid file right after daemonizing; once it is there, a dead pid is final.
    if ((SECONDS - start >= 2)) && ! live_pid "$pidf" redis-server >/dev/null; then
      log_tail "$log"
      die "$label: redis-server on port $port exited during start-up"
    fi
    sleep 0.1
  done
  log_tail "$log"
  die "$label: no PONG from 127.0.0.1:$port within ${REDIS_WAIT}s"
}

cmd_redis_down() { stop_pidfile redis "$RUN/redis.pid" redis-server; }

# ---------------------------------------------------------------------------------------------
# mariadb

cmd_mariadb_up() {
  local pidf="$RUN/mariadb.pid" log="$LOG/mariadb.log" dir="$DATA/mariadb" pid
  if pid="$(live_pid "$pidf" mariadbd)"; then
    wait_mysql "$pidf" "$log"
    check_mysql_login
    say "mariadb: already running (pid $pid, $MYSQL_URL)"
    return 0
  fi
  require_free_port mariadb "$MYSQL_PORT" MYSQL_PORT
  ((${#MYSQL_SOCKET} < 100)) || die "mariadb: socket path too long for a unix socket: $MYSQL_SOCKET (set MYSQL_SOCKET)"
  dirs
  if [[ ! -d "$dir" ]] || [[ -z "$(ls -A "$dir")" ]]; then
    # Initialise into a scratch dir and rename, so an interrupted install never leaves a
    # half-made datadir behind.
    local tmp="$DATA/mariadb.init"
    rm -rf "$tmp"
    say "mariadb: initialising datadir ${dir#"$ROOT"/}"
    mariadb-install-db --no-defaults --datadir="$tmp" --user=root \
      --auth-root-authentication-method=normal --skip-test-db >>"$log" 2>&1 ||
      { log_tail "$log"; die "mariadb: mariadb-install-db failed"; }
    rm -rf "$dir"
    mv "$tmp" "$dir"
  elif [[ ! -d "$dir/mysql" ]]; then
    die "mariadb: ${dir#"$ROOT"/} is not empty but has no system tables; remove it (make clean) and retry"
  fi
  say "mariadb: starting on 127.0.0.1:$MYSQL_PORT"
  rm -f "$MYSQL_SOCKET"
  pid="$(spawn "$log" mariadbd --no-defaults --datadir="$dir" --user=root \
    --bind-address=127.0.0.1 --port="$MYSQL_PORT" --socket="$MYSQL_SOCKET" --pid-file="$pidf" \
    --skip-log-bin --innodb-buffer-pool-size=256M --max-connections=500 \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci)"
  # mariadbd rewrites the same pid later; writing it now lets a failed start be seen and cleaned.
  printf '%s\n' "$pid" >"$pidf"
  wait_mysql "$pidf" "$log"
  check_mysql_login
  say "mariadb: up (pid $(cat "$pidf"), $MYSQL_URL)"
}

wait_mysql() {
  local pidf="$1" log="$2" start=$SECONDS
  while ((SECONDS - start < MYSQL_WAIT)); do
    if mysql_ping; then return 0; fi
    live_pid "$pidf" mariadbd >/dev/null || { log_tail "$log"; die "mariadb: mariadbd exited during start-up"; }
    sleep 0.2
  done
  log_tail "$log"
  die "mariadb: not answering on 127.0.0.1:$MYSQL_PORT within ${MYSQL_WAIT}s"
}

# The app connects as root over TCP with no password; make sure that is what the server allows.
check_mysql_login() {
  local out
  out="$(timeout 10 mariadb --no-defaults -h127.0.0.1 -P"$MYSQL_PORT" -uroot --connect-timeout=5 -N -e 'select 1' 2>&1)" ||
    die "mariadb: '$MYSQL_URL' is refused: $out"
}

cmd_mariadb_down() { stop_pidfile mariadb "$RUN/mariadb.pid" mariadbd; }

# ---------------------------------------------------------------------------------------------
# redis cluster (3 masters, no replicas)

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

# ---------------------------------------------------------------------------------------------
# app processes

# The app's environment; ADMIN_TOKEN passes through only when set (an empty one is dropped so the
# config's local dev token applies).
APP_ENV_CMD=(env)
[[ -n "${ADMIN_TOKEN:-}" ]] || APP_ENV_CMD+=(-u ADMIN_TOKEN)
APP_ENV_CMD+=(APP_ENV=local HOST=127.0.0.1 "PORT=$PORT" "REDIS_URL=$REDIS_URL" "MYSQL_URL=$MYSQL_URL")

healthz() { curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null; }

# start_app LABEL NAME: node --import tsx NAME/main.ts in the background, pid in run/NAME.pid.
start_app() {
  local label="$1" name="$2" pid
  pid="$(spawn "$LOG/$name.log" "${APP_ENV_CMD[@]}" node --import tsx "$name/main.ts")"
  printf '%s\n' "$pid" >"$RUN/$name.pid"
  say "$label: started (pid $pid)"
}

cmd_app_up() {
  local gw sink f started=()
  gw="$(live_pid "$RUN/gateway.pid" node)" || gw=""
  sink="$(live_pid "$RUN/sink.pid" node)" || sink=""
  if [[ -n "$gw" && -n "$sink" ]]; then
    say "app: already running (gateway pid $gw, sink pid $sink)"
    healthz || say "app: warning: http://127.0.0.1:$PORT/healthz is not answering OK"
  else
    for f in gateway/main.ts sink/main.ts sink/migrate.ts; do
      [[ -f "$ROOT/$f" ]] || die "app: $f does not exist"
    done
    redis_ping "$REDIS_PORT" || die "app: redis is not answering on $REDIS_URL (run: scripts/services.sh up)"
    mysql_ping || die "app: mariadb is not answering on 127.0.0.1:$MYSQL_PORT (run: scripts/services.sh up)"
    [[ -n "$gw" ]] || require_free_port gateway "$PORT" PORT
    dirs
    cd "$ROOT"

    say "app: migrating schema (sink/migrate.ts)"
    "${APP_ENV_CMD[@]}" node --import tsx sink/migrate.ts || die "app: sink/migrate.ts failed"

    if [[ -z "$sink" ]]; then
      start_app sink sink
      started+=(sink)
    fi
    if [[ -z "$gw" ]]; then
      start_app gateway gateway
      started+=(gateway)
    fi

    say "app: waiting for http://127.0.0.1:$PORT/healthz"
    local ok="" start=$SECONDS
    while ((SECONDS - start < HEALTH_WAIT)); do
      if healthz; then
        ok=1
        break
      fi
      live_pid "$RUN/gateway.pid" node >/dev/null || break
      sleep 0.2
    done
    if [[ -z "$ok" ]]; then
      local why="not healthy on http://127.0.0.1:$PORT/healthz within ${HEALTH_WAIT}s"
      live_pid "$RUN/gateway.pid" node >/dev/null || why="exited during start-up"
      log_tail "$LOG/gateway.log" 40
      app_fail_cleanup "${started[@]}"
      die "app: gateway $why"
    fi
    if ! live_pid "$RUN/sink.pid" node >/dev/null; then
      log_tail "$LOG/sink.log" 40
      app_fail_cleanup "${started[@]}"
      die "app: sink exited during start-up"
    fi
  fi
  say "gateway: http://127.0.0.1:$PORT"
  say "logs:    ${LOG#"$ROOT"/}/gateway.log  ${LOG#"$ROOT"/}/sink.log  (make logs)"
}

# Stops what this app-up started (in reverse order: gateway before sink), so a failed start
# leaves no half-running app behind.
app_fail_cleanup() {
  local i
  for ((i = $#; i >= 1; i--)); do stop_pidfile "${!i}" "$RUN/${!i}.pid" node >&2; done
}

cmd_app_down() {
  # Gateway first: it drains in-flight claims on SIGTERM; then the sink flushes what is left.
  stop_pidfile gateway "$RUN/gateway.pid" node
  stop_pidfile sink "$RUN/sink.pid" node
}

# ---------------------------------------------------------------------------------------------
# status

cmd_status() {
  local pid p info state
  if pid="$(live_pid "$RUN/redis.pid" redis-server)"; then
    redis_ping "$REDIS_PORT" && state=PONG || state="no PONG"
    printf '%-13s running  pid %-7s %s (%s)\n' redis "$pid" "$REDIS_URL" "$state"
  else
    printf '%-13s stopped\n' redis
  fi
  if pid="$(live_pid "$RUN/mariadb.pid" mariadbd)"; then
    mysql_ping && state=alive || state="not answering"
    printf '%-13s running  pid %-7s %s (%s)\n' mariadb "$pid" "$MYSQL_URL" "$state"
  else
    printf '%-13s stopped\n' mariadb
  fi
  for p in $CLUSTER_PORTS; do
    if pid="$(live_pid "$RUN/cluster-$p.pid" redis-server)"; then
      info="$(rcli "$p" cluster info 2>/dev/null | tr -d '\r' | grep -E '^cluster_state:' || true)"
      printf '%-13s running  pid %-7s 127.0.0.1:%s (%s)\n' "cluster $p" "$pid" "$p" "${info:-no answer}"
    else
      printf '%-13s stopped\n' "cluster $p"
    fi
  done
  if pid="$(live_pid "$RUN/gateway.pid" node)"; then
    healthz && state="healthz ok" || state="healthz failing"
    printf '%-13s running  pid %-7s http://127.0.0.1:%s (%s)\n' gateway "$pid" "$PORT" "$state"
  else
    printf '%-13s stopped\n' gateway
  fi
  if pid="$(live_pid "$RUN/sink.pid" node)"; then
    printf '%-13s running  pid %s\n' sink "$pid"
  else
    printf '%-13s stopped\n' sink
  fi
}

# ---------------------------------------------------------------------------------------------

usage() { sed -n '6,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

case "${1:-}" in
  deps) cmd_deps ;;
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
