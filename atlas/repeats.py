"""Repeated runs: `run.repeats=k` runs every selected instance k times in one run directory.

With k > 1, repeat r (1..k) has a complete run layout of its own under `repeats/r<r>/`
(instances/, preds.jsonl, evaluation/, results.json): a finished repeat of an instance is
never redone on resume, each repeat is graded as its own predictions file (the official
harness grades one prediction per instance id), and the reports read every repeat of an
instance to estimate pass@k, pass^k and the run-to-run spread. The one manifest.json
stays at the top. With k = 1 the layout is the plain one, unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from atlas.rundir import RunDir

REPEATS_DIR = "repeats"


def repeat_label(repeat: int) -> str:
    return f"r{repeat}"


def repeat_dirs(run_dir: RunDir, repeats: int) -> list[RunDir]:
    """Where each repeat's instances, predictions and verdicts live, in repeat order."""
    if repeats <= 1:
        return [run_dir]
    return [RunDir(run_dir.path / REPEATS_DIR / repeat_label(r)) for r in range(1, repeats + 1)]


def repeats_of(manifest: dict[str, Any]) -> int:
    """How many repeats a run directory's manifest asked for (1 for runs made before repeats existed)."""
    return int(manifest.get("config", {}).get("run", {}).get("repeats") or 1)


def repeat_paths(path: Path, manifest: dict[str, Any]) -> list[Path]:
    return [d.path for d in repeat_dirs(RunDir(path), repeats_of(manifest))]
