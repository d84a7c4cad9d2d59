"""The validated shape of an `atlas run` configuration.

Hydra composes the config tree in `conf/`; this module checks the composed result
with pydantic, so a typo or a bad value stops the run before any container starts,
with a message that names the key. Model and agent sections allow extra keys: each
backend and scaffold validates its own parameters.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from atlas.errors import BadInput
from atlas.planner import GpuConfig
from atlas.redaction import learn_secrets

def _conf_dir() -> Path:
    """The Hydra tree: atlas/conf inside an installed wheel, conf/ beside atlas/ in a checkout."""
    here = Path(__file__).resolve().parent
    installed = here / "conf"
    return installed if (installed / "config.yaml").is_file() else here.parent / "conf"


CONF_DIR = _conf_dir()


class ConfigError(BadInput):
    """The configuration cannot be used; the message says which key and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetConfig(_Strict):
    """Where instances come from: a HuggingFace dataset, a local file, or a task repo."""

    name: str = Field(description="Short label used in run names and reports.")
    source: Literal["huggingface", "file", "task_repo"]
    path: str = Field(description="HF dataset id, file path, or task repo directory ('bundled' = sample tasks).")
    split: str = "test"


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    backend: str


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str


class ImagesConfig(_Strict):
    """Where instance images come from and how much disk they may keep (see atlas.image_store)."""

    namespace: str = Field("swebench", description="Registry and namespace images are pulled from.")
    pattern: str = Field("{namespace}/sweb.eval.{arch}.{id}:latest",
                         description="Pulled name; {namespace} {arch} {instance_id} {id} (official form: lower case, __ -> _1776_).")
    arch: str = "x86_64"
    keep: Literal["all", "none", "budget"] = Field("all", description="Instance images left after grading.")
    budget_gb: float = Field(100.0, gt=0, description="With keep=budget: GB of this run's instance images to keep.")
    pull_attempts: int = Field(6, ge=1, description="Tries per image when the registry rate-limits.")
    pull_backoff_s: float = Field(30.0, ge=0, description="First wait after a rate limit; doubles each try.")


class EnvConfig(_Strict):
    """Per-instance Docker container settings."""

    kind: Literal["docker"] = "docker"
    cpus: float = Field(2.0, gt=0)
    memory: str = "4g"
    pids_limit: int = Field(1024, gt=0)
    network: bool = False
    workdir: str = "/testbed"
    pull: Literal["missing", "never"] = "missing"
    build_missing: bool = True
    images: ImagesConfig = ImagesConfig()
    max_output_chars: int = Field(10_000, gt=100)


