"""`atlas run` end to end on the bundled tasks: real containers, the official harness, resume and drift."""

import json
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from atlas.datasets import BUNDLED_TASKS
from tests.conftest import atlas, labeled_containers, read_jsonl


def expected_scripted() -> dict[str, bool]:
    return {
        path.stem: bool(yaml.safe_load(path.read_text())["expected_resolved"])
        for path in sorted((BUNDLED_TASKS / "scripted").glob("*.yaml"))
    }


@pytest.fixture(scope="module")
def sweep(sample_images, tmp_path_factory):
    """The README's main job: gold and scripted over every bundled task, as one -m sweep."""
    root = tmp_path_factory.mktemp("runs")
    done = atlas("run", "-m", "model=gold,scripted", f"run.root={root}", "run.workers=2", timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return root / "sweep", done, [i.instance_id for i in sample_images]


def verdicts(run_dir: Path) -> dict[str, bool]:
    return {k: v["resolved"] for k, v in json.loads((run_dir / "results.json").read_text())["instances"].items()}


def test_gold_resolves_every_bundled_task(sweep, docker_client):
    root, done, ids = sweep
    gold = root / "model=gold"
    assert verdicts(gold) == {i: True for i in ids}
    preds = read_jsonl(gold / "preds.jsonl")
    assert sorted(p["instance_id"] for p in preds) == sorted(ids)
    assert all(set(p) == {"instance_id", "model_name_or_path", "model_patch"} for p in preds)
    assert all(p["model_name_or_path"] == "gold" and p["model_patch"].startswith("diff --git") for p in preds)
    assert not labeled_containers(docker_client, gold)


def test_scripted_resolves_what_its_scripts_fix(sweep):
    root, done, ids = sweep
    expected = expected_scripted()
    assert set(expected) == set(ids)
    assert 0 < sum(expected.values()) < len(expected), "scripts must fix most tasks and fail at least one"
    assert verdicts(root / "model=scripted") == expected


def test_sweep_prints_tables(sweep):
    root, done, ids = sweep
    n = len(ids)
    assert "sweep" in done.stdout and "model=gold" in done.stdout and "model=scripted" in done.stdout
    resolved = sum(expected_scripted().values())
    assert f"{n} │        {n}" in done.stdout.replace("┃", "│")  # gold: all resolved
    assert f"{100 * resolved / n:.1f}%" in done.stdout


def test_trajectory_and_status_are_complete(sweep):
    root, _, ids = sweep
    folder = root / "model=scripted" / "instances" / ids[0]
    status = json.loads((folder / "status.json").read_text())
    assert status["status"] == "submitted" and status["attempts"] == 1 and status["steps"] >= 2
    assert status["usage"]["prompt_tokens"] > 0 and status["usage"]["estimated"] is True
    entries = read_jsonl(folder / "trajectory.jsonl")
    kinds = [e["kind"] for e in entries]
    assert kinds[0] == "start" and kinds[-1] == "end" and "action" in kinds
    actions = [e for e in entries if e["kind"] == "action"]
    assert all({"command", "output", "exit_code", "duration_s"} <= set(a) for a in actions)
    assistant = [e for e in entries if e["kind"] == "message" and e["role"] == "assistant"]
    assert len(assistant) == status["steps"] and all("usage" in a for a in assistant)


def test_manifest_describes_the_run(sweep):
    root, _, ids = sweep
    manifest = json.loads((root / "model=scripted" / "manifest.json").read_text())
    session = manifest["sessions"][0]
    assert session["versions"]["swebench"] == version("swebench")
    assert session["versions"]["atlas"] and "commit" in session["versions"]["source"]
    assert manifest["dataset"]["instance_ids"] == ids and manifest["dataset"]["split"] == "test"
    assert manifest["model"]["backend"] == "scripted"
    assert set(manifest["agent"]["template_sha256"]) >= {"system.j2", "instance.j2"}
    assert manifest["limits"]["step_limit"] == 50 and manifest["limits"]["instance_timeout_s"] == 1800
    assert set(manifest["images"]) == set(ids) and all(v["id"].startswith("sha256:") for v in manifest["images"].values())
    assert manifest["host"]["docker_server"] and session["finished_at"]
    assert manifest["totals"]["finished"] == len(ids)


def test_rerun_resumes_without_redoing_anything(sweep):
    root, _, ids = sweep
    before = {i: (root / "model=gold" / "instances" / i / "status.json").read_text() for i in ids}
    done = atlas("run", "-m", "model=gold", f"run.root={root.parent}", "run.evaluate=false")
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{len(ids)} instance(s) already finished, 0 to run" in done.stderr
    after = {i: (root / "model=gold" / "instances" / i / "status.json").read_text() for i in ids}
    assert after == before
    assert len(read_jsonl(root / "model=gold" / "preds.jsonl")) == len(ids)


def test_evaluate_command_regrades_a_run(sweep):
    root, _, ids = sweep
    done = atlas("evaluate", str(root / "model=gold"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "all" in done.stdout and "100.0%" in done.stdout


def test_config_drift_is_refused_unless_allowed(sample_images, tmp_path):
    one = f"run.instance_ids=[{sample_images[0].instance_id}]"
    first = atlas("run", "model=gold", one, f"run.root={tmp_path}", "run.evaluate=false")
    assert first.returncode == 0, first.stderr[-2000:]
    refused = atlas("run", "model=gold", one, f"run.root={tmp_path}", "agent.step_limit=7", "run.evaluate=false")
    assert refused.returncode == 2
    assert "agent.step_limit: 50 -> 7" in refused.stderr and "run.allow_config_change=true" in refused.stderr
    allowed = atlas("run", "model=gold", one, f"run.root={tmp_path}", "agent.step_limit=7",
                    "run.allow_config_change=true", "run.evaluate=false")
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    manifest = json.loads((tmp_path / "sample.gold.bash" / "manifest.json").read_text())
    assert manifest["config_changes"][0]["keys"] == ["agent.step_limit"]
    # a change that does not touch results (workers) is not drift
    assert atlas("run", "model=gold", one, f"run.root={tmp_path}", "agent.step_limit=7", "run.workers=3",
                 "run.evaluate=false").returncode == 0
