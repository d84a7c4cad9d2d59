"""Shared fixtures: a real Docker engine (or a clear skip), the sample-task images, and `atlas` as a subprocess.

Tests that need Docker skip with a reason where no engine is reachable; with
ATLAS_REQUIRE_DOCKER=1 (set by CI) the skip becomes a failure, so CI always runs them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from atlas.datasets import BUNDLED_TASKS

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def docker_client():
    from atlas.environments import EnvError, docker_client as connect

    try:
        return connect()
    except EnvError as e:
        if os.environ.get("ATLAS_REQUIRE_DOCKER") == "1":
            pytest.fail(f"ATLAS_REQUIRE_DOCKER=1 but no Docker engine is reachable: {e}")
        pytest.skip(f"no Docker engine reachable ({e}); run scripts/setup.sh as root to start one")


@pytest.fixture(scope="session")
def sample_images(docker_client, tmp_path_factory):
    """Every bundled task's image, built once per session if missing."""
    from atlas.config import DatasetConfig
    from atlas.datasets import load_instances
    from atlas.images import build_task_images

    instances = load_instances(DatasetConfig(name="sample", source="task_repo", path="bundled"))
    build_task_images(docker_client, str(BUNDLED_TASKS), instances, tmp_path_factory.mktemp("image-logs"))
    return instances


def atlas(*args: str, cwd: Path | None = None, timeout: int = 900, **popen) -> subprocess.CompletedProcess:
    """Run the real `atlas` command line in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "atlas.cli", *args], cwd=cwd or REPO_ROOT, capture_output=True, text=True,
        timeout=timeout, **popen,
    )


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def labeled_containers(client, run_dir: Path) -> list:
    return client.containers.list(all=True, filters={"label": [f"atlas.run_dir={run_dir.resolve()}"]})


@pytest.fixture
def server():
    """The OpenAI-wire stand-in server (tests/fake_openai.py) serving `fake-coder`; a module's own fixture wins."""
    from tests.fake_openai import FakeOpenAIServer

    fake = FakeOpenAIServer(model="fake-coder").start()
    yield fake
    fake.stop()
