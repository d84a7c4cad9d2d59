"""The bundled tasks are a well-formed swebench task repo that the official harness grades correctly."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from atlas.datasets import BUNDLED_TASKS

SWEBENCH = [sys.executable, "-c", "from swebench.cli.cli import main; main()"]


def test_task_repo_passes_the_official_checks():
    from swebench.task.checks import check_task_repo, errors

    problems = check_task_repo(BUNDLED_TASKS)
    assert errors(problems) == [], [str(p) for p in problems]


def test_bundled_sources_do_not_leak_the_fix():
    """Each task ships its base source only: the gold patch must not already be applied."""
    import tarfile

    from swebench.task.repo import load_task_repo

    for task in load_task_repo(BUNDLED_TASKS):
        archive = BUNDLED_TASKS / "tasks" / task["instance_id"]
        shipped = [p for p in archive.iterdir() if p.suffix in (".bundle", ".gz", ".tar")]
        assert shipped, f"{task['instance_id']} ships no source"
        added = [line[1:] for line in task["patch"].splitlines() if line.startswith("+") and not line.startswith("+++")
                 and len(line.strip()) > 12]
        for path in shipped:
            if path.suffix == ".gz":
                with tarfile.open(path) as tar:
                    text = "\n".join(tar.extractfile(m).read().decode(errors="replace")
                                     for m in tar.getmembers() if m.isfile() and m.name.endswith(".py"))
                assert not any(line in text for line in added), f"{task['instance_id']}: fix present in {path.name}"


def swebench_eval(cwd: Path, *args: str) -> dict:
    repo = str(BUNDLED_TASKS)
    done = subprocess.run([*SWEBENCH, "eval", repo, "--task-repo", repo, "-j", "2", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    reports = list(cwd.glob("*.json"))
    assert len(reports) == 1, reports
    return json.loads(reports[0].read_text())


@pytest.mark.usefixtures("sample_images")
def test_official_harness_resolves_every_gold_patch(tmp_path):
    report = swebench_eval(tmp_path, "--gold", "--run-id", "gold")
    ids = sorted(p.name for p in (BUNDLED_TASKS / "tasks").iterdir())
    assert sorted(report["resolved_ids"]) == ids
    assert report["error_ids"] == [] and report["unresolved_ids"] == []


@pytest.mark.usefixtures("sample_images")
def test_official_harness_resolves_no_empty_or_wrong_patch(tmp_path):
    from swebench.task.repo import load_task_repo

    tasks = load_task_repo(BUNDLED_TASKS)
    # an empty patch for every task but one, and for that one a patch that applies but fixes nothing
    first = tasks[0]
    wrong = "diff --git a/NOTES.md b/NOTES.md\nnew file mode 100644\n--- /dev/null\n+++ b/NOTES.md\n@@ -0,0 +1 @@\n+not a fix\n"
    preds = [{"instance_id": t["instance_id"], "model_name_or_path": "probe",
              "model_patch": wrong if t is first else ""} for t in tasks]
    (tmp_path / "preds.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
    report = swebench_eval(tmp_path, "-p", "preds.jsonl", "--run-id", "probe")
    assert report["resolved_ids"] == []
    assert report["unresolved_ids"] == [first["instance_id"]]
    assert len(report["empty_patch_ids"]) == len(tasks) - 1
