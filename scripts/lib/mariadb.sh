# shellcheck shell=bash
# MariaDB servers under .data: the main one (mariadb, on MYSQL_PORT, datadir .data/mariadb) and
# any other by name (make run TOPOLOGY=cluster starts mariadb-2). Sourced by scripts/services.sh
# and drill/services.sh.

# mysql_ping [PORT]: the server on 127.0.0.1:PORT (MYSQL_PORT) answers.
mysql_ping() {
  timeout 5 mariadb-admin --no-defaults -h127.0.0.1 -P"${1:-$MYSQL_PORT}" -uroot --connect-timeout=2 ping >/dev/null 2>&1
}

cmd_mariadb_up() { mariadb_up mariadb "$MYSQL_PORT" "$DATA/mariadb" "$MYSQL_SOCKET"; }

cmd_mariadb_down() { mariadb_down mariadb; }

# mariadb_up NAME PORT DATADIR [SOCKET]: starts a server (pid run/NAME.pid, log log/NAME.log,
# socket run/NAME.sock unless given), initialising DATADIR when empty; no-op when it runs.
mariadb_up() {
  local name="$1" port="$2" dir="$3" sock="${4:-$RUN/$1.sock}"
  local pidf="$RUN/$name.pid" log="$LOG/$name.log" url="mysql://root@127.0.0.1:$2" pid
  if pid="$(live_pid "$pidf" mariadbd)"; then
    wait_mysql "$name" "$port" "$pidf" "$log"
    check_mysql_login "$port" "$url"
    say "$name: already running (pid $pid, $url)"
    return 0
  fi
  require_free_port "$name" "$port" MYSQL_PORT
  ((${#sock} < 100)) || die "$name: socket path too long for a unix socket: $sock (set MYSQL_SOCKET)"
  dirs
  # As root, mariadb-install-db and mariadbd need --user (mariadbd refuses to run as root
  # otherwise) and root is the user that owns .data. Any other user can only run them as
  # itself: --user=root would make mariadb-install-db try to chown the datadir to root and fail.
  local as_user=()
  if [[ "$(id -u)" == 0 ]]; then as_user=(--user=root); fi
  if [[ ! -d "$dir" ]] || [[ -z "$(ls -A "$dir")" ]]; then
    # Initialise into a scratch dir and rename, so an interrupted install never leaves a
    # half-made datadir behind.
    local tmp="$dir.init"
    rm -rf "$tmp"
    say "$name: initialising datadir ${dir#"$ROOT"/}"
    mariadb-install-db --no-defaults --datadir="$tmp" "${as_user[@]}" \
      --auth-root-authentication-method=normal --skip-test-db >>"$log" 2>&1 ||
      { log_tail "$log"; die "$name: mariadb-install-db failed"; }
    rm -rf "$dir"
    mv "$tmp" "$dir"
  elif [[ ! -d "$dir/mysql" ]]; then
    die "$name: ${dir#"$ROOT"/} is not empty but has no system tables; remove it (make clean) and retry"
  fi
  say "$name: starting on 127.0.0.1:$port"
  rm -f "$sock"
  pid="$(spawn "$log" mariadbd --no-defaults --datadir="$dir" "${as_user[@]}" \
    --bind-address=127.0.0.1 --port="$port" --socket="$sock" --pid-file="$pidf" \
    --skip-log-bin --innodb-buffer-pool-size=256M --max-connections=500 \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci)"
  # mariadbd rewrites the same pid later; writing it now lets a failed start be seen and cleaned.
  printf '%s\n' "$pid" >"$pidf"
  wait_mysql "$name" "$port" "$pidf" "$log"
  check_mysql_login "$port" "$url"
  say "$name: up (pid $(cat "$pidf"), $url)"
}

# mariadb_down NAME: stops the server mariadb_up NAME started.
mariadb_down() { stop_pidfile "$1" "$RUN/$1.pid" mariadbd; }

# wait_mysql NAME PORT PIDFILE LOG: the server answers within MYSQL_WAIT s, or its log is shown.
wait_mysql() {
  local name="$1" port="$2" pidf="$3" log="$4" start=$SECONDS
  while ((SECONDS - start < MYSQL_WAIT)); do
    if mysql_ping "$port"; then return 0; fi
    live_pid "$pidf" mariadbd >/dev/null || { log_tail "$log"; die "$name: mariadbd exited during start-up"; }
    sleep 0.2
  done
  log_tail "$log"
  die "$name: not answering on 127.0.0.1:$port within ${MYSQL_WAIT}s"
}

# check_mysql_login PORT URL: the app connects as root over TCP with no password; make sure that
# is what the server allows.
check_mysql_login() {
  local out
  out="$(timeout 10 mariadb --no-defaults -h127.0.0.1 -P"$1" -uroot --connect-timeout=5 -N -e 'select 1' 2>&1)" ||
    die "mariadb: '$2' is refused: $out"
}
