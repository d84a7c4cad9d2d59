"""The comparison the scaffolds exist for: `atlas run -m agent=bash,tools,agentless model=scripted`.

One sweep (run once for the module) over every bundled task, graded by the official
harness; each member must resolve exactly what its scripts are written to resolve and
leave outputs of the same shape, so reports and resume treat the scaffolds alike.
"""

import json
from pathlib import Path

import pytest
import yaml

from atlas.datasets import BUNDLED_TASKS
from atlas.models.deterministic import BUNDLED_FOLDERS
from tests.conftest import atlas, labeled_containers, read_jsonl

SCAFFOLDS = ("bash", "tools", "agentless")


def expected(scaffold: str) -> dict[str, bool]:
    folder = BUNDLED_TASKS / BUNDLED_FOLDERS[scaffold]
    return {p.stem: bool(yaml.safe_load(p.read_text())["expected_resolved"]) for p in sorted(folder.glob("*.yaml"))}


@pytest.fixture(scope="module")
def sweep(sample_images, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    done = atlas("run", "-m", "agent=bash,tools,agentless", "model=scripted", f"run.root={root}", timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    members = {s: root / "sweep" / f"agent={s},model=scripted" for s in SCAFFOLDS}
    return root, done, members, [i.instance_id for i in sample_images]


def verdicts(run_dir: Path) -> dict[str, bool]:
    return {k: v["resolved"] for k, v in json.loads((run_dir / "results.json").read_text())["instances"].items()}


def statuses(run_dir: Path, ids: list[str]) -> dict[str, dict]:
    return {i: json.loads((run_dir / "instances" / i / "status.json").read_text()) for i in ids}


def trajectory(run_dir: Path, instance_id: str) -> list[dict]:
    return read_jsonl(run_dir / "instances" / instance_id / "trajectory.jsonl")


@pytest.mark.parametrize("scaffold", SCAFFOLDS)
def test_each_scaffold_resolves_what_its_scripts_fix(sweep, scaffold):
    _, _, members, ids = sweep
    want = expected(scaffold)
    assert set(want) == set(ids)
    assert len(ids) // 2 < sum(want.values()) < len(ids), "scripts must fix most tasks and fail at least one"
    assert verdicts(members[scaffold]) == want


def test_members_have_outputs_of_the_same_shape(sweep, docker_client):
    _, _, members, ids = sweep
    shapes = set()
    for scaffold, run_dir in members.items():
        preds = read_jsonl(run_dir / "preds.jsonl")
        assert sorted(p["instance_id"] for p in preds) == sorted(ids)
        assert all(set(p) == {"instance_id", "model_name_or_path", "model_patch"} for p in preds)
        for instance_id, status in statuses(run_dir, ids).items():
            assert status["status"] == "submitted" and status["usage"]["prompt_tokens"] > 0, (scaffold, instance_id)
            entries = trajectory(run_dir, instance_id)
            assert entries[0]["kind"] == "start" and entries[-1]["kind"] == "end"
            assistant = [e for e in entries if e["kind"] == "message" and e["role"] == "assistant"]
            assert len(assistant) == status["steps"] and all("usage" in a for a in assistant)
            actions = [e for e in entries if e["kind"] == "action"]
            assert actions and all({"command", "output", "exit_code", "duration_s", "step"} <= set(a) for a in actions)
            shapes.add(tuple(sorted(status)))
        assert not labeled_containers(docker_client, run_dir)
    assert len(shapes) == 1  # every status.json has the same fields, whatever the scaffold


def test_members_ran_under_the_same_limits(sweep):
    _, _, members, _ = sweep
    shared = ("step_limit", "cost_limit", "format_error_limit", "command_timeout", "context_budget", "context_policy")
    described = {s: json.loads((d / "manifest.json").read_text())["agent"] for s, d in members.items()}
    assert len({tuple(a[k] for k in shared) for a in described.values()}) == 1
    assert all(a["name"] == s and len(a["template_sha256"]) >= 4 for s, a in described.items())


def test_the_sweep_table_compares_the_members(sweep):
    _, done, _, ids = sweep
    assert "sweep" in done.stdout
    for scaffold in SCAFFOLDS:
        resolved = sum(expected(scaffold).values())
        assert f"agent={scaffold}" in done.stdout and f"{100 * resolved / len(ids):.1f}%" in done.stdout


def test_tools_trajectories_show_the_error_paths(sweep):
    _, _, members, _ = sweep
    malformed = trajectory(members["tools"], "atlas-samples__durations-1")
    assert [e for e in malformed if e["kind"] == "tool_error"]
    missing = trajectory(members["tools"], "atlas-samples__minicache-1")
    assert any(e["kind"] == "message" and e["role"] == "tool" and "does not exist" in e["content"] for e in missing)


def test_agentless_trajectories_show_filtering_and_the_vote(sweep):
    _, _, members, _ = sweep
    run_dir = members["agentless"]
    voted = trajectory(run_dir, "atlas-samples__durations-1")
    repairs = {e["sample"]: e["valid"] for e in voted if e.get("stage") == "repair" and e["kind"] == "pipeline"}
    assert repairs == {0: True, 1: True, 2: True, 3: False}  # the edit that does not apply is discarded
    checks = {e["sample"]: e["reproduction"] for e in voted if e.get("stage") == "validate" and e["kind"] == "pipeline"}
    assert checks == {0: True, 1: False}  # sample 2 equals sample 0 up to whitespace: tested once
    assert next(e for e in voted if e.get("stage") == "vote")["votes"] == 2
    rejected = statuses(run_dir, ["atlas-samples__minitmpl-2"])["atlas-samples__minitmpl-2"]
    assert rejected["error"] == "no candidate survived: no candidate passed the regression tests"
    assert (run_dir / "instances" / "atlas-samples__minitmpl-2" / "patch.diff").read_text() == ""


def test_rerunning_the_sweep_resumes_every_member(sweep):
    root, _, members, ids = sweep
    before = {s: statuses(d, ids) for s, d in members.items()}
    done = atlas("run", "-m", "agent=bash,tools,agentless", "model=scripted", f"run.root={root}", "run.evaluate=false")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count(f"{len(ids)} instance(s) already finished, 0 to run") == len(SCAFFOLDS)
    assert {s: statuses(d, ids) for s, d in members.items()} == before
