"""The methodology card: every recorded fact that decides whether two resolved rates are comparable.

A card is a list of `Item`s (section, name, value) built from a run's manifest.json and
results.json, or from a published result's metadata. An item the run did not record
keeps the value None and is written "not recorded", never left out. Items marked
`comparable` (dataset, split, harness version, scaffold, limits, attempts, container
limits) must agree between two results for their numbers to be compared;
`differences` lists those that do not, and those unknown on some side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

NOT_RECORDED = "not recorded"
_MISSING = object()


@dataclass
class Item:
    """One line of the card; `value` None means the run did not record it."""

    section: str
    name: str
    value: str | None
    comparable: bool = False  # differing values make two results not comparable

    @property
    def text(self) -> str:
        return NOT_RECORDED if self.value is None else self.value


def lookup(data: Any, dotted: str) -> Any:
    """data['a']['b'] for 'a.b', or _MISSING where any key along the way is absent."""
    for key in dotted.split("."):
        if not isinstance(data, dict) or key not in data:
            return _MISSING
        data = data[key]
    return data


def show(value: Any) -> str | None:
    """A recorded value as text; None (not recorded) for an absent one, and an explicit note for null."""
    if value is _MISSING:
        return None
    if value is None:
        return "null (left to the default of the server or library)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return " ".join(str(v) for v in value) if all(isinstance(v, (str, int, float)) for v in value) else json.dumps(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={show(v)}" for k, v in value.items()) or "{}"
    return str(value)


def first(data: dict, *paths: str) -> Any:
    """The first of `paths` present in `data`, else _MISSING."""
    for path in paths:
        value = lookup(data, path)
        if value is not _MISSING:
            return value
    return _MISSING


def _subset(run: Any) -> str | None:
    """Whether the run's instance selection (ids, regex, slice) took a subset of the split."""
    if not isinstance(run, dict):
        return None
    chosen = {k: run.get(k) for k in ("instance_ids", "instance_regex", "slice") if run.get(k)}
    if not chosen:
        return "no: every instance of the split"
    return "yes: " + ", ".join(f"run.{k}={show(v)}" for k, v in chosen.items())


def _harness(harness: dict | None, manifest: dict) -> str | None:
    if harness:
        return f"{harness.get('package', 'swebench')} {harness.get('version', '?')}"
    installed = lookup(manifest, "sessions")
    if isinstance(installed, list) and installed:
        return f"not graded (swebench {installed[-1].get('versions', {}).get('swebench', '?')} installed)"
    return None


def _retries(limits: dict) -> str | None:
    retries = limits.get("retries")
    if retries is None:
        return None
    return (f"run.retries={retries}: one agent attempt per instance (pass@1); up to {retries + 1} tries "
            "only when the environment or model fails")


def _attempts(attempts: list[int]) -> str | None:
    if not attempts:
        return None
    retried = sum(a > 1 for a in attempts)
    return f"most {max(attempts)}; {retried} of {len(attempts)} finished instance(s) needed more than one try"


def _distinct(sessions: list[dict], path: str) -> str | None:
    """The values a field took over the sessions, in order, e.g. '0.1.0' or '0.1.0 -> 0.2.0'."""
    values: list[str] = []
    for session in sessions:
        value = show(lookup(session, path))
        if value is not None and (not values or values[-1] != value):
            values.append(value)
    return " -> ".join(values) or None


def _source(sessions: list[dict]) -> str | None:
    revisions = []
    for session in sessions:
        source = lookup(session, "versions.source")
        if isinstance(source, dict) and source.get("commit"):
            revisions.append(source["commit"][:12] + (" (uncommitted changes)" if source.get("dirty") else ""))
    return " -> ".join(dict.fromkeys(revisions)) or None


def _server(model: dict) -> str | None:
    argv = lookup(model, "managed_server.argv")
    if argv is not _MISSING:
        return "managed by ATLAS: " + show(argv)
    if model.get("base_url"):
        return f"attached to {model['base_url']}"
    return None


def _cost_limit(value: Any) -> str | None:
    return "none (0)" if value in (0, 0.0) else show(value)


