"""Load SWE-bench instances from HuggingFace, a local file, or a swebench task repo.

Every row is validated into an `Instance`; a malformed row stops the run with an
error naming the instance and the field, before any container starts. The names a row
gives are checked against safe shapes (atlas.names): an `instance_id` that is one path
segment, a `repo` that is `owner/name`, commit ids that are hexadecimal, since they become
folders of the run directory and arguments of git inside the container.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, field_validator

from atlas.config import DatasetConfig, RunSettings, parse_slice
from atlas.dataset_convert import complete_on_load
from atlas.errors import DatasetError
from atlas.names import check_commit, check_name, check_repo

BUNDLED_TASKS = Path(__file__).resolve().parent / "sample_tasks"
# real SWE-bench rows shipped with ATLAS (their stand-in images: `atlas images build --dataset bundled-real`)
BUNDLED_REAL = Path(__file__).resolve().parent / "standins" / "instances.jsonl"


class Instance(BaseModel):
    """One task: what the agent sees and what the environment needs."""

    model_config = ConfigDict(extra="ignore")

    instance_id: str
    repo: str
    base_commit: str
    problem_statement: str
    version: str = ""
    patch: str = ""
    test_patch: str = ""
    hints_text: str = ""
    created_at: str = ""
    image: str = ""
    difficulty: str = ""
    environment_setup_commit: str = ""
    FAIL_TO_PASS: list[str] = []
    PASS_TO_PASS: list[str] = []
    # the row as loaded, every column kept: grading needs columns the agent never reads
    _row: dict = PrivateAttr(default_factory=dict)
    # columns completed on load (atlas.dataset_convert), or why the row could not be completed
    _derived: list[str] = PrivateAttr(default_factory=list)
    _incomplete: str = PrivateAttr(default="")
    # the revision of the dataset the row came from: a HuggingFace commit, or the file's sha256
    _revision: str | None = PrivateAttr(default=None)

    @property
    def row(self) -> dict:
        return self._row

    @property
    def derived(self) -> list[str]:
        return self._derived

    @property
    def incomplete(self) -> str:
        return self._incomplete

    @property
    def revision(self) -> str | None:
        return self._revision

    @field_validator("FAIL_TO_PASS", "PASS_TO_PASS", mode="before")
    @classmethod
    def _json_list(cls, value: Any) -> Any:
        # HuggingFace rows carry these as JSON-encoded strings, task repos as lists
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as e:
                raise ValueError(f"is not a JSON list: {e}") from e
        return value

    @field_validator("instance_id", "repo", "base_commit", "problem_statement")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is empty")
        return value

    @field_validator("instance_id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        return check_name(value, "instance_id")

    @field_validator("repo")
    @classmethod
    def _owner_name(cls, value: str) -> str:
        return check_repo(value)

    @field_validator("base_commit")
    @classmethod
    def _commit(cls, value: str) -> str:
        return check_commit(value, "base_commit")

    @field_validator("environment_setup_commit")
    @classmethod
    def _optional_commit(cls, value: str) -> str:
        return value and check_commit(value, "environment_setup_commit")

    @field_validator("version", "patch", "test_patch", "hints_text", "created_at", "image", "difficulty",
                     "environment_setup_commit", mode="before")
    @classmethod
    def _optional_text(cls, value: Any) -> Any:
        # HuggingFace and parquet rows carry null for absent text, and numbers for versions
        return "" if value is None else str(value)

    def image_name(self) -> str:
        """The row's image, or the name the official harness derives for it."""
        if self.image:
            return self.image
        from swebench.task.checks import expected_image

        return expected_image(self.instance_id)


def resolve_path(config: DatasetConfig) -> str:
    if config.source == "task_repo" and config.path == "bundled":
        return str(BUNDLED_TASKS)
    if config.source == "file" and config.path == "bundled-real":
        return str(BUNDLED_REAL)
    if config.source in ("file", "task_repo"):
        return str(Path(config.path).expanduser().resolve())
    return config.path


def _validate_rows(rows: list[dict], origin: str) -> list[Instance]:
    instances, seen = [], set()
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DatasetError(f"{origin}: row {index} is a {type(row).__name__}, not an object")
        name = row.get("instance_id") or f"row {index}"
        try:
            instance = Instance.model_validate(row)
        except ValidationError as e:
            problems = "; ".join(
                f"field '{'.'.join(str(p) for p in err['loc'])}' {err['msg'][:1].lower() + err['msg'][1:]}" for err in e.errors()
            )
            raise DatasetError(f"{origin}: instance {name}: {problems}") from None
        instance._row = dict(row)
        if instance.instance_id in seen:
            raise DatasetError(f"{origin}: instance {name} appears twice")
        seen.add(instance.instance_id)
        instances.append(instance)
    return instances


