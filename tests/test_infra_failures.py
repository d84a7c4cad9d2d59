"""Infrastructure failures are never scores: a missing image is `image_missing`, not graded, out of the rate, exit 3.

Runs the real `atlas` command on bundled tasks whose rows name test-unique images, so removing
or withholding them never touches the images other tests share.
"""

import json
import uuid

from atlas.config import DatasetConfig
from atlas.datasets import load_task_repo_rows
from atlas.errors import INFRA_FAILURES
from tests.conftest import REPO_ROOT, atlas


def _rows(docker_client, sample_images, unique: str, count: int) -> list[dict]:
    """`count` bundled rows, each naming a test-unique tag of its sample image (created here)."""
    rows = load_task_repo_rows(DatasetConfig(name="s", source="task_repo", path="bundled"))[:count]
    for row in rows:
        name = f"{unique}/{row['instance_id']}:1".lower()
        docker_client.images.get(row["image"]).tag(*name.rsplit(":", 1))
        row["image"] = name
    return rows


def _write(rows: list[dict], path) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _remove(docker_client, names: list[str]) -> None:
    for name in names:
        try:
            docker_client.images.remove(name)
        except Exception:
            pass


def outcomes(run_dir) -> dict[str, dict]:
    """Each verdict's resolved and outcome (a run graded as it goes also records when, and how long)."""
    instances = json.loads((run_dir / "results.json").read_text())["instances"]
    return {k: {"resolved": v["resolved"], "outcome": v["outcome"]} for k, v in instances.items()}


def test_missing_image_is_an_infra_failure_not_a_score(docker_client, sample_images, tmp_path):
    unique = f"atlas-test-{uuid.uuid4().hex[:10]}"
    rows = _rows(docker_client, sample_images, unique, 3)
    missing = rows[0]
    original = docker_client.images.get(missing["image"]).id  # to put the image back for the retry
    try:
        docker_client.images.remove(missing["image"])  # only the test's own tag: the sample image stays
        dataset = _write(rows, tmp_path / "rows.jsonl")
        selection = ["dataset=file", f"dataset.path={dataset}"]
        # the missing image is listed before any run
        check = atlas("images", "check", *selection)
        assert check.returncode == 3 and f"missing: {missing['image']}" in check.stderr
        overrides = [*selection, "model=gold", "run.retries=2", f"run.root={tmp_path / 'runs'}"]
        done = atlas("run", *overrides)
        assert done.returncode == INFRA_FAILURES, done.stderr[-3000:]
        run_dir = tmp_path / "runs" / "file.gold.bash"
        status = json.loads((run_dir / "instances" / missing["instance_id"] / "status.json").read_text())
        assert status["status"] == "image_missing" and status["attempts"] == 1  # a pull already backed off
        # the first console line of the instance: its cause in full, and the command that gets the image
        first = next(line for line in done.stderr.splitlines() if missing["instance_id"] in line)
        assert first.split()[0] == "image_missing"
        assert f"image {missing['image']} is not present and could not be pulled" in first
        assert f"get it with: atlas images pull dataset.source=file dataset.path={dataset}" in first
        assert first.rstrip().endswith(f"'run.instance_ids=[{missing['instance_id']}]')")
        verdicts = outcomes(run_dir)
        assert verdicts[missing["instance_id"]] == {"resolved": False, "outcome": "infra_error"}  # not empty_patch
        assert all(verdicts[r["instance_id"]] == {"resolved": True, "outcome": "resolved"} for r in rows[1:])
        # the resolved rate is over the two scored instances; the failure is on a line of its own
        assert "all (scored)" in done.stdout and "100.0%" in done.stdout.split("all (scored)")[1].splitlines()[0]
        assert "infrastructure failures (not scored)" in done.stdout
        assert f"1 instance(s) of {run_dir} ended in an infrastructure failure" in done.stderr
        assert f"{missing['instance_id']} (image_missing)" in done.stderr
        retry = next(line for line in done.stderr.splitlines() if "re-run only those:" in line)
        assert retry.strip().endswith("run.rerun_errors=true")
        report = atlas("report", str(run_dir))
        assert report.returncode == 0, report.stderr
        summary = json.loads((run_dir / "report.json").read_text())["report"]
        assert summary["overall"]["n"] == 2 and summary["overall"]["resolved"] == 2
        assert summary["infra_failures"] == 1

        # a run where every instance is an infrastructure failure exits 3 as well
        alone = atlas("run", *selection, "model=gold", f"run.instance_ids=[{missing['instance_id']}]",
                      f"run.root={tmp_path / 'alone'}")
        assert alone.returncode == INFRA_FAILURES, alone.stderr[-2000:]

        # once the image is there, the printed retry re-runs only that instance, and the run is whole
        docker_client.images.get(original).tag(*missing["image"].rsplit(":", 1))
        again = atlas("run", *overrides, "run.rerun_errors=true")
        assert again.returncode == 0, again.stderr[-3000:]
        assert "resuming: 2 instance(s) already finished, 1 to run" in again.stderr
        assert all(v == {"resolved": True, "outcome": "resolved"} for v in outcomes(run_dir).values())
    finally:
        _remove(docker_client, [r["image"] for r in rows])