def default_grade_workers() -> int:
    """Gradings at once when `harness.workers` is null: half the CPU cores (tests are CPU-bound), 1 to 8."""
    return min(8, max(1, (os.cpu_count() or 2) // 2))


class HarnessConfig(_Strict):
    """Grading with the official swebench harness."""

    enabled: bool = True
    stream: bool = Field(True, description="Grade each instance as soon as its patch is final, beside the agents; "
                                           "false: grade the whole batch after the last agent.")
    workers: int = Field(default_factory=default_grade_workers, ge=1,
                         description="Gradings at once; null: half the CPU cores, 1 to 8.")
    timeout: int = Field(1800, gt=0)
    run_id: str = "atlas-grading"

    @field_validator("workers", mode="before")
    @classmethod
    def _workers_for_host(cls, value: Any) -> Any:
        return default_grade_workers() if value is None else value


class BudgetSettings(_Strict):
    """A cap per instance on what all best-of attempts together may spend; null = no cap."""

    usd: float | None = Field(None, gt=0)
    gpu_seconds: float | None = Field(None, gt=0, description="Model time of a local model (its GPU-seconds).")
    wall_seconds: float | None = Field(None, gt=0)


class BestOfSettings(_Strict):
    """k attempts per instance, then a selection that never looks at the hidden tests."""

    k: int = Field(1, ge=1, description="Attempts per instance (1 = the plain single attempt).")
    select: Literal["vote", "tests", "agent_tests"] = Field(
        "vote", description="vote: majority over normalized patches; tests: the repository's own tests "
                            "(best_of.test_command); agent_tests: tests the agent wrote (files matching best_of.test_glob).")
    test_command: str = Field("", description="Repository test command for select=tests, run in the container.")
    test_glob: str = Field("test_*.py", description="select=agent_tests: new files of the patch that are tests.")
    budget: BudgetSettings = BudgetSettings()


class RunSettings(_Strict):
    name: str
    root: str = "runs"
    sweep: str = "sweep"
    workers: int = Field(1, ge=1)
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = Field(None, description="Ray cluster to join (host:port); none starts a local one.")
    max_inflight_requests: int | None = Field(None, ge=1, description="Cap on concurrent model requests; none = workers.")
    instance_ids: list[str] = []
    instance_regex: str | None = None
    slice: str | None = Field(None, description="Python slice over the selected instances, e.g. ':5' or '10:20'.")
    timeout: int = Field(1800, gt=0, description="Wall-clock seconds per instance attempt.")
    retries: int = Field(1, ge=0, description="Extra attempts after an infrastructure error.")
    rerun_errors: bool = False
    allow_config_change: bool = False
    evaluate: bool = True
    repeats: int = Field(1, ge=1, description="Run every instance this many times (repeats/r1..rk); reports give pass@k.")
    best_of: BestOfSettings = BestOfSettings()

    @field_validator("instance_regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as e:
                raise ValueError(f"not a valid regular expression: {e}") from e
        return value

    @field_validator("slice", mode="before")
    @classmethod
    def _slice_as_text(cls, value: Any) -> Any:
        # `run.slice=5` reaches here as an int: Hydra types unquoted numbers
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("slice")
    @classmethod
    def _slice_parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_slice(value)
        return value


class AtlasConfig(_Strict):
    dataset: DatasetConfig
    gpu: GpuConfig = GpuConfig()
    model: ModelConfig
    agent: AgentConfig
    env: EnvConfig
    harness: HarnessConfig
    run: RunSettings

    @model_validator(mode="after")
    def _ray_needs_a_shared_server(self) -> "AtlasConfig":
        if self.run.executor == "ray" and self.model.backend == "vllm" and not getattr(self.model, "base_url", None):
            raise ValueError("run.executor=ray needs model.base_url: a model server every node can reach "
                             "(a managed vllm serve would start one per task)")
        return self

    @model_validator(mode="after")
    def _name_is_a_path_segment(self) -> "AtlasConfig":
        if not re.fullmatch(r"[A-Za-z0-9._=,+-]+", self.run.name):
            raise ValueError(f"run.name {self.run.name!r} may hold only letters, digits and . _ = , + -")
        return self


def parse_slice(text: str) -> slice:
    """'5' -> [:5], '2:8' -> [2:8], '::2' -> every other one."""
    parts = text.split(":")
    if len(parts) > 3 or not all(p.strip().lstrip("-").isdigit() or p.strip() == "" for p in parts):
        raise ValueError(f"slice {text!r} is not of the form start:stop[:step]")
    numbers = [int(p) if p.strip() else None for p in parts]
    if len(numbers) == 1:
        return slice(None, numbers[0])
    return slice(*numbers)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest of `choices`, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _schema_at(schema: type[BaseModel], path: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that holds the key at `path` (its parent), following nested sections."""
    for part in path:
        field = schema.model_fields.get(str(part)) if isinstance(part, str) else None
        if field is None:
            return None
        candidates = [field.annotation, *get_args(field.annotation)]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return None
        schema = nested[0]
    return schema


def _unknown_key(schema: type[BaseModel], loc: tuple[Any, ...], elsewhere: Callable[[], dict[str, set[str]]] | None) -> str:
    parent = _schema_at(schema, loc[:-1])
    if parent is None:
        return "unknown key"
    valid = sorted(parent.model_fields)
    hint = did_you_mean(str(loc[-1]), valid)
    if not hint and elsewhere is not None and len(loc) == 1:
        # a key of another variant of this section (e.g. `temperature` on a deterministic model)
        owners = {name: keys for name, keys in elsewhere().items() if did_you_mean(str(loc[-1]), keys)}
        if owners:
            word = did_you_mean(str(loc[-1]), set().union(*owners.values()))
            hint = f"{word[:-1]} it is a key of {', '.join(sorted(owners))} only)"
    return f"unknown key{hint}; valid keys: {', '.join(valid)}"


def validate_section(schema: type[BaseModel], raw: dict[str, Any], prefix: str = "",
                     elsewhere: Callable[[], dict[str, set[str]]] | None = None) -> Any:
    """Validate `raw` against `schema`; raise ConfigError naming each bad key (under `prefix`).

    An unknown key is refused with the valid keys of its section and the closest one; where
    no key is close, `elsewhere()` (variant name -> its keys) may name the variants that have one.
    """
    try:
        return schema.model_validate(raw)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            where = prefix + (".".join(str(p) for p in err["loc"]) or "<root>")
            message = _unknown_key(schema, err["loc"], elsewhere) if err["type"] == "extra_forbidden" else err["msg"]
            lines.append(f"  {where}: {message}")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from None


def validate(raw: dict[str, Any]) -> AtlasConfig:
    """Check a composed, resolved config; raise ConfigError naming each bad key.

    Its secrets are remembered, so that every file ATLAS writes masks them (atlas.redaction).
    """
    learn_secrets(raw)
    return validate_section(AtlasConfig, raw)
