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
from rich.table import Table

from atlas import errors
from atlas.agents import SCAFFOLDS, make_agent
from atlas.config import CONF_DIR, ConfigError, validate, validate_section
from atlas.errors import report_errors
from atlas.models import check_settings as check_model_settings
from atlas.overrides import check_writable, compose_config, run_dir_of
from atlas.runner import run
from atlas.rundir import RunDir

console = Console()
# per run of this process: (run dir, {instance id: infrastructure status or outcome}, config)
INFRA_FAILURES: list[tuple[Path, dict[str, str], Any]] = []


def dirname(overrides: str) -> str:
    """A sweep member's overrides as one safe path segment (values may hold slashes)."""
    return overrides.replace("/", "_").replace("\\", "_") or "default"


OmegaConf.register_new_resolver("atlas_dirname", dirname, replace=True)


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


def grade_and_report(config, run_path: Path, selected: list[str]) -> dict[str, Any]:
    """Grade (if enabled), print the table, and return the figures a sweep table needs."""
    from atlas.harness.evaluate import evaluate_run, read_verdicts
    from atlas.harness.table import infra_failures, results_table

    run_dir = RunDir(run_path)
    if config.run.evaluate and config.harness.enabled and run_dir.predictions.is_file():
        with run_dir.lock():
            verdicts = evaluate_run(run_dir, config.dataset, config.harness)
    else:
        verdicts = read_verdicts(run_dir)
    results = run_dir.results(selected)
    console.print(results_table(f"{run_path}", results, verdicts, selected))
    infra = infra_failures(results, verdicts, selected)
    return {
        "run": str(run_path), "total": len(selected), "finished": len(results), "infra": infra,
        "resolved": sum(v.resolved for k, v in verdicts.items() if k in set(selected)),
        "submitted": sum(r.status.value == "submitted" for r in results.values()),
    }


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def hydra_main(cfg: DictConfig) -> dict[str, Any]:
    with report_errors():
        config = resolve(cfg)
        run_path = Path(HydraConfig.get().runtime.output_dir)
        summary = run(config, run_path, make_agent)
        figures = grade_and_report(config, run_path, summary.selected)
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
        table = Table(title="sweep", title_justify="left")
        for column in ("member", "instances", "finished", "submitted", "resolved", "rate", "infra"):
            table.add_column(column, justify="left" if column == "member" else "right")
        for row in self.rows:
            scored = row["total"] - len(row["infra"])  # infrastructure failures are no score
            rate = f"{100 * row['resolved'] / scored:.1f}%" if scored else "-"
            table.add_row(Path(row["run"]).name, str(row["total"]), str(row["finished"]),
                          str(row["submitted"]), str(row["resolved"]), rate, str(len(row["infra"])))
        console.print(table)


def main(overrides: list[str]) -> None:
    from atlas.infra import retry_lines

    if not any(a.startswith("-") for a in overrides):  # --help, --cfg, -m ...: Hydra's own modes
        # bad overrides, bad values and an unwritable run directory end here as bad input (exit 2),
        # before Hydra would report them as its own errors
        cfg = compose_config(overrides, hydra_config=True)
        resolve(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]))
        check_writable(run_dir_of(cfg))
    sys.argv = ["atlas run", *overrides]
    INFRA_FAILURES.clear()
    hydra_main()
    if INFRA_FAILURES:
        for run_path, failures, config in INFRA_FAILURES:
            for line in retry_lines(run_path, failures, config, overrides):
                Console(stderr=True).print(line, style="red" if not line.startswith(" ") else None,
                                           highlight=False, soft_wrap=True, markup=False)
        sys.exit(errors.INFRA_FAILURES)