def test_keep_none_leaves_no_instance_image_and_tasks_still_pass(docker_client, sample_images, tmp_path):
    unique = f"atlas-test-{uuid.uuid4().hex[:10]}"
    rows = _rows(docker_client, sample_images, unique, 2)
    try:
        dataset = _write(rows, tmp_path / "rows.jsonl")
        done = atlas("run", "dataset=file", f"dataset.path={dataset}", "model=gold", "env.images.keep=none",
                     f"run.root={tmp_path / 'runs'}")
        assert done.returncode == 0, done.stderr[-3000:]
        verdicts = json.loads((tmp_path / "runs" / "file.gold.bash" / "results.json").read_text())["instances"]
        assert all(v["resolved"] for v in verdicts.values()) and len(verdicts) == 2
        assert "env.images.keep=none: removed 2 instance image(s)" in done.stdout
        left = [r["image"] for r in rows if docker_client.images.list(name=r["image"].rsplit(":", 1)[0])]
        assert left == []
        # only this run's images went: the sample images they were tagged from and the base image stay
        assert all(docker_client.images.list(name=i.image_name().rsplit(":", 1)[0]) for i in sample_images[:2])
    finally:
        _remove(docker_client, [r["image"] for r in rows])


def test_exit_codes_are_documented_where_users_look():
    from atlas.errors import EXIT_CODES

    help_text = atlas("run", "--help").stdout.split("Exit codes:")[1]
    listed = [int(line.split()[0]) for line in help_text.splitlines() if line.strip()[:1].isdigit()]
    assert listed == list(EXIT_CODES)
    readme = (REPO_ROOT / "README.md").read_text()
    for code in EXIT_CODES:
        assert f"| {code} |" in readme, code


def test_a_harness_that_fails_leaves_eval_error_not_a_crash(tmp_path, monkeypatch):
    import docker.errors
    import swebench.harness.run_evaluation as harness

    from atlas.config import HarnessConfig
    from atlas.harness.evaluate import evaluate_run
    from atlas.records import InstanceResult, Status
    from atlas.rundir import RunDir

    run_dir = RunDir(tmp_path / "run")
    graded, broken = "acme__widgets-1", "acme__widgets-2"
    run_dir.write_result(InstanceResult(instance_id=graded, status=Status.SUBMITTED, attempts=1,
                                        submitted_patch=True), "diff --git a/x b/x\n")
    run_dir.write_result(InstanceResult(instance_id=broken, status=Status.IMAGE_MISSING, attempts=1), "")
    run_dir.write_predictions("m")
    calls = []

    def engine_fails(**kwargs):
        calls.append(kwargs["instance_ids"])
        raise docker.errors.NotFound("No such container: c8b31cf28156")

    monkeypatch.setattr(harness, "main", engine_fails)
    # the rows the harness is handed (evaluation/rows.jsonl) come from the dataset file
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(
        {"instance_id": i, "repo": "acme/widgets", "base_commit": "a" * 40, "problem_statement": "p"}) + "\n"
        for i in (graded, broken)))
    verdicts = evaluate_run(run_dir, DatasetConfig(name="f", source="file", path=str(tmp_path / "rows.jsonl")),
                            HarnessConfig())
    assert calls == [[graded]]  # the image_missing instance is never handed to the harness
    assert verdicts[graded].outcome == "eval_error" and verdicts[graded].infra
    assert verdicts[broken].outcome == "infra_error" and verdicts[broken].infra
