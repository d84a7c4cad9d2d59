"""What `atlas run` says at the end when instances ended in infrastructure failures, and its exit code.

An infrastructure failure (image missing, environment, model server, harness) is not a score;
the run still finishes, then exits with errors.INFRA_FAILURES after naming how many, which,
why, and the commands that retry only those.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from atlas.config import AtlasConfig
from atlas.image_store import fix_command
from atlas.records import Status

SHOWN = 20


def retry_lines(run_path: Path, failures: dict[str, str], config: AtlasConfig, overrides: list[str]) -> list[str]:
    """Console lines for one run's infrastructure failures (`failures`: instance id -> status or outcome)."""
    ids = sorted(failures)
    shown = ", ".join(f"{i} ({failures[i]})" for i in ids[:SHOWN]) + (", ..." if len(ids) > SHOWN else "")
    lines = [f"{len(ids)} instance(s) of {run_path} ended in an infrastructure failure, not scored: {shown}"]
    missing = [i for i in ids if failures[i] == Status.IMAGE_MISSING.value]
    if missing:
        lines.append(f"  get the missing image(s): {fix_command(config.dataset, missing, config.env.images)}")
    if any(failures[i] != "eval_error" for i in ids):
        kept = [o for o in overrides if not o.startswith("run.rerun_errors=")]
        lines.append("  re-run only those: atlas run " + " ".join(shlex.quote(o) for o in [*kept, "run.rerun_errors=true"]))
    if any(failures[i] == "eval_error" for i in ids):
        lines.append(f"  the harness could not grade some: see {run_path}/evaluation/logs, then `atlas evaluate {run_path}`")
    return lines