def _read_json_file(path: str) -> list:
    text = Path(path).read_text(encoding="utf-8")
    if path.endswith(".jsonl"):
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise DatasetError(f"{path}: line {number} is not valid JSON: {e}") from None
        return rows
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(rows, list):
        raise DatasetError(f"{path} must hold a JSON list of rows, not a {type(rows).__name__}")
    return rows


def load_task_repo_rows(config: DatasetConfig) -> list[dict]:
    """A task repo's rows of the configured split, in the harness's column format."""
    from swebench.task.repo import load_task_repo

    path = resolve_path(config)
    try:
        rows = load_task_repo(path)
    except (FileNotFoundError, KeyError, json.JSONDecodeError) as e:
        raise DatasetError(f"task repo {path}: {e}") from e
    return [r for r in rows if r.get("split") == config.split]


def file_sha256(path: str) -> str:
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _hub_revision(dataset: Any) -> str | None:
    """The HuggingFace commit a hub dataset was read at: the 40-hex folder of its cache files, where present."""
    for cache in getattr(dataset, "cache_files", None) or []:
        for part in Path(cache.get("filename", "")).parts:
            if re.fullmatch(r"[0-9a-f]{40}", part):
                return part
    return None


def _read_rows(config: DatasetConfig, path: str) -> tuple[list, str | None]:
    """The rows, and the dataset's revision where known (a file's sha256, a hub dataset's commit)."""
    if config.source == "task_repo":
        return load_task_repo_rows(config), None
    if config.source == "file":
        if not Path(path).is_file():
            raise DatasetError(f"dataset file {path} does not exist")
        if not path.endswith((".json", ".jsonl", ".parquet")):
            raise DatasetError(f"dataset file {path} must end in .json, .jsonl or .parquet")
        if not path.endswith(".parquet"):
            return _read_json_file(path), file_sha256(path)
    from swebench.harness.utils import load_swebench_dataset

    try:
        dataset = load_swebench_dataset(path, config.split)
        local = Path(path) if Path(path).is_file() else Path(path) / f"{config.split}.parquet"
        return [dict(r) for r in dataset], (file_sha256(str(local)) if local.is_file() else _hub_revision(dataset))
    except Exception as e:  # datasets raises many types for offline / unknown names
        raise DatasetError(
            f"could not load dataset {path!r} split {config.split!r}: {e}. "
            "For a HuggingFace dataset without network access, pre-download it "
            "(HF_DATASETS_OFFLINE=1 uses the local cache) or point dataset.path at a local file."
        ) from e


def load_instances(config: DatasetConfig) -> list[Instance]:
    """All rows of the configured dataset and split, validated, classic rows completed.

    A row without image / log_parser / eval_type / eval_script (older Verified copies, Lite, full
    SWE-bench exports) gets them as `atlas dataset convert` derives them; columns a row has are kept.
    A row that cannot be completed is kept as it is, with the reason (atlas.gradable refuses it).
    """
    path = resolve_path(config)
    rows, revision = _read_rows(config, path)
    if not rows:
        raise DatasetError(f"{path} has no instances in split {config.split!r}")
    instances = _validate_rows(rows, path)  # names checked before anything is derived from them
    completed, derived, failed = complete_on_load([i.row for i in instances])
    for instance, row in zip(instances, completed, strict=True):
        instance._row, instance._revision = row, revision
        instance._derived = derived.get(instance.instance_id, [])
        instance._incomplete = failed.get(instance.instance_id, "")
        instance.image = instance.image or row.get("image") or ""
    return instances


def select(instances: list[Instance], run: RunSettings) -> list[Instance]:
    """Apply run.instance_ids, then run.instance_regex, then run.slice."""
    chosen = instances
    if run.instance_ids:
        by_id = {i.instance_id: i for i in instances}
        unknown = [i for i in run.instance_ids if i not in by_id]
        if unknown:
            raise DatasetError(f"run.instance_ids names instances not in the dataset: {' '.join(unknown)}")
        wanted = set(run.instance_ids)
        chosen = [i for i in chosen if i.instance_id in wanted]
    if run.instance_regex:
        pattern = re.compile(run.instance_regex)
        chosen = [i for i in chosen if pattern.search(i.instance_id)]
    if run.slice:
        chosen = chosen[parse_slice(run.slice)]
    if not chosen:
        raise DatasetError("the instance selection (run.instance_ids / instance_regex / slice) matches nothing")
    return chosen
