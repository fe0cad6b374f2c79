# shellcheck shell=bash
# Shared helpers for scripts/services.sh: messages, pid files, ports, spawning.
# Sourced by scripts/services.sh, which sets ROOT, DATA, RUN, LOG and the STOP_WAIT bound.

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

# Physical paths of the checkout and of .data (which may be a symlink out of the checkout), for
# comparing with the kernel's view of a process's working directory.
ROOT_REAL="$(cd "$ROOT" && pwd -P)"
if [[ -d "$DATA" ]]; then DATA_REAL="$(cd "$DATA" && pwd -P)"; else DATA_REAL="$ROOT_REAL/.data"; fi

# in_tree DIR: DIR (a physical path) is the checkout, .data, or inside one of them.
in_tree() {
  local d="$1"
  [[ "$d" == "$ROOT_REAL" || "$d" == "$ROOT_REAL"/* || "$d" == "$DATA_REAL" || "$d" == "$DATA_REAL"/* ]]
}

# is_ours PID PROGRAM: PID is a live (non-zombie) process running PROGRAM from this checkout.
# Checks the command name and the executable, because redis-server is a symlink (exe shows
# redis-check-rdb) and node may rename itself (process.title changes comm but not exe).
# A pid file can outlive its process (a reboot, a kill -9) and the pid be reused by an unrelated
# redis/node, so the process's working directory must also be in this checkout: redis-server
# chdirs into its --dir under .data before it writes its pid file, mariadbd into its datadir
# under .data (spawn starts it from ROOT), and the app runs with cwd = ROOT. A process of another
# user whose cwd cannot be read is not ours either (nor could we signal it).
is_ours() {
  local pid="$1" want="$2" comm exe state cwd
  kill -0 "$pid" 2>/dev/null || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ "$state" != Z && "$state" != X ]] || return 1
  comm="$(cat "/proc/$pid/comm" 2>/dev/null)" || comm=""
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || exe=""
  exe="${exe% (deleted)}"
  [[ "$comm" == "$want" || "${exe##*/}" == "$want" ]] || return 1
  cwd="$(readlink "/proc/$pid/cwd" 2>/dev/null)" || return 1
  in_tree "${cwd% (deleted)}"
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

# Runs a background program detached from the terminal (own session, no stdin, appends to LOG,
# working directory ROOT) and prints its pid. Without job control the child is not a group
# leader, so setsid execs in place and the pid stays the program's.
spawn() {
  local log="$1"
  shift
  printf '=== %s: %s\n' "$(date '+%F %T')" "$*" >>"$log"
  (cd "$ROOT" && exec nohup setsid "$@" </dev/null >>"$log" 2>&1) &
  printf '%s\n' "$!"
}

dirs() { mkdir -p "$RUN" "$LOG" "$@"; }

as_root() {
  if [[ "$(id -u)" == 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    die "need root or sudo to run: $*"
  fi
}
