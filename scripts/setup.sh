#!/usr/bin/env bash
# Prepare this machine for ATLAS, idempotently: a virtualenv with ATLAS installed, a running
# Docker engine with the buildx plugin, and the offline base + sample-task images.
# As root on Debian/Ubuntu it installs what is missing from the distribution's packages;
# otherwise it says what to install. Re-running it is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${ATLAS_VENV:-.venv}
# flags for a dockerd this script starts itself (no systemd): no bridge, no iptables, as in a sandbox
DOCKERD_ARGS=${ATLAS_DOCKERD_ARGS:---bridge=none --iptables=false}
say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
is_root() { [ "$(id -u)" -eq 0 ]; }
apt_install() {
  is_root || { say "missing: $*; install them (e.g. sudo apt-get install -y $*) and re-run"; exit 1; }
  [ -n "${APT_UPDATED:-}" ] || { apt-get update -qq; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# 1. Python environment
if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtualenv $VENV"
  python3 -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$VENV"; }
fi
if ! "$VENV/bin/python" -c "import atlas, pytest" 2>/dev/null || [ pyproject.toml -nt "$VENV/.atlas-installed" ]; then
  say "installing ATLAS and its dependencies into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".[test]"
  touch "$VENV/.atlas-installed"
fi

# 2. Docker engine
command -v dockerd >/dev/null || apt_install docker.io
command -v docker >/dev/null || apt_install docker.io
if ! docker info >/dev/null 2>&1; then
  if is_root && [ -d /run/systemd/system ] && systemctl start docker 2>/dev/null && docker info >/dev/null 2>&1; then
    say "started docker with systemd"
  elif is_root; then
    say "starting dockerd $DOCKERD_ARGS (log: /var/log/atlas-dockerd.log)"
    # shellcheck disable=SC2086
    nohup dockerd $DOCKERD_ARGS >/var/log/atlas-dockerd.log 2>&1 &
    # after an unclean stop dockerd first cleans up old network sandboxes, which can take minutes
    for _ in $(seq 300); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { say "dockerd did not come up; see /var/log/atlas-dockerd.log"; exit 1; }
  else
    say "no Docker engine is reachable: start it (sudo systemctl start docker) or add yourself to the docker group"
    exit 1
  fi
fi

# 3. buildx (the official harness builds task images with `docker buildx build`)
if ! docker buildx version >/dev/null 2>&1; then
  if is_root && apt-cache show docker-buildx >/dev/null 2>&1; then
    apt_install docker-buildx
  elif is_root; then
    # Debian 12 has no docker-buildx package; Debian 13's static build needs only libc6
    say "installing docker-buildx from Debian trixie"
    tmp=$(mktemp -d)
    # signed-by: apt ignores an index it cannot verify; own lists and cache: the host's say nothing of trixie
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" >"$tmp/sources.list"
    opts=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache")
    mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
    apt-get "${opts[@]}" update -qq
    (cd "$tmp" && apt-get "${opts[@]}" download docker-buildx && dpkg -i docker-buildx_*.deb >/dev/null)
    rm -rf "$tmp"
  fi
  docker buildx version >/dev/null 2>&1 || { say "docker buildx is missing: install the docker-buildx plugin"; exit 1; }
fi

# 4. Images: the debootstrap base image and the bundled sample tasks' images
command -v debootstrap >/dev/null || docker image inspect atlas-base:bookworm >/dev/null 2>&1 || apt_install debootstrap
"$VENV/bin/atlas" images build
say "ready: $VENV/bin/atlas"
