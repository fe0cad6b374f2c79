# shellcheck shell=bash
# The app processes (gateway, sink) and the status overview. Sourced by scripts/services.sh.

# The app's environment; ADMIN_TOKEN passes through only when set (an empty one is dropped so the
# config's local dev token applies).
APP_ENV_CMD=(env)
[[ -n "${ADMIN_TOKEN:-}" ]] || APP_ENV_CMD+=(-u ADMIN_TOKEN)
APP_ENV_CMD+=(APP_ENV=local HOST=127.0.0.1 "PORT=$PORT" "SINK_METRICS_PORT=$SINK_METRICS_PORT" "REDIS_URL=$REDIS_URL" "MYSQL_URL=$MYSQL_URL")

healthz() { curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null; }

# The sink's /healthz (sink/metrics-server.ts) answers 200 once its consumer runs, 503 before.
sink_healthz() { curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$SINK_METRICS_PORT/healthz" 2>/dev/null; }

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
    [[ -n "$sink" ]] || require_free_port sink "$SINK_METRICS_PORT" SINK_METRICS_PORT
    dirs
    cd "$ROOT" || die "app: cannot cd to $ROOT"

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

    say "app: waiting for http://127.0.0.1:$SINK_METRICS_PORT/healthz (sink)"
    ok="" start=$SECONDS
    while ((SECONDS - start < SINK_WAIT)); do
      if sink_healthz; then
        ok=1
        break
      fi
      live_pid "$RUN/sink.pid" node >/dev/null || break
      sleep 0.2
    done
    if [[ -z "$ok" ]] || ! live_pid "$RUN/sink.pid" node >/dev/null; then
      local why="not healthy on http://127.0.0.1:$SINK_METRICS_PORT/healthz within ${SINK_WAIT}s"
      live_pid "$RUN/sink.pid" node >/dev/null || why="exited during start-up"
      log_tail "$LOG/sink.log" 40
      app_fail_cleanup "${started[@]}"
      die "app: sink $why"
    fi
  fi
  say "gateway: http://127.0.0.1:$PORT  (metrics: /metrics with the admin token)"
  say "sink:    http://127.0.0.1:$SINK_METRICS_PORT/metrics  /healthz"
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
    sink_healthz && state="healthz ok" || state="healthz failing"
    printf '%-13s running  pid %-7s http://127.0.0.1:%s (%s)\n' sink "$pid" "$SINK_METRICS_PORT" "$state"
  else
    printf '%-13s stopped\n' sink
  fi
}
