"""run.executor=ray: instances as Ray tasks on a local head started by the test, same results as a local run."""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import atlas, labeled_containers, read_jsonl

pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'atlas-swe[ray]'")
RAY = str(Path(sys.executable).with_name("ray"))
# keep Ray on loopback (by default it swaps 127.0.0.1 for the network address), without cluster auth tokens
LOOPBACK = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    temp = tmp_path_factory.mktemp("ray")
    start = [RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
             "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"]
    subprocess.run(start, check=True, capture_output=True, timeout=180, env=LOOPBACK)
    yield f"127.0.0.1:{port}"
    subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120, env=LOOPBACK)
    shutil.rmtree(temp, ignore_errors=True)


def outputs(run_dir: Path) -> tuple[dict, dict]:
    preds = {p["instance_id"]: p["model_patch"] for p in read_jsonl(run_dir / "preds.jsonl")}
    statuses = {p.parent.name: json.loads(p.read_text())["status"] for p in run_dir.glob("instances/*/status.json")}
    return preds, statuses


def test_ray_run_matches_a_local_run(ray_head, sample_images, docker_client, tmp_path):
    ids = ",".join(i.instance_id for i in sample_images[:4])
    common = ("model=scripted", f"run.instance_ids=[{ids}]", "run.evaluate=false")
    local = atlas("run", *common, f"run.root={tmp_path / 'local'}")
    assert local.returncode == 0, local.stderr[-3000:]
    remote = atlas("run", *common, f"run.root={tmp_path / 'ray'}", "run.executor=ray", f"run.ray_address={ray_head}",
                   env=LOOPBACK)
    assert remote.returncode == 0, remote.stderr[-3000:]
    local_dir, ray_dir = tmp_path / "local" / "sample.scripted.bash", tmp_path / "ray" / "sample.scripted.bash"
    assert outputs(ray_dir) == outputs(local_dir)
    assert len(outputs(ray_dir)[0]) == 4
    trajectory = read_jsonl(ray_dir / "instances" / sample_images[0].instance_id / "trajectory.jsonl")
    assert trajectory[0]["kind"] == "start" and trajectory[-1]["kind"] == "end"
    assert not labeled_containers(docker_client, ray_dir)
    # resume is unchanged: nothing left to run
    again = atlas("run", *common, f"run.root={tmp_path / 'ray'}", "run.executor=ray", f"run.ray_address={ray_head}",
                  env=LOOPBACK)
    assert again.returncode == 0 and "4 instance(s) already finished, 0 to run" in again.stderr