def _mini(agent: dict) -> str | None:
    """The mini-swe-agent protocol version (major.minor: what changes prompts and rules) of agent=mini;
    'none' for another scaffold, so that comparing two of those does not flag it as unknown."""
    version = lookup(agent, "mini_swe_agent.version")
    if version is _MISSING:
        name = lookup(agent, "name")
        return None if name is _MISSING else f"none (scaffold {name})"
    return ".".join(str(version).lstrip("v").split(".")[:2])


def _config_changes(manifest: dict) -> str:
    changes = manifest.get("config_changes") or []
    if not changes:
        return "none"
    return "; ".join(f"{c.get('at', '?')}: {', '.join(c.get('keys', []))}" for c in changes)


def run_card(manifest: dict, harness: dict | None, attempts: list[int]) -> list[Item]:
    """The card of a run directory: manifest.json, the harness record of results.json, observed attempts."""
    dataset, config, limits = manifest.get("dataset", {}), manifest.get("config", {}), manifest.get("limits", {})
    model = {**config.get("model", {}), **manifest.get("model", {})}
    agent = manifest.get("agent") or config.get("agent", {})
    sessions = manifest.get("sessions", [])
    host = manifest.get("host", {})
    started = [s["started_at"] for s in sessions if s.get("started_at")]
    finished = [s["finished_at"] for s in sessions if s.get("finished_at")]
    b, m, s, lim, hw, sw = "Benchmark", "Model", "Scaffold", "Limits", "Hardware", "Software and dates"
    return [
        Item(b, "dataset", show(lookup(dataset, "name")), True),
        Item(b, "source", show(lookup(dataset, "source")), True),
        Item(b, "path", show(lookup(dataset, "path")), True),
        Item(b, "resolved path", show(lookup(dataset, "resolved_path"))),
        Item(b, "split", show(lookup(dataset, "split")), True),
        Item(b, "instances", show(lookup(dataset, "instance_count"))),
        Item(b, "subset of the split", _subset(config.get("run"))),
        Item(b, "grading harness", _harness(harness, manifest), True),
        Item(b, "harness run id", show(lookup(harness or {}, "run_id"))),
        Item(b, "harness test timeout (s)", show(lookup(config, "harness.timeout"))),
        Item(m, "name", show(lookup(model, "name"))),
        Item(m, "backend", show(lookup(model, "backend"))),
        Item(m, "model id", show(lookup(model, "model"))),
        Item(m, "weights", show(lookup(model, "server.weights"))),
        Item(m, "quantization", show(lookup(model, "server.quantization"))),
        Item(m, "dtype", show(lookup(model, "server.dtype"))),
        Item(m, "KV cache dtype", show(lookup(model, "server.kv_cache_dtype"))),
        Item(m, "server", _server(model)),
        Item(m, "models the server listed", show(lookup(model, "server_models"))),
        Item(m, "temperature", show(lookup(model, "temperature"))),
        Item(m, "top_p", show(lookup(model, "top_p"))),
        Item(m, "max tokens per turn", show(lookup(model, "max_tokens"))),
        Item(m, "seed", show(lookup(model, "seed"))),
        Item(m, "thinking budget", show(lookup(model, "thinking_budget"))),
        Item(m, "context window", show(lookup(model, "context_window"))),
        Item(m, "server max model length", show(first(model, "server.max_model_len", "vram_plan.max_context"))),
        Item(m, "pricing", show(lookup(model, "pricing"))),
        Item(s, "scaffold", show(lookup(agent, "name")), True),
        Item(s, "prompt templates (sha256)", show(lookup(agent, "template_sha256")), True),
        Item(s, "mini-swe-agent (major.minor)", _mini(agent), True),
        Item(s, "mini-swe-agent version and config", show(lookup(agent, "mini_swe_agent"))),
        Item(s, "format error limit", show(lookup(agent, "format_error_limit")), True),
        Item(s, "command timeout (s)", show(lookup(agent, "command_timeout")), True),
        Item(s, "context budget (prompt tokens)", show(lookup(agent, "context_budget")), True),
        Item(s, "context policy", show(lookup(agent, "context_policy")), True),
        Item(s, "elide target", show(lookup(agent, "elide_target")), True),
        Item(lim, "step limit", show(lookup(limits, "step_limit")), True),
        Item(lim, "instance time limit (s)", show(lookup(limits, "instance_timeout_s")), True),
        Item(lim, "cost limit (USD per instance)", _cost_limit(lookup(agent, "cost_limit")), True),
        Item(lim, "attempts per instance", _retries(limits), True),
        Item(lim, "attempts observed", _attempts(attempts)),
        Item(lim, "container", show(lookup(limits, "env")), True),
        Item(hw, "host", show(lookup(host, "hostname"))),
        Item(hw, "platform", show(lookup(host, "platform"))),
        Item(hw, "CPUs", show(lookup(host, "cpus"))),
        Item(hw, "Docker server", show(lookup(host, "docker_server"))),
        Item(hw, "GPU (configured)", show(lookup(config, "gpu"))),
        Item(hw, "VRAM plan", show(lookup(model, "vram_plan"))),
        Item(sw, "ATLAS", _distinct(sessions, "versions.atlas")),
        Item(sw, "ATLAS source commit", _source(sessions)),
        Item(sw, "swebench installed", _distinct(sessions, "versions.swebench")),
        Item(sw, "Python", show(lookup(host, "python"))),
        Item(sw, "run created", show(lookup(manifest, "created_at"))),
        Item(sw, "sessions", str(len(sessions)) if sessions else None),
        Item(sw, "first session started", min(started) if started else None),
        Item(sw, "last session finished", max(finished) if finished else None),
        Item(sw, "settings changed on resume", _config_changes(manifest)),
    ]


