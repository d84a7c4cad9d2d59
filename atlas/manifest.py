"""manifest.json: everything a skeptic needs to know about a run, and the guard against drift.

The manifest records versions (ATLAS, swebench, Python, the ATLAS git commit), the
dataset and the exact instance ids, the model and its settings, the scaffold and the
sha256 of its prompt templates, limits, images, the host, and one entry per session
(each start or resume). Its `fingerprint` holds what changes results: the settings, and the
content (sha256) of every prompt template and of mini-swe-agent's config (`prompts.<file>`). A
resume whose fingerprint differs is refused (exit 2, naming each changed key and file) unless
`run.allow_config_change=true`.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from atlas import __version__
from atlas.config import AtlasConfig
from atlas.errors import BadInput
from atlas.redaction import redact
from atlas.rundir import RunDir, atomic_write_text

# keys that change how a run is carried out, but not what any instance's result is
NOT_RESULT_AFFECTING = (
    "run.name", "run.root", "run.sweep", "run.workers", "run.executor", "run.ray_address", "run.max_inflight_requests", "run.retries", "run.rerun_errors",
    "run.allow_config_change", "run.evaluate", "run.instance_ids", "run.instance_regex", "run.slice",
    "env.pull", "env.build_missing", "env.images.keep", "env.images.budget_gb", "env.images.pull_", "harness.",
    # copies of agent.* the planner reads (conf/config.yaml): a drift names the agent.* key itself
    "gpu.step_limit", "gpu.context_budget", "gpu.context_policy",
)


class ConfigDrift(BadInput):
    """Resuming with settings that would change results."""


def read_manifest(path: Path) -> dict[str, Any]:
    """A run's manifest.json, or a BadInput naming the file when it is missing or corrupt."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{path.parent} is not a run directory (no manifest.json)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadInput(f"{path} is not valid JSON ({e}); restore it, or start a new run with another run.name") from None
    if not isinstance(manifest, dict):
        raise BadInput(f"{path} holds no JSON object; restore it, or start a new run with another run.name")
    return manifest


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


PROMPTS = "prompts."  # fingerprint keys of prompt files: prompts.<file name> -> sha256 of its content


def prompt_hashes(scaffold: dict[str, Any] | None) -> dict[str, str]:
    """`prompts.<file>` -> sha256, from a scaffold's description (its templates, or mini-swe-agent's config)."""
    return {f"{PROMPTS}{name}": sha for name, sha in sorted(((scaffold or {}).get("template_sha256") or {}).items())}


def fingerprint(config: AtlasConfig, scaffold: dict[str, Any] | None = None) -> dict[str, Any]:
    """The flattened settings that change results (secrets redacted), and the hash of every prompt file."""
    flat = flatten(redact(config.model_dump(mode="json")))
    settings = {k: v for k, v in sorted(flat.items()) if not k.startswith(NOT_RESULT_AFFECTING)}
    return {**settings, **prompt_hashes(scaffold)}


def _recorded_fingerprint(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest's fingerprint; one written before prompts were part of it takes them from its scaffold."""
    recorded = dict(manifest.get("fingerprint", {}))
    if not any(k.startswith(PROMPTS) for k in recorded):
        recorded.update(prompt_hashes(manifest.get("agent")))
    return recorded


def _changed_file(key: str, scaffold: dict[str, Any] | None) -> str:
    """Where a changed prompt file is: the scaffold's template folder, or mini-swe-agent's config folder."""
    name = key.removeprefix(PROMPTS)
    if name.startswith("mini-swe-agent:"):
        return f"mini-swe-agent's config {name.split(':', 1)[1]} (minisweagent/config/)"
    folder = (scaffold or {}).get("templates")
    return str(Path(folder) / name) if folder else name


def drift(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    keys = sorted(set(recorded) | set(current))
    return [k for k in keys if recorded.get(k, "<unset>") != current.get(k, "<unset>")]


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def source_revision() -> dict[str, Any]:
    """The git commit of the ATLAS source in use, and whether it had local changes."""
    try:
        import git

        repo = git.Repo(Path(__file__).resolve().parent, search_parent_directories=True)
        return {"commit": repo.head.commit.hexsha, "dirty": repo.is_dirty(untracked_files=False)}
    except Exception:  # not a checkout (an installed wheel), or no commits yet
        return {"commit": None, "dirty": None}


def host_info(docker_version: str) -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "docker_server": docker_version,
    }


def versions() -> dict[str, Any]:
    return {
        "atlas": __version__,
        "swebench": _package_version("swebench"),
        "hydra-core": _package_version("hydra-core"),
        "docker-sdk": _package_version("docker"),
        "source": source_revision(),
    }


def check_drift(run_dir: RunDir, config: AtlasConfig, scaffold: dict[str, Any] | None = None) -> list[str]:
    """The result-affecting keys (settings, prompt files of `scaffold`'s description) that differ from the run's
    manifest; ConfigDrift, naming each key and changed file, unless run.allow_config_change."""
    if not run_dir.manifest.is_file():
        return []
    recorded = _recorded_fingerprint(read_manifest(run_dir.manifest))
    current = fingerprint(config, scaffold)
    if scaffold is None:  # settings only: the prompts are checked where the scaffold is known
        recorded = {k: v for k, v in recorded.items() if not k.startswith(PROMPTS)}
    changed = drift(recorded, current)
    if changed and not config.run.allow_config_change:
        lines = [f"  {k}: {recorded.get(k, '<unset>')!r} -> {current.get(k, '<unset>')!r}"
                 + (f" (file {_changed_file(k, scaffold)} changed)" if k.startswith(PROMPTS) else "") for k in changed]
        raise ConfigDrift(
            f"{run_dir.path} was started with different settings or prompts that change results:\n"
            + "\n".join(lines)
            + "\nRestore them, use a new run.name, or pass run.allow_config_change=true to resume anyway "
              "(recorded in the manifest)."
        )
    return changed


def open_manifest(run_dir: RunDir, config: AtlasConfig, details: dict[str, Any]) -> dict[str, Any]:
    """Create the manifest, or load it and refuse a drifting resume; record this session."""
    current = fingerprint(config, details.get("agent"))
    if run_dir.manifest.is_file():
        changed = check_drift(run_dir, config, details.get("agent"))
        manifest = read_manifest(run_dir.manifest)
        if changed:
            manifest.setdefault("config_changes", []).append({"at": now(), "keys": changed})
            manifest["fingerprint"] = current
    else:
        manifest = {"created_at": now(), "fingerprint": current, "sessions": []}
    manifest.update(details)
    manifest["config"] = redact(config.model_dump(mode="json"))
    manifest["sessions"].append({"started_at": now(), "argv": redact(sys.argv[1:]), "versions": versions()})
    write_manifest(run_dir, manifest)
    return manifest


def write_manifest(run_dir: RunDir, manifest: dict[str, Any]) -> None:
    """Every section, the model's description included, passes through the one redaction."""
    atomic_write_text(run_dir.manifest, json.dumps(redact(manifest), indent=2, default=str) + "\n")
