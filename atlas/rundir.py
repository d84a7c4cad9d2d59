"""The on-disk layout of a run, and the atomic writes that make it resumable.

    runs/<name>/
        manifest.json           what this run is (see atlas.manifest)
        preds.jsonl             official-format predictions, one per finished instance
        instances/<id>/
            trajectory.jsonl    every message, command and output of the last attempt
            trajectory.attempt<N>.jsonl  earlier attempts that hit an infrastructure error
            patch.diff          what the container held at the end (git diff vs base)
            status.json         the final InstanceResult; its presence means "finished"
        evaluation/             the official harness's logs and reports

status.json and preds.jsonl are replaced atomically (write, fsync, rename), so a SIGKILL
at any moment leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

from atlas.errors import BadInput
from atlas.names import safe_join
from atlas.records import InstanceResult, Prediction
from atlas.redaction import redact_text

LOCK_FILE = ".atlas.lock"


class RunLocked(BadInput):
    """Another process is running this run directory."""


def atomic_write_text(path: Path, text: str, shapes: bool = True) -> None:
    """Replace `path` with `text`, secrets masked (atlas.redaction; patches pass shapes=False)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(redact_text(text, shapes=shapes))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class RunDir:
    def __init__(self, path: Path):
        self.path = path.resolve()
        self.instances = self.path / "instances"
        self.manifest = self.path / "manifest.json"
        self.predictions = self.path / "preds.jsonl"
        self.evaluation = self.path / "evaluation"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock for this process; a second `atlas run` on the same dir is refused."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / LOCK_FILE, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                raise RunLocked(f"{self.path} is in use by another atlas process ({fh.read().strip()})") from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}")
            fh.flush()
            yield

    def instance_dir(self, instance_id: str) -> Path:
        """The folder of one instance: only a safe name, never a path that leaves `instances/`."""
        return safe_join(self.instances, instance_id)

    def read_result(self, instance_id: str) -> InstanceResult | None:
        path = self.instance_dir(instance_id) / "status.json"
        if not path.is_file():
            return None
        return InstanceResult.model_validate_json(path.read_text())

    def write_result(self, result: InstanceResult, patch: str) -> None:
        """Patch first, status last: status.json is the commit point of an instance."""
        folder = self.instance_dir(result.instance_id)
        atomic_write_text(folder / "patch.diff", patch, shapes=False)
        atomic_write_text(folder / "status.json", result.model_dump_json(indent=2) + "\n")

    def results(self, instance_ids: list[str]) -> dict[str, InstanceResult]:
        found = {}
        for instance_id in instance_ids:
            result = self.read_result(instance_id)
            if result is not None:
                found[instance_id] = result
        return found

    def prepare_attempt(self, instance_id: str, attempt: int) -> Path:
        """Where this attempt's trajectory goes; an unfinished earlier try is discarded."""
        folder = self.instance_dir(instance_id)
        folder.mkdir(parents=True, exist_ok=True)
        current = folder / "trajectory.jsonl"
        if attempt == 1:
            for stale in folder.glob("trajectory*.jsonl"):
                stale.unlink()
        elif current.exists():
            current.rename(folder / f"trajectory.attempt{attempt - 1}.jsonl")
        return current

    def finished_ids(self) -> list[str]:
        if not self.instances.is_dir():
            return []
        return sorted(d.name for d in self.instances.iterdir() if (d / "status.json").is_file())

    def _prediction_line(self, model_name: str, result: InstanceResult) -> str:
        folder = self.instance_dir(result.instance_id)
        patch = (folder / "patch.diff").read_text() if result.submitted_patch else ""
        pred = Prediction(instance_id=result.instance_id, model_name_or_path=model_name, model_patch=patch)
        return json.dumps(pred.model_dump(), ensure_ascii=False) + "\n"

    def write_predictions(self, model_name: str, exclude: set[str] = frozenset()) -> int:
        """Rebuild preds.jsonl from every finished instance not in `exclude`: one line each, no duplicate."""
        results = self.results([i for i in self.finished_ids() if i not in exclude])
        atomic_write_text(self.predictions, "".join(self._prediction_line(model_name, r) for r in results.values()),
                          shapes=False)
        return len(results)

    def append_prediction(self, model_name: str, result: InstanceResult) -> None:
        """O(1) per finished instance; a line torn by a kill is repaired by the next rebuild."""
        with open(self.predictions, "a", encoding="utf-8") as fh:
            fh.write(redact_text(self._prediction_line(model_name, result), shapes=False))
            fh.flush()
            os.fsync(fh.fileno())
