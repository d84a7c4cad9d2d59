"""Killing a running batch: SIGKILL loses only in-flight work; Ctrl-C and SIGTERM leave no container behind."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from atlas.models.deterministic import SUBMIT, turn
from tests.conftest import REPO_ROOT, labeled_containers, read_jsonl


@pytest.fixture
def slow_scripts(sample_images, tmp_path):
    """Each task takes a few seconds, so a signal lands while one is in flight."""
    folder = tmp_path / "scripts"
    folder.mkdir()
    for instance in sample_images:
        turns = [turn("slow", "sleep 2 && echo slow > SLOW.txt"), turn("done", SUBMIT)]
        (folder / f"{instance.instance_id}.yaml").write_text(json.dumps({"turns": turns}))
    return folder


def start(tmp_path, scripts, *extra):
    args = [sys.executable, "-m", "atlas.cli", "run", "model=scripted", f"model.scripts_dir={scripts}",
            f"run.root={tmp_path / 'runs'}", "run.workers=1", "run.evaluate=false", *extra]
    return subprocess.Popen(args, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


def finished(run_dir):
    return sorted(p.parent.name for p in run_dir.glob("instances/*/status.json"))


def test_resume_after_sigkill_loses_nothing_finished(docker_client, sample_images, slow_scripts, tmp_path):
    run_dir = tmp_path / "runs" / "sample.scripted.bash"
    process = start(tmp_path, slow_scripts)
    wait_for(lambda: len(finished(run_dir)) >= 2 and labeled_containers(docker_client, run_dir))
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    done_before = {i: (run_dir / "instances" / i / "status.json").read_text() for i in finished(run_dir)}
    assert 2 <= len(done_before) < len(sample_images)
    assert labeled_containers(docker_client, run_dir), "the killed run left its in-flight container"

    resumed = start(tmp_path, slow_scripts)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err[-3000:]
    assert f"{len(done_before)} instance(s) already finished" in err
    for instance_id, text in done_before.items():
        assert (run_dir / "instances" / instance_id / "status.json").read_text() == text
    preds = read_jsonl(run_dir / "preds.jsonl")
    assert sorted(p["instance_id"] for p in preds) == sorted(i.instance_id for i in sample_images)
    assert all("SLOW.txt" in p["model_patch"] for p in preds)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert len(manifest["sessions"]) == 2 and manifest["sessions"][1]["stray_containers_removed"] >= 1
    assert not labeled_containers(docker_client, run_dir)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_removes_containers_and_keeps_finished_work(docker_client, sample_images, slow_scripts, tmp_path, sig):
    run_dir = tmp_path / "runs" / "sample.scripted.bash"
    process = start(tmp_path, slow_scripts)
    wait_for(lambda: len(finished(run_dir)) >= 1 and labeled_containers(docker_client, run_dir))
    process.send_signal(sig)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-3000:]
    assert "re-run the same command to resume" in err
    assert not labeled_containers(docker_client, run_dir)
    kept = finished(run_dir)
    assert 1 <= len(kept) < len(sample_images)
    # only finished instances are predictions; the interrupted one is not recorded as an error
    assert sorted(p["instance_id"] for p in read_jsonl(run_dir / "preds.jsonl")) == kept
    assert all(json.loads((run_dir / "instances" / i / "status.json").read_text())["status"] == "submitted" for i in kept)


def test_second_process_on_the_same_run_is_refused(sample_images, slow_scripts, tmp_path):
    run_dir = tmp_path / "runs" / "sample.scripted.bash"
    first = start(tmp_path, slow_scripts)
    try:
        wait_for(lambda: (run_dir / "manifest.json").exists())
        second = start(tmp_path, slow_scripts)
        _, err = second.communicate(timeout=120)
        assert second.returncode == 2 and "in use by another atlas process" in err
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert os.path.exists(run_dir / "manifest.json")
