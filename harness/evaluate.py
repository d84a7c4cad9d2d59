"""Grade a run's preds.jsonl with the official harness (`swebench.harness.run_evaluation`).

The harness writes its logs under the current directory, so it runs inside
`<run dir>/evaluation/`, where its per-instance reports stay next to the run. A report
whose recorded patch differs from the current prediction (an instance that was re-run)
is discarded first, because the harness would otherwise reuse it.

The harness grades the rows as ATLAS loaded them: classic rows completed on load
(atlas.datasets) are written to `<run dir>/evaluation/rows.jsonl` and graded from there, so
the harness never sees a row without its image, log parser, eval type and eval script.

Infrastructure failures are never scores: an instance that ended in an infrastructure
status (image missing, environment, model server) is not graded at all (outcome
`infra_error`, not `empty_patch`), and a harness that could not grade a prediction gives
`eval_error`. Both stay out of the resolved rate's denominator. Tests that ran past the
harness's timeout (`test_timeout`) are the patch's doing and count as unresolved.

The harness names each grading container `sweb.eval.<instance>.<run_id>`, so the run_id it gets is
`harness.run_id` plus a hash of the run directory (`grading_run_id`): two runs grading the same
instance at once never share a container name, and grading one run again reuses its reports.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import docker.errors
from rich.console import Console
from rich.markup import escape

from atlas.config import DatasetConfig, HarnessConfig
from atlas.datasets import load_instances, resolve_path
from atlas.grading_pool import INFRA_OUTCOMES  # outcomes that are failures of the machinery: out of the rate
from atlas.rundir import RunDir, atomic_write_text

RESULTS_FILE = "results.json"
GRADED_ROWS = "rows.jsonl"  # in evaluation/: the rows the harness grades, as loaded and completed




@dataclass
class Verdict:
    resolved: bool
    outcome: str  # resolved | unresolved | empty_patch | patch_apply_failed | test_timeout | eval_error | infra_error

    @property
    def infra(self) -> bool:
        return self.outcome in INFRA_OUTCOMES


def unique_run_id(run_dir: RunDir, run_id: str) -> str:
    """`run_id` and 8 hex digits of the run directory's path: unique per run, stable across its sessions."""
    return f"{run_id}.{hashlib.sha256(str(run_dir.path.resolve()).encode()).hexdigest()[:8]}"


def grading_run_id(run_dir: RunDir, harness: HarnessConfig) -> str:
    """The harness run_id of this run directory (`harness.run_id` made unique per run)."""
    return unique_run_id(run_dir, harness.run_id)


def log_dir_of(run_dir: RunDir, run_id: str, model_name: str) -> Path:
    """Where the harness writes an instance's logs and report.json (it runs inside `<run dir>/evaluation/`)."""
    return run_dir.evaluation / "logs" / "run_evaluation" / run_id / model_name.replace("/", "__")


def drop_stale_reports(log_dir: Path, predictions: list[dict]) -> None:
    """Remove reports graded on another patch than the prediction's (the harness would reuse them)."""
    for pred in predictions:
        folder = log_dir / pred["instance_id"]
        graded = folder / "patch.diff"
        if graded.is_file() and graded.read_text() != (pred["model_patch"] or ""):
            shutil.rmtree(folder)


def verdict_of(folder: Path, instance_id: str, patch: str) -> Verdict:
    """The verdict the harness left in `folder` (report.json, else what its log says went wrong)."""
    if not patch.strip():
        return Verdict(False, "empty_patch")
    report = folder / "report.json"
    if report.is_file():
        entry = json.loads(report.read_text())[instance_id]
        return Verdict(bool(entry["resolved"]), "resolved" if entry["resolved"] else "unresolved")
    log = folder / "run_instance.log"
    text = log.read_text(errors="replace") if log.is_file() else ""
    if "Patch Apply Failed" in text:
        return Verdict(False, "patch_apply_failed")
    if "Test timed out after" in text:
        return Verdict(False, "test_timeout")
    return Verdict(False, "eval_error")


