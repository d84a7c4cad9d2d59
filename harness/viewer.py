"""The trajectory viewer: one page per instance of a run, linked from the reports' per-instance table.

A page shows how the instance ended, each step of the trajectory (the model's thought, the
command it ran and the output it saw, and any other event), and the final patch beside
the dataset's gold patch. A best-of instance shows its selected attempt and how it was chosen.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from atlas.best_of import CANDIDATES_DIR, SELECTION_FILE
from atlas.config import DatasetConfig
from atlas.datasets import load_instances
from atlas.harness.html import trajectory_page
from atlas.harness.report_load import Side
from atlas.harness.table import TableData
from atlas.harness.tables import INSTANCE_FIELDS
from atlas.rundir import atomic_write_text

VIEWER_DIR = "viewer"
TRAJECTORY = "trajectory.jsonl"


def read_lines(path: Path) -> list[dict[str, Any]]:
    """A trajectory's complete lines; a torn last line (a killed run) ends the list."""
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return entries


def gold_patches(manifest: dict[str, Any]) -> tuple[dict[str, str], str]:
    """The dataset's reference patch per instance, or ({}, why not)."""
    try:
        dataset = DatasetConfig.model_validate(manifest["config"]["dataset"])
        return {i.instance_id: i.patch for i in load_instances(dataset)}, ""
    except Exception as e:  # an offline or moved dataset must not stop the report: the page says why
        return {}, f"gold patch unavailable: the dataset could not be loaded ({type(e).__name__}: {e})"


def steps(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Trajectory lines as the page shows them: messages, actions, and other events with their details."""
    shown = []
    for entry in entries:
        kind = entry.get("kind")
        if kind == "message":
            role = entry.get("role", "?")
            # what the model is told after a command repeats its output: folded, the action shows it
            observation = role in ("user", "tool") and bool(shown) and shown[-1]["kind"] == "action"
            shown.append({"kind": "message", "role": role, "content": entry.get("content") or "",
                          "observation": observation})
        elif kind == "action":
            shown.append({"kind": "action", "step": entry.get("step"), "command": entry.get("command", ""),
                          "output": entry.get("output", ""), "exit_code": entry.get("exit_code"),
                          "timed_out": entry.get("timed_out"), "truncated": entry.get("truncated")})
        else:
            shown.append({"kind": kind or "?", "details": {k: v for k, v in entry.items() if k not in ("kind", "time")}})
    return shown


def _files(folder: Path) -> tuple[Path, dict[str, Any] | None]:
    """The trajectory to show (a best-of instance: its selected attempt's) and the best-of selection record."""
    selection_file = folder / SELECTION_FILE
    if selection_file.is_file():
        selection = json.loads(selection_file.read_text())
        return folder / CANDIDATES_DIR / selection["selected"] / TRAJECTORY, selection
    return folder / TRAJECTORY, None


def write_viewers(side: Side, out: Path, back: Path, gold: tuple[dict[str, str], str]) -> dict[str, Path]:
    """A page per instance of a run side into `out`; returns instance id -> page. `back` is the report page."""
    if side.folder is None:
        return {}
    pages = {}
    golds, gold_missing = gold
    for instance_id, row in sorted(side.rows.items()):
        folder = side.folder / "instances" / instance_id
        trajectory, selection = _files(folder)
        patch_file = folder / "patch.diff"
        facts = TableData("", ["instance", instance_id],
                          [[["run", side.label], ["repo", row.repo], *[[name, get(row)] for name, get in INSTANCE_FIELDS],
                            ["grading outcome", row.outcome]]], css="card")
        page = out / f"{instance_id}.html"
        atomic_write_text(page, trajectory_page(
            f"{side.label}: {instance_id}", os.path.relpath(back, out), facts,
            steps(read_lines(trajectory)) if trajectory.is_file() else [],
            patch_file.read_text() if patch_file.is_file() else "",
            golds.get(instance_id), gold_missing or f"no gold patch for {instance_id} in the dataset", selection))
        pages[instance_id] = page
    return pages


def hrefs(pages: dict[str, Path], page: Path) -> dict[str, str]:
    """Links from `page` to each viewer page, relative so a folder can be moved whole."""
    return {i: os.path.relpath(p, page.parent) for i, p in pages.items()}