PUBLISHED_KEYS = {"name": ("name", "info.name"), "site": ("site", "info.site"),
                  "open-source model": ("oss", "tags.os_model"), "verified by SWE-bench": ("verified", "tags.checked")}


def published_card(metadata: dict, source: str) -> list[Item]:
    """The card of a published result: what its metadata.yaml says (old flat keys or info/tags);
    every run-side fact a comparison needs is unknown."""
    published = [Item("Published result", name, show(first(metadata, *paths))) for name, paths in PUBLISHED_KEYS.items()]
    published.append(Item("Published result", "source", source))
    unknown = [Item(i.section, i.name, None, i.comparable) for i in run_card({}, None, []) if i.comparable]
    return published + unknown


def differences(cards: dict[str, list[Item]]) -> tuple[list[str], list[str]]:
    """(one line per `comparable` item whose recorded values differ, naming each side's value;
    one line per side that did not record some comparable items, naming them)."""
    differing = []
    names = [(i.section, i.name) for i in next(iter(cards.values()), []) if i.comparable]
    for key in names:
        values = {label: next((i.value for i in items if (i.section, i.name) == key), None)
                  for label, items in cards.items()}
        known = {label: v for label, v in values.items() if v is not None}
        if len(set(known.values())) > 1:
            differing.append(f"{key[0].lower()} / {key[1]} differs: " + "; ".join(f"{k}: {v}" for k, v in known.items()))
    unknown = []
    for label, items in cards.items():
        missing = [i.name for i in items if i.comparable and i.value is None]
        if missing and len(cards) > 1:
            unknown.append(f"{label}: not recorded, so not checked: {', '.join(missing)}")
    return differing, unknown


def card_markdown(title: str, items: list[Item]) -> str:
    """The card as Markdown: one section per heading, one bullet per item, every item present."""
    intro = (f"Written by `atlas report` from the run's manifest.json and results.json. "
             f'"{NOT_RECORDED}" marks what the run did not record.')
    lines = [f"# Methodology: {title}", "", intro]
    section = None
    for item in items:
        if item.section != section:
            section = item.section
            lines += ["", f"## {section}", ""]
        marker = " (must match to compare)" if item.comparable else ""
        lines.append(f"- **{item.name}**{marker}: {item.text}")
    return "\n".join(lines) + "\n"
