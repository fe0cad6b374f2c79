# shellcheck shell=bash
# Single-node Redis on REDIS_PORT, data in $DATA/redis, AOF fsync REDIS_APPENDFSYNC (everysec
# unless set). Sourced by scripts/services.sh and drill/services.sh.

cmd_redis_up() {
  local pidf="$RUN/redis.pid" log="$LOG/redis.log" dir="$DATA/redis" pid
  if pid="$(live_pid "$pidf" redis-server)"; then
    wait_redis redis "$REDIS_PORT" "$pidf" "$log"
    say "redis: already running (pid $pid, $REDIS_URL)"
    return 0
  fi
  require_free_port redis "$REDIS_PORT" REDIS_PORT
  dirs "$dir"
  say "redis: starting on 127.0.0.1:$REDIS_PORT (appendfsync ${REDIS_APPENDFSYNC:-everysec})"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode yes \
    --dir "$dir" --appendonly yes --appendfsync "${REDIS_APPENDFSYNC:-everysec}" --save '' \
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
