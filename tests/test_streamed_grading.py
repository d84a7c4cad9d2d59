"""Grading as you go on the bundled tasks: real containers, the real harness, against batch grading.

One streamed `atlas run` (scripted model, two agents, two gradings at once) is watched while it
runs: `atlas report` must read its graded-so-far table mid-run. Its verdicts must equal batch
grading's (`atlas evaluate` on a copy whose grading is wiped), some instance must be graded
before the last agent finishes, and a resume grades what was finished but not graded.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, atlas, labeled_containers
from tests.test_run import expected_scripted

RUN = ["model=scripted", "run.workers=2", "harness.workers=2", "run.name=streamed"]


def verdicts(run_dir: Path) -> dict[str, dict]:
    return json.loads((run_dir / "results.json").read_text())["instances"]


def finished_at(run_dir: Path) -> dict[str, datetime]:
    return {p.parent.name: datetime.fromisoformat(json.loads(p.read_text())["finished_at"])
            for p in (run_dir / "instances").glob("*/status.json")}


@pytest.fixture(scope="module")
def streamed(sample_images, tmp_path_factory):
    """The run, with `atlas report` taken once while some instances are graded and others still run."""
    root = tmp_path_factory.mktemp("streamed")
    run_dir = root / "streamed"
    process = subprocess.Popen([sys.executable, "-m", "atlas.cli", "run", *RUN, f"run.root={root}"], cwd=REPO_ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    mid_run = None
    deadline = time.monotonic() + 1200
    while process.poll() is None and time.monotonic() < deadline:
        graded = verdicts(run_dir) if (run_dir / "results.json").is_file() else {}
        if mid_run is None and graded and len(finished_at(run_dir)) < len(sample_images):
            mid_run = atlas("report", str(run_dir))
        time.sleep(0.5)
    out, err = process.communicate(timeout=max(1, deadline - time.monotonic()))
    assert process.returncode == 0, out[-3000:] + err[-3000:]
    return run_dir, out, err, mid_run, [i.instance_id for i in sample_images]


def test_streamed_verdicts_are_the_scripts_expected_ones(streamed):
    run_dir, _, _, _, ids = streamed
    assert {k: v["resolved"] for k, v in verdicts(run_dir).items()} == expected_scripted()
    assert all(v["grading_seconds"] >= 0 and v["graded_at"] for v in verdicts(run_dir).values())


def test_streamed_verdicts_equal_batch_grading(streamed, tmp_path):
    run_dir, _, _, _, ids = streamed
    batch = tmp_path / "batch"
    shutil.copytree(run_dir, batch, ignore=shutil.ignore_patterns("evaluation", "results.json", ".atlas.lock"))
    done = atlas("evaluate", str(batch), timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    streamed_verdicts = {k: (v["resolved"], v["outcome"]) for k, v in verdicts(run_dir).items()}
    assert streamed_verdicts == {k: (v["resolved"], v["outcome"]) for k, v in verdicts(batch).items()}
    assert len(streamed_verdicts) == len(ids)


def test_an_instance_is_graded_before_the_last_agent_finishes(streamed):
    run_dir, _, _, _, _ = streamed
    first_graded = min(datetime.fromisoformat(v["graded_at"]) for v in verdicts(run_dir).values())
    assert first_graded < max(finished_at(run_dir).values())


def test_report_during_the_run_shows_the_graded_so_far_table(streamed):
    _, _, _, mid_run, ids = streamed
    assert mid_run is not None, "the run never had graded and unfinished instances at once"
    assert mid_run.returncode == 0, mid_run.stdout[-2000:] + mid_run.stderr[-2000:]
    # instances still running, or finished and waiting for their grading, count as unresolved for now
    assert "(counted as unresolved)" in mid_run.stdout + mid_run.stderr
    assert "Wilson 95% CI" in mid_run.stdout and "projected time for the selection" in mid_run.stdout


def test_progress_shows_resolved_so_far_and_the_finish_line(streamed):
    _, _, err, _, ids = streamed
    resolved = sum(expected_scripted().values())
    assert f"resolved {resolved}/{len(ids)} ({100 * resolved / len(ids):.1f}%, Wilson 95% [" in err
    assert "finish line: selection ~" in err and "Verified 500: ~" in err
    assert err.count("graded: ") == len(ids)


def test_resume_grades_what_was_finished_but_not_graded(streamed, tmp_path):
    run_dir, _, _, _, ids = streamed
    copy = tmp_path / "streamed"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns(".atlas.lock"))
    recorded = json.loads((copy / "results.json").read_text())
    dropped = sorted(recorded["instances"])[:3]
    for instance_id in dropped:  # as if killed after these finished, before their grading
        del recorded["instances"][instance_id]
    (copy / "results.json").write_text(json.dumps(recorded))
    done = atlas("run", *RUN, f"run.root={tmp_path}", timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"grading {len(dropped)} instance(s) finished but not graded" in done.stderr
    assert done.stderr.count("graded: ") == len(dropped)
    assert {k: v["resolved"] for k, v in verdicts(copy).items()} == expected_scripted()


def test_evaluate_false_grades_nothing(sample_images, tmp_path):
    done = atlas("run", "model=gold", f"run.instance_ids=[{sample_images[0].instance_id}]", f"run.root={tmp_path}",
                 "run.evaluate=false")
    assert done.returncode == 0, done.stderr[-2000:]
    run_dir = tmp_path / "sample.gold.bash"
    assert (run_dir / "instances" / sample_images[0].instance_id / "status.json").is_file()
    assert not (run_dir / "results.json").exists() and not (run_dir / "evaluation").exists()
    assert "graded: " not in done.stderr


def test_interrupt_during_grading_leaves_no_container_and_no_false_verdict(docker_client, sample_images, tmp_path):
    run_id = f"atlas-interrupt-{os.getpid()}"  # names the harness's containers: only this test's are looked at
    command = [*RUN, f"run.root={tmp_path}", f"harness.run_id={run_id}"]
    run_dir = tmp_path / "streamed"

    def grading_containers() -> list:
        return docker_client.containers.list(all=True, sparse=True, filters={"name": f".{run_id}"})

    process = subprocess.Popen([sys.executable, "-m", "atlas.cli", "run", *command], cwd=REPO_ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while not grading_containers() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert grading_containers(), "no grading was ever in flight"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-3000:]
    assert not grading_containers() and not labeled_containers(docker_client, run_dir)
    recorded = verdicts(run_dir) if (run_dir / "results.json").is_file() else {}
    assert all(v["outcome"] in ("resolved", "unresolved") for v in recorded.values()), recorded

    resumed = atlas("run", *command, timeout=1200)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert {k: v["resolved"] for k, v in verdicts(run_dir).items()} == expected_scripted()
