"""Hydra composition with errors a user can act on, and the checks that run before `atlas run` starts.

Hydra reports an override it cannot apply with its own message and exit code 1. Here the
same failures become ConfigErrors (exit 2) that name the key, list the keys valid at that
place and suggest the closest one; and a run directory that cannot be created or written is
reported by name before Hydra would fail on it with a traceback. A `-m` sweep is expanded
into its members (`sweep_members`) so each member gets the same checks as a single run.
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from atlas.config import CONF_DIR, ConfigError, did_you_mean

NOT_OVERRIDABLE = re.compile(r"Could not override '([^']+)'")


def _compose(overrides: list[str], hydra_config: bool = False) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=hydra_config)


def _explain_unknown(key: str, overrides: list[str]) -> str:
    """The keys valid where `key` was meant to go, and the closest of them."""
    parent, _, leaf = key.lstrip("+~").rpartition(".")
    others = [o for o in overrides if not o.lstrip("+~").startswith(f"{key.lstrip('+~')}=")]
    try:
        node = OmegaConf.select(_compose(others), parent) if parent else _compose(others)
    except (HydraException, OmegaConfBaseException):
        return ""
    if not isinstance(node, DictConfig):
        return ""
    valid = sorted(str(k) for k in node.keys())
    return f"{key}: unknown key{did_you_mean(leaf, valid)}; valid keys: {', '.join(valid)}"


def compose_config(overrides: list[str], hydra_config: bool = False) -> DictConfig:
    """The composed config tree, or a ConfigError that names the override at fault."""
    try:
        return _compose(overrides, hydra_config)
    except HydraException as e:
        message = str(e).split("\nConfig search path:")[0].strip()
        unknown = NOT_OVERRIDABLE.search(message)
        if unknown:
            explained = _explain_unknown(unknown.group(1), overrides)
            message = explained or message
        raise ConfigError(f"cannot apply the overrides: {message}") from None


def check_inside(path: Path, root: Path, keys: str) -> None:
    """Refuse a run (or sweep) folder that `run.name` / `run.sweep` would put outside `run.root`."""
    resolved, base = path.expanduser().resolve(), root.expanduser().resolve()
    if resolved == base or base not in resolved.parents:
        raise ConfigError(f"{keys} puts the run directory at {path}, outside run.root ({root}): name a folder "
                          "below run.root (no '..', not absolute), or set run.root itself")


def check_writable(path: Path) -> None:
    """Refuse, by name, a run directory that could not be created or written (nothing is created here)."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing == path and not path.is_dir():
        raise ConfigError(f"the run directory {path} exists and is not a directory; set run.root or run.name elsewhere")
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        why = "is not a directory" if not existing.is_dir() else "is not writable"
        raise ConfigError(f"cannot create or write the run directory {path}: {existing} {why}; "
                          "set run.root (or run.name) to a writable place, e.g. run.root=/tmp/atlas-runs")


def run_root_of(cfg: DictConfig) -> Path:
    """run.root as composed (the folder every run and sweep directory must stay below)."""
    return Path(str(OmegaConf.select(cfg, "run.root")))


def run_dir_of(cfg: DictConfig) -> Path:
    """Where Hydra will put a single run (hydra.run.dir, resolved)."""
    try:
        return Path(str(OmegaConf.select(cfg, "hydra.run.dir", throw_on_missing=True)))
    except OmegaConfBaseException as e:
        raise ConfigError(f"cannot resolve the run directory (hydra.run.dir): {e}") from None


def sweep_members(overrides: list[str]) -> list[list[str]]:
    """The overrides of every member of a `-m` sweep (the cartesian product, as Hydra's basic sweeper runs them)."""
    # the config loader lets glob(...) list a group's options, as Hydra's own sweeper does
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(CONF_DIR)))
    try:
        parsed = OverridesParser.create(config_loader=loader).parse_overrides(overrides)
    except HydraException as e:
        raise ConfigError(f"cannot parse the overrides: {str(e).strip()}") from None
    choices = []
    for override in parsed:
        if not override.is_sweep_override():
            choices.append([override.input_line])
            continue
        key = override.get_key_element()
        try:
            choices.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        except HydraException as e:  # e.g. interval(): a sweep the basic sweeper cannot run either
            raise ConfigError(f"cannot expand the sweep {override.input_line!r}: {str(e).strip()}") from None
    return [list(member) for member in itertools.product(*choices)]


def sweep_dir_of(cfg: DictConfig) -> Path:
    """Where Hydra will put a sweep's members (hydra.sweep.dir, resolved)."""
    try:
        return Path(str(OmegaConf.select(cfg, "hydra.sweep.dir", throw_on_missing=True)))
    except OmegaConfBaseException as e:
        raise ConfigError(f"cannot resolve the sweep directory (hydra.sweep.dir): {e}") from None
