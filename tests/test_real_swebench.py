"""Real SWE-bench instances (marshmallow, astroid; flask and pytest from SWE-bench Verified) end to end: stand-in images from their real git
history, `atlas run` and `atlas evaluate` with the real harness, checked against the harness's own CLI.

The images need local git mirrors of the repositories (atlas/real_images.py says where it looks).
Without them these tests skip with the command that makes one; with ATLAS_REQUIRE_REAL_REPOS=1 (CI,
where the mirrors are present) they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from atlas.config import DatasetConfig
from atlas.datasets import BUNDLED_REAL, load_instances
from tests.conftest import atlas, read_jsonl

CLASSIC = BUNDLED_REAL.with_name("rows.classic.jsonl")  # the same rows as SWE-bench publishes them
# the bundled rows taken from SWE-bench Verified (the others are from the full set and Lite dev)
VERIFIED = {"pallets__flask-5014": "pallets/flask", "pytest-dev__pytest-5809": "pytest-dev/pytest"}

# applies cleanly and changes nothing the tests look at: FAIL_TO_PASS must still fail
NOT_A_FIX = """diff --git a/ATLAS_NOT_A_FIX.txt b/ATLAS_NOT_A_FIX.txt
new file mode 100644
--- /dev/null
+++ b/ATLAS_NOT_A_FIX.txt
@@ -0,0 +1 @@
+this patch does not fix the issue
"""


@pytest.fixture(scope="session")
def real_instances(docker_client):
    """The bundled real rows with their stand-in images, built once per session (reused when present)."""
    from atlas.real_images import MirrorMissing, build_standin_images, find_mirror

    instances = load_instances(DatasetConfig(name="real", source="file", path="bundled-real"))
    try:
        for repo in sorted({i.repo for i in instances}):
            find_mirror(repo)
    except MirrorMissing as e:
        if os.environ.get("ATLAS_REQUIRE_REAL_REPOS") == "1":
            pytest.fail(f"ATLAS_REQUIRE_REAL_REPOS=1 but {e}")
        pytest.skip(str(e))
    build_standin_images(docker_client, instances)
    return instances


def verdicts(run_dir: Path) -> dict[str, dict]:
    return json.loads((run_dir / "results.json").read_text())["instances"]


def swebench_eval(predictions: Path, cwd: Path, run_id: str) -> dict:
    """`python -m swebench.harness.run_evaluation` on the same rows and predictions; its report."""
    cwd.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "swebench.harness.run_evaluation", "-d", str(BUNDLED_REAL), "-s", "test",
         "-p", str(predictions), "-id", run_id, "--max_workers", "2", "--report_dir", "."],
        cwd=cwd, capture_output=True, text=True, timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    model = read_jsonl(predictions)[0]["model_name_or_path"]
    return json.loads((cwd / f"{model}.{run_id}.json").read_text())


@pytest.fixture(scope="module")
def sweep(real_instances, tmp_path_factory):
    root = tmp_path_factory.mktemp("real-runs")
    done = atlas("run", "-m", "dataset=real", "model=gold,empty", f"run.root={root}", "run.workers=3", timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return root / "sweep"


def test_images_have_the_official_names_and_the_real_base_commit(real_instances, docker_client):
    from atlas.real_images import SUITE_PYTHON, environment_for

    for instance in real_instances:
        name = instance.image_name()
        assert name == "swebench/sweb.eval.x86_64." + instance.instance_id.replace("__", "_1776_") + ":latest"
        out = docker_client.containers.run(
            name, ["bash", "-c", "git -C /testbed rev-parse HEAD && git -C /testbed status --porcelain --untracked-files=no"
                   " && source /opt/miniconda3/bin/activate && conda activate testbed && python --version"],
            remove=True, network_mode="none").decode()
        lines = out.split()
        assert lines[0] == instance.base_commit  # the real commit object, not a re-made one
        assert f"Python {SUITE_PYTHON[environment_for(instance)['suite']]}." in out  # the version the harness installs


def test_gold_resolves_and_empty_does_not_through_atlas_run(sweep, real_instances):
    ids = {i.instance_id for i in real_instances}
    assert len({i.repo for i in real_instances}) >= 2 and len(ids) >= 3
    assert {i.instance_id: i.repo for i in real_instances if i.instance_id in VERIFIED} == VERIFIED
    gold, empty = verdicts(sweep / "dataset=real,model=gold"), verdicts(sweep / "dataset=real,model=empty")
    assert set(gold) == set(empty) == ids
    assert all(v["resolved"] for v in gold.values()), gold
    assert not any(v["resolved"] for v in empty.values()), empty
    assert {v["outcome"] for v in empty.values()} == {"empty_patch"}


def test_atlas_evaluate_matches_swebench_for_gold_and_wrong_patches(sweep, real_instances, tmp_path):
    # the gold run's own predictions, graded as the run went, against the harness's CLI grading the batch
    gold_preds = sweep / "dataset=real,model=gold" / "preds.jsonl"
    official = swebench_eval(gold_preds, tmp_path / "gold", "atlas-test-gold")
    gold = verdicts(sweep / "dataset=real,model=gold")
    assert all(v["graded_at"] and v["grading_seconds"] > 0 for v in gold.values())  # graded one by one
    assert sorted(official["resolved_ids"]) == sorted(k for k, v in gold.items() if v["resolved"])

    # a copy of the run whose predictions are wrong for all but one instance, graded by `atlas evaluate`
    run_dir = tmp_path / "mixed"
    shutil.copytree(sweep / "dataset=real,model=gold", run_dir, ignore=shutil.ignore_patterns("evaluation", "results.json"))
    keep = real_instances[0].instance_id
    preds = read_jsonl(gold_preds)
    for pred in preds:
        if pred["instance_id"] != keep:
            pred["model_patch"] = NOT_A_FIX
    (run_dir / "preds.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
    done = atlas("evaluate", str(run_dir), timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    mixed = verdicts(run_dir)
    assert {k for k, v in mixed.items() if v["resolved"]} == {keep}
    assert {v["outcome"] for k, v in mixed.items() if k != keep} == {"unresolved"}

    official = swebench_eval(run_dir / "preds.jsonl", tmp_path / "mixed-official", "atlas-test-mixed")
    assert official["resolved_ids"] == [keep]
    assert sorted(official["unresolved_ids"]) == sorted(k for k in mixed if k != keep)
    # the wrong patch leaves every FAIL_TO_PASS test failing: the tests do fail before the fix
    graded_as = json.loads((run_dir / "results.json").read_text())["harness"]["run_id"]
    logs = run_dir / "evaluation" / "logs" / "run_evaluation" / graded_as / "gold"
    for instance in real_instances:
        if instance.instance_id == keep:
            continue
        report = json.loads((logs / instance.instance_id / "report.json").read_text())[instance.instance_id]
        f2p = report["tests_status"]["FAIL_TO_PASS"]
        assert f2p["success"] == [] and sorted(f2p["failure"]) == sorted(instance.FAIL_TO_PASS)


def test_atlas_evaluate_refuses_rows_that_became_ungradable(real_instances, tmp_path):
    """`atlas evaluate` checks the rows too: grading never starts on rows the harness would crash on."""
    rows = tmp_path / "rows.jsonl"
    shutil.copy(BUNDLED_REAL, rows)
    done = atlas("run", "dataset=file", f"dataset.path={rows}", "model=empty", "run.evaluate=false",
                 f"run.root={tmp_path}", "run.name=later", "run.instance_regex=marshmallow")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    # classic rows are completed on load, except one whose version has no known test command
    classic = [json.loads(line) for line in CLASSIC.read_text().splitlines()]
    rows.write_text("".join(json.dumps({**r, "version": "0.1"}) + "\n" for r in classic))
    done = atlas("evaluate", str(tmp_path / "later"))
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    err = " ".join(done.stderr.split())
    assert "marshmallow-code__marshmallow-1343: missing columns: image, eval_script, log_parser, eval_type" in err
    assert "no test command is known for marshmallow-code/marshmallow version '0.1'" in err
    assert "pylint-dev__astroid" not in err  # only the run's own instances are checked
    assert not (tmp_path / "later" / "evaluation").exists()


def test_a_classic_row_runs_and_resolves_with_no_manual_step(real_instances, tmp_path):
    """A Verified instance in SWE-bench's published columns only: completed on load, run with the gold
    patch, graded by the harness, resolved; the manifest records what was derived and from what."""
    from atlas.dataset_record import specs_sha256
    from atlas.datasets import file_sha256

    [row] = [r for r in read_jsonl(CLASSIC) if r["instance_id"] == "pytest-dev__pytest-5809"]
    assert not {"image", "log_parser", "eval_type", "eval_script"} & set(row)
    rows = tmp_path / "classic.jsonl"
    rows.write_text(json.dumps(row) + "\n")
    done = atlas("run", "dataset=file", f"dataset.path={rows}", "model=gold", f"run.root={tmp_path}",
                 "run.name=classic", timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert {k: (v["resolved"], v["outcome"]) for k, v in verdicts(tmp_path / "classic").items()} == {
        row["instance_id"]: (True, "resolved")}
    dataset = json.loads((tmp_path / "classic" / "manifest.json").read_text())["dataset"]
    assert dataset["revision"] == file_sha256(str(rows))
    derived = dataset["derived"]
    assert derived["rows"] == 1 and derived["instance_ids"] == [row["instance_id"]]
    assert derived["columns"] == {"eval_script": 1, "eval_type": 1, "image": 1, "log_parser": 1}
    assert derived["spec_table"] == "atlas/data/swebench_eval_specs.json"
    assert derived["spec_table_sha256"] == specs_sha256()
    # the harness graded the completed row: the one `atlas dataset convert` writes
    [graded] = read_jsonl(tmp_path / "classic" / "evaluation" / "rows.jsonl")
    assert graded == next(r for r in read_jsonl(BUNDLED_REAL) if r["instance_id"] == row["instance_id"])
