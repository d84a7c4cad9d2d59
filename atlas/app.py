"""`atlas run`: the Hydra application (with atlas.cli, the composition root: it picks the scaffold) that composes the config, runs a batch, grades it and prints the table.

The run directory is Hydra's output directory: `runs/<run.name>` for a single run, and
`runs/<run.sweep>/<overrides>` for each member of a `-m` sweep, so every member of a
sweep resumes independently. After a sweep, one table compares the members.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from rich.console import Console

from atlas import errors
from atlas.agents import SCAFFOLDS, make_agent
from atlas.config import CONF_DIR, ConfigError, validate, validate_section
from atlas.errors import report_errors
from atlas.harness.instance_grading import make_grader
from atlas.models import check_settings as check_model_settings
from atlas.overrides import (
    check_inside,
    check_writable,
    compose_config,
    run_dir_of,
    run_root_of,
    sweep_dir_of,
    sweep_members,
)
from atlas.redaction import learn_overrides
from atlas.runner import run
from atlas import sweep_files  # noqa: F401  (registers the atlas_dirname resolver of member folders)
from atlas.repeats import repeat_dirs, repeat_label
from atlas.rundir import RunDir

console = Console()
# per run of this process: (run dir, {instance id: infrastructure status or outcome}, config)
INFRA_FAILURES: list[tuple[Path, dict[str, str], Any]] = []


def resolve(cfg: DictConfig):
    """Resolve interpolations and validate every section, turning OmegaConf's errors into a ConfigError.

    The core validates its own sections; `model.*` is checked against its backend's schema and
    `agent.*` against its scaffold's, so a typo anywhere stops the command before anything runs.
    """
    try:
        raw = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", "") or "?"
        raise ConfigError(f"config key {key} must be set: {e.msg if hasattr(e, 'msg') else e}") from None
    config = validate(raw)
    check_model_settings(config.model.model_dump())
    if config.agent.name not in SCAFFOLDS:
        make_agent(config.agent.model_dump())  # raises the ConfigError that lists the scaffolds
    validate_section(SCAFFOLDS[config.agent.name].settings_schema, config.agent.model_dump(), prefix="agent.")
    return config


def grade_and_report(config, run_path: Path, selected: list[str], graded: bool = False) -> dict[str, Any]:
    """Grade (if enabled and not `graded` already as the run went), print the table, and return the
    figures a sweep table needs.

    With run.repeats > 1 every repeat is graded as its own predictions file under its own harness
    run_id (`<run_id>.r<N>`): the harness grades one prediction per instance id and run_id.
    """
    from atlas.harness.evaluate import evaluate_run, read_verdicts
    from atlas.harness.table import infra_failures, results_table, to_rich

    members = repeat_dirs(RunDir(run_path), config.run.repeats)
    resolved, infra = [], {}
    for number, member in enumerate(members, 1):
        harness = config.harness
        if len(members) > 1:
            harness = harness.model_copy(update={"run_id": f"{harness.run_id}.{repeat_label(number)}"})
        if config.run.evaluate and config.harness.enabled and not graded and member.predictions.is_file():
            with RunDir(run_path).lock():
                verdicts = evaluate_run(member, config.dataset, harness)
        else:
            verdicts = read_verdicts(member)
        results = member.results(selected)
        title = f"{run_path}" + (f" repeat {number}/{len(members)}" if len(members) > 1 else "")
        console.print(to_rich(results_table(title, results, verdicts, selected)))
        resolved.append(sum(v.resolved for k, v in verdicts.items() if k in set(selected)))
        failed = infra_failures(results, verdicts, selected)
        infra.update(failed if len(members) == 1 else {f"{repeat_label(number)}/{k}": v for k, v in failed.items()})
    return {
        "run": str(run_path), "total": len(selected), "finished": len(results), "infra": infra, "repeats": len(members),
        "resolved": sum(resolved) / len(resolved),  # the mean over repeats
        "submitted": sum(r.status.value == "submitted" for r in results.values()),
    }


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def hydra_main(cfg: DictConfig) -> dict[str, Any]:
    with report_errors():
        config = resolve(cfg)
        run_path = Path(HydraConfig.get().runtime.output_dir)
        summary = run(config, run_path, make_agent, make_grader)  # grades each instance as it finishes
        figures = grade_and_report(config, run_path, summary.selected, graded=config.harness.stream)
        release_images(config, summary.selected)
        if figures["infra"]:
            INFRA_FAILURES.append((run_path, figures["infra"], config))
        return figures


def release_images(config, selected: list[str]) -> None:
    """Apply env.images.keep to this run's instance images, now that they are graded."""
    if config.env.images.keep == "all":
        return
    from atlas.datasets import load_instances
    from atlas.environments import docker_client
    from atlas.image_store import apply_keep, image_refs

    wanted = set(selected)
    instances = [i for i in load_instances(config.dataset) if i.instance_id in wanted]
    removed, busy = apply_keep(docker_client(), image_refs(instances, config.env.images), config.env.images)
    console.print(f"env.images.keep={config.env.images.keep}: removed {len(removed)} instance image(s)"
                  + (f"; kept {len(busy)} still in use: {', '.join(busy)}" if busy else ""), highlight=False)


class SweepTable(Callback):
    """After a -m sweep, one table with a row per member."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if isinstance(job_return.return_value, dict):
            self.rows.append(job_return.return_value)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from atlas.harness.table import TableData, to_rich

        rows = []
        for row in self.rows:
            scored = row["total"] - len(row["infra"]) / row["repeats"]  # infrastructure failures are no score
            rate = f"{100 * row['resolved'] / scored:.1f}%" if scored else "-"
            rows.append([Path(row["run"]).name, row["total"], row["finished"], row["submitted"], f"{row['resolved']:g}",
                         rate, len(row["infra"])])
        console.print(to_rich(TableData("sweep", ["member", "instances", "finished", "submitted", "resolved", "rate",
                                                  "infra"], [rows])))


SWEEP_FLAGS = {"-m", "--multirun"}  # other flags (--help, --cfg ...) are Hydra's own modes and run nothing


def precheck(overrides: list[str], sweep: bool = False) -> None:
    """Compose, resolve and validate one run's (or sweep member's) config, and check its folder is writable."""
    cfg = compose_config(overrides, hydra_config=True)
    resolve(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]))
    folder = sweep_dir_of(cfg) if sweep else run_dir_of(cfg)
    check_inside(folder, run_root_of(cfg), "run.sweep" if sweep else "run.name")
    check_writable(folder)


def main(overrides: list[str]) -> None:
    from atlas.infra import retry_lines

    learn_overrides(overrides)  # masked on the console and in Hydra's files from the first line on
    # bad overrides, bad values and an unwritable run directory end here as bad input (exit 2),
    # before Hydra would report them as its own errors; a sweep's members are checked one by one
    flags = {a for a in overrides if a.startswith("-")}
    if not flags:
        precheck(overrides)
    elif flags <= SWEEP_FLAGS:
        for member in sweep_members([a for a in overrides if a not in SWEEP_FLAGS]):
            precheck(member, sweep=True)
    sys.argv = ["atlas run", *overrides]
    INFRA_FAILURES.clear()
    hydra_main()
    if INFRA_FAILURES:
        for run_path, failures, config in INFRA_FAILURES:
            for line in retry_lines(run_path, failures, config, overrides):
                Console(stderr=True).print(line, style="red" if not line.startswith(" ") else None,
                                           highlight=False, soft_wrap=True, markup=False)
        sys.exit(errors.INFRA_FAILURES)
