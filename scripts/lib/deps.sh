# shellcheck shell=bash
# deps: redis/mariadb binaries (apt) and node_modules (npm); chromium (apt) for the browser test.
# Sourced by scripts/services.sh.

# Debian's invoke-rc.d and deb-systemd-invoke ask this program whether a package may start its
# service; exit status 101 means "no".
POLICY_RC_D=/usr/sbin/policy-rc.d
# Set while this script's own temporary POLICY_RC_D is in place.
POLICY_RC_D_OURS=""

# npm with the known-harmless 'Unknown user config "nodedir"' warning filtered out.
npm_quiet() {
  { npm "$@" 2>&1 1>&3 3>&- | { grep -v 'Unknown user config "nodedir"' >&2 || true; }; } 3>&1
}

policy_rc_d_block() {
  [[ -e "$POLICY_RC_D" || -L "$POLICY_RC_D" ]] && return 0
  POLICY_RC_D_OURS=1
  # The trap also removes it when apt-get fails or the script is interrupted.
  trap policy_rc_d_remove EXIT
  printf '#!/bin/sh\n# temporary, from scripts/services.sh deps: no service starts during apt-get install\nexit 101\n' |
    as_root tee "$POLICY_RC_D" >/dev/null
  as_root chmod 755 "$POLICY_RC_D"
}

policy_rc_d_remove() {
  [[ -n "$POLICY_RC_D_OURS" ]] || return 0
  as_root rm -f "$POLICY_RC_D" || printf 'warning: could not remove %s; remove it yourself\n' "$POLICY_RC_D" >&2
  POLICY_RC_D_OURS=""
}

# systemd_booted: systemd is the running init and systemctl can talk to it (the check that
# sd_booted(3) makes); in a container without systemd, systemctl only reports "offline".
systemd_booted() { command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; }

# apt_install PKG...: apt-get install without letting the packages start their services.
#
# On a normal Debian with systemd, installing redis-server and mariadb-server starts and enables
# system daemons on 6379 and 3306. This harness runs its own instances on their own ports with
# their data under .data; the packages are only installed for their binaries. Daemons from the
# packages would just hold memory and ports, run as a second, unrelated copy of the data stores
# (easy to connect to by mistake), and come back on every boot. So: a temporary policy-rc.d keeps
# them from starting during the install (only when the system has none of its own, which is left
# alone), and afterwards the units are disabled so that they do not start at boot either.
apt_install() {
  [[ "$(id -u)" == 0 ]] || command -v sudo >/dev/null || die "need root or sudo to run: apt-get install $*"
  # Units to disable afterwards: only those of packages this install adds, never a daemon that
  # was already installed (and maybe deliberately enabled) before.
  local units=() pkg unit
  for pkg in redis-server:redis-server mariadb-server:mariadb; do
    unit="${pkg#*:}"
    pkg="${pkg%%:*}"
    if [[ " $* " == *" $pkg "* ]] &&
      [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]]; then
      units+=("$unit")
    fi
  done
  policy_rc_d_block
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
  policy_rc_d_remove
  trap - EXIT
  if ((${#units[@]} > 0)) && systemd_booted; then
    if as_root systemctl disable --quiet "${units[@]}" >/dev/null 2>&1; then
      say "deps: disabled the system services ${units[*]} (this harness runs its own under .data)"
    else
      say "deps: could not disable the system services ${units[*]} (ignored)"
    fi
  fi
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
    apt_install "${pkgs[@]}"
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

# The browser the console's test drives (test/system/console.test.ts, puppeteer-core): Debian's
# chromium. Only `make test` asks for it, so `make run` does not pull in a browser.
CHROMIUM=/usr/bin/chromium

cmd_browser_deps() {
  if [[ -x "$CHROMIUM" ]]; then
    say "deps: $("$CHROMIUM" --version 2>/dev/null | head -n 1)"
    return 0
  fi
  say "deps: missing $CHROMIUM; installing chromium with apt-get"
  command -v apt-get >/dev/null || die "apt-get not found; install chromium (at $CHROMIUM) yourself"
  apt_install chromium
  [[ -x "$CHROMIUM" ]] || die "deps: '$CHROMIUM' still missing after apt-get install"
}