def infra_status(run_dir: RunDir, instance_id: str) -> bool:
    result = run_dir.read_result(instance_id)
    return result is not None and result.status.is_infra_error


def graded_rows(run_dir: RunDir, dataset: DatasetConfig, instance_ids: list[str] | None = None) -> str:
    """The dataset the harness reads: the loaded (completed) rows of `instance_ids` (every prediction's),
    written to the run's evaluation/ folder; a task repo is read by the harness itself."""
    if dataset.source == "task_repo":
        return resolve_path(dataset)
    rows = [i.row for i in load_instances(dataset) if instance_ids is None or i.instance_id in instance_ids]
    path = run_dir.evaluation / GRADED_ROWS
    # shapes=False: a row's text (patches, scripts) is graded byte for byte, like a patch
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), shapes=False)
    return str(path)


def evaluate_run(run_dir: RunDir, dataset: DatasetConfig, harness: HarnessConfig) -> dict[str, Verdict]:
    """Grade every prediction of the run; write and return the verdicts."""
    from swebench.harness.run_evaluation import main as run_evaluation

    predictions = [json.loads(line) for line in run_dir.predictions.read_text().splitlines() if line.strip()]
    if not predictions:
        return {}
    model_name = predictions[0]["model_name_or_path"]
    log_dir = log_dir_of(run_dir, grading_run_id(run_dir, harness), model_name)
    drop_stale_reports(log_dir, predictions)
    infra = {p["instance_id"] for p in predictions if infra_status(run_dir, p["instance_id"])}
    graded = [p for p in predictions if p["instance_id"] not in infra]
    path = resolve_path(dataset)
    run_dir.evaluation.mkdir(parents=True, exist_ok=True)
    if graded:
        # every prediction's row: the harness checks that each id in preds.jsonl is in the dataset
        rows = graded_rows(run_dir, dataset, [p["instance_id"] for p in predictions])
        with contextlib.chdir(run_dir.evaluation):
            try:
                run_evaluation(
                    dataset_name=rows, split=dataset.split, instance_ids=[p["instance_id"] for p in graded],
                    predictions_path=str(run_dir.predictions), max_workers=harness.workers, open_file_limit=4096,
                    run_id=grading_run_id(run_dir, harness), timeout=harness.timeout, rewrite_reports=False, modal=False,
                    report_dir=".", task_repo=path if dataset.source == "task_repo" else None,
                )
            except docker.errors.DockerException as e:
                # the engine failed the harness (often its closing summary, after the per-instance reports are
                # written): what was graded stands, the rest is eval_error, an infrastructure failure
                Console(stderr=True).print(f"[yellow]warning:[/] the grading harness failed: {escape(str(e))}",
                                           soft_wrap=True, highlight=False)
    verdicts = {p["instance_id"]: Verdict(False, "infra_error") if p["instance_id"] in infra else
                verdict_of(log_dir / p["instance_id"], p["instance_id"], p["model_patch"] or "") for p in predictions}
    write_results(run_dir, results_header(dataset, grading_run_id(run_dir, harness)),
                  {k: {"resolved": v.resolved, "outcome": v.outcome} for k, v in verdicts.items()})
    return verdicts


def read_verdicts(run_dir: RunDir) -> dict[str, Verdict]:
    path = run_dir.path / RESULTS_FILE
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())["instances"]
    return {k: Verdict(v["resolved"], v["outcome"]) for k, v in data.items()}


def results_header(dataset: DatasetConfig, run_id: str) -> dict:
    """What graded the run: results.json's `harness` section."""
    return {"package": "swebench", "version": version("swebench"), "run_id": run_id,
            "dataset": resolve_path(dataset), "split": dataset.split}


def write_results(run_dir: RunDir, header: dict, instances: dict[str, dict]) -> None:
    """Replace results.json atomically: `atlas report` may read it while a run grades as it goes."""
    atomic_write_text(run_dir.path / RESULTS_FILE, json.dumps({"harness": header, "instances": instances},
                                                              indent=2) + "\n")
