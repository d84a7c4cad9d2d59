"""Published per-instance results to pair a run with: the SWE-bench leaderboard file, or the experiments repo.

`atlas compare RUN --published SOURCE:ENTRY` takes its other side from here:
- SOURCE a leaderboards.json (SWE-bench/swe-bench.github.io `data/leaderboards.json`: a
  local copy, an http(s) URL fetched when online, or `leaderboard` for the live file); ENTRY an entry's name or folder
  (a unique, case-insensitive part of it will do), optionally `board/` first
  (`bash-only/Claude 4.5 Sonnet`). The entry's `per_instance_details` list every
  instance it ran, resolved or not, so the pair is made on the instances both have.
- SOURCE a folder in the experiments-repo layout (results/results.json, metadata.yaml),
  ENTRY, if given, a path below it (`evaluation/verified/20250101_x`).

Every published side carries what its source says about how it was made (board, dataset,
mini-swe-agent version, protocol); `verdict` sets that against the run's own record, fact
by fact -- dataset and its revision, grading harness, scaffold and protocol version, step
limit -- and says in words what differs and what nobody recorded.
"""

from __future__ import annotations

import json
import re
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atlas.harness.methodology import Item, lookup, published_card, show
from atlas.harness.report_load import ReportError, Side, is_run_dir, load_published, published_results_file

# the dataset each leaderboard is scored on (path and split as ATLAS's dataset configs name them)
BOARD_DATASETS = {
    "bash-only": ("SWE-bench/SWE-bench_Verified", "test"),
    "verified": ("SWE-bench/SWE-bench_Verified", "test"),
    "lite": ("SWE-bench/SWE-bench_Lite", "test"),
    "test": ("SWE-bench/SWE-bench", "test"),
    "multimodal": ("SWE-bench/SWE-bench_Multimodal", "test"),
}
FETCH_TIMEOUT_S = 60
# `--published leaderboard:ENTRY`: the live file (needs network; pin a local copy for reproducible reports)
LEADERBOARD_URL = "https://raw.githubusercontent.com/SWE-bench/swe-bench.github.io/master/data/leaderboards.json"


def major_minor(version: Any) -> tuple[int, int] | None:
    """(major, minor) of '1.17.2' or 'v2.0.0'; None if there is none."""
    match = re.match(r"v?(\d+)\.(\d+)", str(version or ""))
    return (int(match[1]), int(match[2])) if match else None


def split_spec(spec: str) -> tuple[str, str]:
    """'SOURCE:ENTRY' -> (SOURCE, ENTRY); the colon of a URL's scheme is not a separator."""
    source, sep, entry = spec.rpartition(":")
    if not sep or entry.startswith("//") or not source:
        return spec, ""
    return source, entry


