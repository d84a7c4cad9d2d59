# Shell functions shared by scripts/setup.sh and .ci/run (source this file; bash only).
#
# Every step that can fail runs through `step`: its output (stdout and stderr) goes to a temporary
# file, which is printed with the failing command, its exit code and what to do when it fails.
# Nothing a command says is thrown away.

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# step WHAT FIX COMMAND...: run COMMAND quietly; on failure print WHAT, the command, its own output, FIX; exit 1
step() {
  local what=$1 fix=$2 log code=0
  shift 2
  log=$(mktemp "${TMPDIR:-/tmp}/atlas-setup.XXXXXX")
  "$@" >"$log" 2>&1 || code=$?
  if [ "$code" -ne 0 ]; then
    say "FAILED: $what"
    say "  command (exit $code): $*"
    if [ -s "$log" ]; then
      say "  its output (last 60 lines):"
      tail -n 60 "$log" | sed 's/^/    | /' >&2
    else
      say "  it printed nothing"
    fi
    say "  what to do: $fix"
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
}

# buildx_download DIR: download Debian 13 (trixie)'s docker-buildx .deb into DIR.
# Debian 12 has no docker-buildx package; trixie's is a static binary that needs only libc6.
# apt uses a source list, package lists and cache of its own in DIR, so the host's apt state is untouched,
# and `signed-by` names the Debian archive keyring: apt ignores an index it cannot verify.
buildx_download() {
  local dir=$1 mirror=${ATLAS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
  local keyring=${ATLAS_DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
  [ -r "$keyring" ] || step "find the Debian archive keyring $keyring" \
    "install it (apt-get install -y debian-archive-keyring) and re-run" test -r "$keyring"
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
  chmod 755 "$dir"  # apt downloads as user _apt, which needs to reach these folders
  echo "deb [signed-by=$keyring] $mirror trixie main" >"$dir/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache")
  step "read Debian trixie's package index from $mirror (for docker-buildx)" \
    "check that $mirror is reachable and its Release file verifies with $keyring (ATLAS_DEBIAN_MIRROR picks another mirror)" \
    apt-get "${opts[@]}" --error-on=any update
  step "download docker-buildx from Debian trixie" \
    "check the apt output above; \`apt-cache ${opts[*]} policy docker-buildx\` shows what trixie offers" \
    bash -c 'cd "$1" && shift && apt-get "$@" download docker-buildx' _ "$dir" "${opts[@]}"
  ls "$dir"/docker-buildx_*.deb >/dev/null 2>&1 || step "find the downloaded docker-buildx package in $dir" \
    "apt-get download reported success but wrote no .deb; re-run" false
}

# buildx_extract DEB PLUGIN_DIR: put the deb's docker-buildx binary into PLUGIN_DIR (a Docker cli-plugins folder)
buildx_extract() {
  local deb=$1 plugins=$2 root
  root=$(mktemp -d)
  step "unpack $deb" "the download may be corrupt: delete it and re-run" dpkg-deb -x "$deb" "$root"
  mkdir -p "$plugins"
  step "find docker-buildx in $deb" "the package layout changed: look for the binary with \`dpkg-deb -c $deb\`" \
    cp "$root/usr/libexec/docker/cli-plugins/docker-buildx" "$plugins/docker-buildx"
  rm -rf "$root"
}

# buildx_check_fresh_install: what setup.sh does on a Debian 12 machine without buildx, into a temporary
# plugin folder (the host's own plugin is left alone), then `docker buildx version` through that folder.
# CI runs it every time, so a broken buildx source fails CI even where buildx is already installed.
buildx_check_fresh_install() {
  local tmp path
  tmp=$(mktemp -d)
  chmod 755 "$tmp"
  buildx_download "$tmp/apt"
  buildx_extract "$(ls "$tmp"/apt/docker-buildx_*.deb)" "$tmp/config/cli-plugins"
  step "run the freshly installed docker buildx (DOCKER_CONFIG=$tmp/config)" \
    "the downloaded plugin does not run on this machine: its output above says why" \
    env DOCKER_CONFIG="$tmp/config" docker buildx version
  path=$(docker --config "$tmp/config" info --format '{{range .ClientInfo.Plugins}}{{if eq .Name "buildx"}}{{.Path}}{{end}}{{end}}' 2>&1 || true)
  [ "$path" = "$tmp/config/cli-plugins/docker-buildx" ] || step "use the fresh buildx from $tmp/config" \
    "docker resolved buildx to '$path' instead: check the Docker CLI's plugin lookup" false
  say "buildx install path works: $(DOCKER_CONFIG="$tmp/config" docker buildx version)"
  rm -rf "$tmp"
}
