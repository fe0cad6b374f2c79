# shellcheck shell=bash
# MariaDB on MYSQL_PORT, datadir .data/mariadb. Sourced by scripts/services.sh.

mysql_ping() {
  timeout 5 mariadb-admin --no-defaults -h127.0.0.1 -P"$MYSQL_PORT" -uroot --connect-timeout=2 ping >/dev/null 2>&1
}

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
  # As root, mariadb-install-db and mariadbd need --user (mariadbd refuses to run as root
  # otherwise) and root is the user that owns .data. Any other user can only run them as
  # itself: --user=root would make mariadb-install-db try to chown the datadir to root and fail.
  local as_user=()
  if [[ "$(id -u)" == 0 ]]; then as_user=(--user=root); fi
  if [[ ! -d "$dir" ]] || [[ -z "$(ls -A "$dir")" ]]; then
    # Initialise into a scratch dir and rename, so an interrupted install never leaves a
    # half-made datadir behind.
    local tmp="$DATA/mariadb.init"
    rm -rf "$tmp"
    say "mariadb: initialising datadir ${dir#"$ROOT"/}"
    mariadb-install-db --no-defaults --datadir="$tmp" "${as_user[@]}" \
      --auth-root-authentication-method=normal --skip-test-db >>"$log" 2>&1 ||
      { log_tail "$log"; die "mariadb: mariadb-install-db failed"; }
    rm -rf "$dir"
    mv "$tmp" "$dir"
  elif [[ ! -d "$dir/mysql" ]]; then
    die "mariadb: ${dir#"$ROOT"/} is not empty but has no system tables; remove it (make clean) and retry"
  fi
  say "mariadb: starting on 127.0.0.1:$MYSQL_PORT"
  rm -f "$MYSQL_SOCKET"
  pid="$(spawn "$log" mariadbd --no-defaults --datadir="$dir" "${as_user[@]}" \
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
