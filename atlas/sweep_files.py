"""What a `-m` sweep puts on disk outside its members' run directories, kept free of secrets.

Two things: each member's folder name (`hydra.sweep.subdir`, through the `atlas_dirname` resolver)
and Hydra's `multirun.yaml` in the sweep folder.

A member folder is named after its overrides, as Hydra's `override_dirname` would be (same keys
left out, same order), with three differences: a value that holds a secret (a secret-named key,
credentials in a URL, a value learned as secret) is left out and only its key is kept, followed by
the member's index (`job<N>`) so that members differing only in a secret stay apart; slashes become
underscores; and a name longer than a file name may be (255 bytes) is cut and ends with a short hash
of the whole name. Re-running the same command gives the same names, so every member resumes.

Hydra writes `multirun.yaml` (the sweep's whole config, overrides included) before the first member
starts; `MaskSweepConfig` rewrites it through the one redaction when each member starts.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterable

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from atlas.redaction import URL_CREDENTIALS, is_secret_key, redact, redact_text

NAME_BYTES = 255  # the longest file name Linux file systems take
HASH_CHARS = 8


def _holds_secret(key: str, value: str) -> bool:
    return is_secret_key(key) or bool(URL_CREDENTIALS.search(value)) or redact_text(value) != value


def _fit(name: str) -> str:
    """`name` itself when it fits a file name, else its start, `-`, and a hash of all of it."""
    if len(name.encode()) <= NAME_BYTES:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:HASH_CHARS]
    head = name.encode()[:NAME_BYTES - HASH_CHARS - 1].decode(errors="ignore")
    return f"{head}-{digest}"


def member_dirname(overrides: Iterable[str], exclude_keys: Iterable[str] = (), index: Any = 0) -> str:
    """A sweep member's folder: its overrides without secret values, one path segment within 255 bytes."""
    parsed = OverridesParser.create().parse_overrides([str(o) for o in overrides])
    excluded = {str(k) for k in exclude_keys}
    items, hidden = [], False
    for override in sorted(parsed, key=lambda o: o.input_line or ""):
        if override.key_or_group in excluded:
            continue
        key, _, value = (override.input_line or "").partition("=")
        if _holds_secret(override.key_or_group, value):
            items.append(key)
            hidden = True
        else:
            items.append(f"{key}={value}")
    if hidden:
        items.append(f"job{index}")
    name = ",".join(items).replace("/", "_").replace("\\", "_") or "default"
    return _fit(name)


def _as_list(value: Any) -> list:
    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else list(value or [])


def _dirname_resolver(overrides: Any, exclude_keys: Any = (), index: Any = 0) -> str:
    to_list = _as_list
    return member_dirname(to_list(overrides), to_list(exclude_keys), index)


OmegaConf.register_new_resolver("atlas_dirname", _dirname_resolver, replace=True)


def mask_file(path: Path) -> None:
    """Rewrite a YAML file Hydra wrote with every secret masked (nothing if it is not there)."""
    if not path.is_file():
        return
    data = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    path.write_text(OmegaConf.to_yaml(OmegaConf.create(redact(data))), encoding="utf-8")


class MaskSweepConfig(Callback):
    """Masks the sweep folder's multirun.yaml, which Hydra writes just before the first member starts."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        mask_file(Path(str(config.hydra.sweep.dir)) / "multirun.yaml")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        mask_file(Path(str(config.hydra.sweep.dir)) / "multirun.yaml")