def read_leaderboard(source: str) -> dict[str, Any]:
    """A leaderboards.json from a path or an http(s) URL (`leaderboard`: the live file)."""
    if source == "leaderboard" and not Path(source).exists():
        source = LEADERBOARD_URL
    if source.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(source, timeout=FETCH_TIMEOUT_S) as response:  # noqa: S310 (URL given by the user)
                text = response.read().decode("utf-8")
        except OSError as e:
            raise ReportError(f"--published: could not fetch {source} ({e}); download it and pass the local "
                              "file instead") from None
    else:
        path = Path(source)
        if not path.is_file():
            raise ReportError(f"--published: {source} is not a file; pass a leaderboards.json, a URL to one, or an "
                              "experiments-repo results folder")
        text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ReportError(f"--published: {source} is not valid JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("leaderboards"), list):
        raise ReportError(f"--published: {source} has no 'leaderboards' list: is it SWE-bench/swe-bench.github.io's "
                          "data/leaderboards.json?")
    return data


def find_entry(data: dict[str, Any], query: str, source: str) -> tuple[str, dict[str, Any]]:
    """(board name, entry) for `query`: [board/]name-or-folder, exact match first, then a unique part of one."""
    board_query, _, name_query = query.rpartition("/") if "/" in query else ("", "", query)
    candidates = [(board["name"], entry) for board in data["leaderboards"] for entry in board.get("results", [])
                  if not board_query or board.get("name", "").lower() == board_query.lower()]
    needle = name_query.strip().lower()
    if not needle:
        raise ReportError(f"--published {source}: name an entry after the colon, e.g. {source}:'Claude 4.5 Sonnet'")
    exact = [c for c in candidates if needle in (str(c[1].get("name", "")).lower(), str(c[1].get("folder", "")).lower())]
    found = exact or [c for c in candidates if needle in str(c[1].get("name", "")).lower()
                      or needle in str(c[1].get("folder", "")).lower()]
    if len(found) == 1:
        return found[0]
    if not found:
        raise ReportError(f"--published {source}: no entry matches {query!r}"
                          + (f" on board {board_query!r}" if board_query else "")
                          + "; entries are named like " + "; ".join(f"{b}/{e.get('name')}" for b, e in candidates[:5]))
    names = "; ".join(f"{b}/{e.get('name')} ({e.get('folder')})" for b, e in found[:8])
    raise ReportError(f"--published {source}: {query!r} matches {len(found)} entries: {names}; "
                      "give more of the name, its folder, or board/name")


def entry_card(board: str, entry: dict[str, Any], source: str) -> list[Item]:
    """The methodology card of a leaderboard entry: what the file records, the rest unknown."""
    dataset = BOARD_DATASETS.get(board.lower())
    version = entry.get("mini-swe-agent_version")
    mini = major_minor(version)
    known = {("Benchmark", "path"): dataset[0] if dataset else None,
             ("Benchmark", "split"): dataset[1] if dataset else None,
             ("Scaffold", "scaffold"): "mini" if version else None,
             ("Scaffold", "mini-swe-agent (major.minor)"): f"{mini[0]}.{mini[1]}" if mini else None}
    card = [Item("Published result", "leaderboard", board),
            Item("Published result", "entry", show(entry.get("name"))),
            Item("Published result", "folder", show(entry.get("folder"))),
            Item("Published result", "published rate", f"{entry['resolved']}%" if "resolved" in entry else None),
            Item("Published result", "date", show(entry.get("date"))),
            Item("Published result", "mini-swe-agent version", show(version) if version else None),
            Item("Published result", "tags", show(entry.get("tags"))),
            Item("Published result", "source", source)]
    unknown = [i for i in published_card({}, source) if i.section != "Published result"]
    for item in unknown:
        item.value = known.get((item.section, item.name), item.value)
    return card + unknown


def leaderboard_side(source: str, query: str) -> Side:
    data = read_leaderboard(source)
    board, entry = find_entry(data, query, source)
    details = entry.get("per_instance_details")
    if not isinstance(details, dict) or not details:
        raise ReportError(f"--published {source}: {board}/{entry.get('name')} lists no per-instance results "
                          f"(only its rate, {entry.get('resolved')}%): nothing to pair. Use a later leaderboards.json, "
                          "or the experiments repo's results folder of that entry")
    listed = {iid: "resolved" if (v or {}).get("resolved") else "unresolved" for iid, v in details.items()}
    side = Side(str(entry.get("name") or entry.get("folder")), Path(source if "://" not in source else "."),
                "published", {}, entry_card(board, entry, source), published=listed, complete=True)
    return side


def published_side(spec: str) -> Side:
    """The side `--published SPEC` names: a leaderboard entry or an experiments-repo result."""
    source, entry = split_spec(spec)
    path = Path(source)
    if path.is_dir():
        folder = path / entry if entry else path
        if published_results_file(folder) is None or is_run_dir(folder):
            raise ReportError(f"--published {spec}: {folder} holds no results/results.json with a 'resolved' list")
        return load_published(folder)
    return leaderboard_side(source, entry)


# ---------------------------------------------------------------- the verdict


@dataclass
class Check:
    """One fact two results must share: `state` is same, differs or unknown; `words` says it for a reader."""

    fact: str
    state: str
    words: str


def _item(card: list[Item], section: str, name: str) -> str | None:
    return next((i.value for i in card if (i.section, i.name) == (section, name)), None)


def _check(fact: str, ours: str | None, theirs: str | None, run: str, other: str, why: str = "") -> Check:
    if ours is None or theirs is None:
        missing = " and ".join(label for label, value in ((run, ours), (other, theirs)) if value is None)
        return Check(fact, "unknown", f"{fact}: not recorded by {missing}, so not checked"
                     + (f" ({run}: {ours})" if ours else "") + (f" ({other}: {theirs})" if theirs else ""))
    if ours == theirs:
        return Check(fact, "same", f"{fact}: the same ({ours})")
    return Check(fact, "differs", f"{fact} differs: {run}: {ours}; {other}: {theirs}" + (f" -- {why}" if why else ""))


def verdict(run: Side, other: Side) -> tuple[str, list[Check]]:
    """('comparable' | 'not comparable' | 'comparable as far as recorded', the checks) for a run and a published side."""
    a, b = run.card, other.card
    run_mini = show(lookup(run.manifest, "agent.mini_swe_agent.version"))
    dataset_a = " ".join(v for v in (_item(a, "Benchmark", "path"), _item(a, "Benchmark", "split")) if v) or None
    dataset_b = " ".join(v for v in (_item(b, "Benchmark", "path"), _item(b, "Benchmark", "split")) if v) or None
    revision = show(lookup(run.manifest, "dataset.revision"))
    entry_version = _item(b, "Published result", "mini-swe-agent version")
    install = f"pip install mini-swe-agent=={entry_version}" if entry_version else "pip install mini-swe-agent==X.Y.Z"
    if (major_minor(entry_version) or (1, 0))[0] == 0:  # the board's earliest entries ran an unreleased 0.0.0
        install = f"(impossible exactly: {entry_version} is a pre-release, not on PyPI) install the closest release"
    checks = [
        _check("dataset and split", dataset_a, dataset_b, run.label, other.label),
        _check("dataset revision", revision, None, run.label, other.label),
        _check("grading harness", _item(a, "Benchmark", "grading harness"),
               _item(b, "Benchmark", "grading harness"), run.label, other.label),
        _check("scaffold", _item(a, "Scaffold", "scaffold"), _item(b, "Scaffold", "scaffold"), run.label, other.label,
               "a different scaffold alone moves a model by 15-20 points"),
        _check("mini-swe-agent version (major.minor)", _item(a, "Scaffold", "mini-swe-agent (major.minor)"),
               _item(b, "Scaffold", "mini-swe-agent (major.minor)"), run.label, other.label,
               "its prompts, action format and format-error rule changed between versions; to reproduce the "
               f"entry's protocol, {install} and run agent=mini again"),
        _check("step limit", _item(a, "Limits", "step limit"), _item(b, "Limits", "step limit"), run.label, other.label),
    ]
    if run_mini and entry_version:
        checks[4].words += f" (exact versions: {run.label}: {run_mini}; {other.label}: {entry_version})"
    states = {c.state for c in checks}
    overall = ("not comparable" if "differs" in states else
               "comparable as far as recorded" if "unknown" in states else "comparable")
    return overall, checks
