"""Infrastructure failures are retried, then recorded with their own status, apart from agent failures."""

import json

from atlas.config import DatasetConfig
from atlas.datasets import load_task_repo_rows
from atlas.models.deterministic import turn
from tests.conftest import atlas, read_jsonl


def test_env_and_model_errors_are_retried_then_reported_apart(sample_images, tmp_path):
    rows = load_task_repo_rows(DatasetConfig(name="s", source="task_repo", path="bundled"))[:3]
    broken_image, exhausted, fine = (r["instance_id"] for r in rows)
    rows[0]["image"] = "atlas-test/no-such-image:1"
    dataset = tmp_path / "tasks.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows))
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    # a script that never submits: the model runs out of answers, which is a model failure
    (scripts / f"{exhausted}.yaml").write_text(json.dumps({"turns": [turn("look", "ls")]}))
    (scripts / f"{fine}.yaml").write_text(json.dumps({"turns": [turn("stop", "echo ATLAS_SUBMIT")]}))
    done = atlas("run", "dataset=file", f"dataset.path={dataset}", "model=scripted", f"model.scripts_dir={scripts}",
                 "env.pull=never", "run.retries=1", f"run.root={tmp_path / 'runs'}")
    assert done.returncode == 3, done.stderr[-3000:]  # the documented exit code of infrastructure failures
    run_dir = tmp_path / "runs" / "file.scripted.bash"
    status = {r: json.loads((run_dir / "instances" / r / "status.json").read_text()) for r in (broken_image, exhausted, fine)}
    # a missing image has its own status; a pull that cannot happen is not retried
    assert status[broken_image]["status"] == "image_missing" and status[broken_image]["attempts"] == 1
    assert "env.pull=never" in status[broken_image]["attempt_errors"][0]
    assert "get it with: atlas images pull" in status[broken_image]["error"]
    assert (run_dir / "instances" / exhausted / "trajectory.attempt1.jsonl").is_file()
    assert status[exhausted]["status"] == "model_error" and status[exhausted]["attempts"] == 2
    assert status[fine]["status"] == "submitted" and status[fine]["attempts"] == 1
    assert "status: image_missing" in done.stdout and "status: model_error" in done.stdout
    assert f"2 instance(s) of {run_dir} ended in an infrastructure failure" in done.stderr
    preds = {p["instance_id"]: p["model_patch"] for p in read_jsonl(run_dir / "preds.jsonl")}
    assert preds == {broken_image: "", exhausted: "", fine: ""}
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["totals"]["by_status"] == {"submitted": 1, "image_missing": 1, "model_error": 1}
