"""Best-of-k under a budget: k attempts at an instance, then one patch chosen without the hidden tests.

An arm `run.best_of.k=3 run.best_of.budget.usd=0.50` can be set against a single attempt of
another model at the same dollars, GPU-seconds or wall clock per instance. Attempts stop when
the next one would exceed a cap, judged by the dearest attempt so far (the first always runs);
the wall-clock cap is also each attempt's deadline, so it is never exceeded, and the dollars
left are each attempt's `agent.cost_limit`, which the scaffold checks before every model call. Selection
uses only what a user has without the benchmark's hidden tests:

* `vote`: majority over normalized patches (whitespace, hunk headers and git index lines do
  not split votes); empty patches vote only when every attempt is empty; ties go to the
  earliest attempt.
* `tests`: the repository's own tests (`best_of.test_command`) run on each distinct patch in
  a fresh container; the vote decides among those that pass (or among all, if none does).
* `agent_tests`: the test files the attempts wrote (new files matching `best_of.test_glob`)
  run against each distinct patch; the patch passing the most wins, the vote breaks ties.

Each attempt's files live in `instances/<id>/candidates/c<j>/`; `best_of.json` there records
the spend, the caps, why attempts stopped and how the patch was chosen.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Protocol

from unidiff import PatchSet

from atlas.config import BestOfSettings, BudgetSettings
from atlas.records import InstanceResult
from atlas.rundir import atomic_write_text

CANDIDATES_DIR = "candidates"
SELECTION_FILE = "best_of.json"
TEST_TIMEOUT = 600  # seconds for one selection test command


class Executes(Protocol):
    def execute(self, command: str, timeout: float) -> Any: ...


@dataclass
class Candidate:
    index: int
    result: InstanceResult
    patch: str
    seconds: float

    @property
    def key(self) -> str:
        return normalize_patch(self.patch)


def normalize_patch(patch: str) -> str:
    """The changed lines per file, whitespace-trimmed: what two patches must share to be 'the same fix'."""
    kept = []
    for line in patch.splitlines():
        if line.startswith(("diff --git", "index ", "@@", "similarity", "old mode", "new mode")):
            continue
        if line.startswith(("+++", "---")):
            kept.append(line.split("\t")[0].rstrip())
        elif line.startswith(("+", "-")) and line[1:].strip():
            kept.append(line[0] + re.sub(r"\s+", " ", line[1:].strip()))
    return "\n".join(kept)


@dataclass
class Budget:
    """Spend of every attempt so far against the caps (None = uncapped)."""

    caps: BudgetSettings
    spent: dict[str, float] = field(default_factory=lambda: {"usd": 0.0, "gpu_seconds": 0.0, "wall_seconds": 0.0})
    dearest: dict[str, float] = field(default_factory=lambda: {"usd": 0.0, "gpu_seconds": 0.0, "wall_seconds": 0.0})

    def add(self, candidate: Candidate) -> None:
        cost = {"usd": candidate.result.cost_usd, "gpu_seconds": candidate.result.model_seconds,
                "wall_seconds": candidate.seconds}
        for key, value in cost.items():
            self.spent[key] += value
            self.dearest[key] = max(self.dearest[key], value)

    def refusal(self) -> str | None:
        """Why the next attempt may not start, or None: spent + the dearest attempt so far would pass a cap."""
        for key, cap in self.caps.model_dump().items():
            if cap is not None and self.spent[key] + self.dearest[key] > cap:
                return (f"budget: another attempt would exceed {key}={cap:g} "
                        f"(spent {self.spent[key]:.4g}, dearest attempt {self.dearest[key]:.4g})")
        return None

    def left(self, key: str) -> float | None:
        cap = getattr(self.caps, key)
        return None if cap is None else cap - self.spent[key]


def vote(candidates: list[Candidate]) -> tuple[Candidate, dict[str, int]]:
    """The candidate whose normalized patch most attempts share (earliest on a tie); counts by candidate index."""
    pool = [c for c in candidates if c.key] or candidates
    counts = Counter(c.key for c in pool)
    best = max(pool, key=lambda c: (counts[c.key], -c.index))
    return best, {f"c{c.index}": counts[c.key] for c in pool}


def added_test_files(patch: str, pattern: str) -> dict[str, str]:
    """New files of `patch` whose name matches `pattern`: path -> content."""
    files = {}
    try:
        parsed = PatchSet(patch)
    except Exception:  # an unparsable patch contributes no tests
        return files
    for patched in parsed:
        if patched.is_added_file and fnmatch.fnmatch(Path(patched.path).name, pattern):
            files[patched.path] = "".join(line.value for hunk in patched for line in hunk if line.is_added)
    return files


def _passes(env: Executes, command: str) -> bool:
    return env.execute(command, timeout=TEST_TIMEOUT).exit_code == 0


def _apply(env: Executes, patch: str) -> bool:
    if not patch.strip():
        return True
    quoted = shlex.quote(patch if patch.endswith("\n") else patch + "\n")
    return _passes(env, f"printf %s {quoted} > /tmp/atlas_candidate.diff && git apply /tmp/atlas_candidate.diff")


def test_scores(distinct: list[Candidate], settings: BestOfSettings, open_env: Callable[[], ContextManager]) -> dict[int, int]:
    """Per distinct candidate: 1/0 (repo tests pass) or the number of agent-written test files that pass."""
    tests: dict[str, str] = {}
    if settings.select == "agent_tests":
        for candidate in distinct:
            tests.update(added_test_files(candidate.patch, settings.test_glob))
    scores = {}
    for candidate in distinct:
        with open_env() as env:
            if not _apply(env, candidate.patch):
                scores[candidate.index] = -1
                continue
            if settings.select == "tests":
                scores[candidate.index] = int(_passes(env, settings.test_command))
                continue
            passed = 0
            for path, text in tests.items():
                write = f"mkdir -p {shlex.quote(str(Path(path).parent))} && printf %s {shlex.quote(text)} > {shlex.quote(path)}"
                passed += _passes(env, write) and _passes(env, f"python -m pytest -q -x {shlex.quote(path)}")
            scores[candidate.index] = passed
    return scores


def select(candidates: list[Candidate], settings: BestOfSettings,
           open_env: Callable[[], ContextManager]) -> tuple[Candidate, dict[str, Any]]:
    """The chosen candidate and how it was chosen."""
    _, votes = vote(candidates)
    how: dict[str, Any] = {"method": settings.select, "votes": votes}
    if settings.select == "vote" or len({c.key for c in candidates}) < 2:
        chosen, _ = vote(candidates)
        return chosen, how
    distinct = list({c.key: c for c in reversed(candidates)}.values())  # earliest of each patch
    scores = test_scores(distinct, settings, open_env)
    top = max(scores.values())
    keys = {c.key for c in distinct if scores[c.index] == top}
    chosen, _ = vote([c for c in candidates if c.key in keys])
    how["test_scores"] = {f"c{i}": s for i, s in scores.items()}
    return chosen, how


def solve_best_of(
    instance_dir: Path, settings: BestOfSettings, timeout: float, cancelled: Callable[[], bool],
    attempt: Callable[[int, float, float | None], tuple[InstanceResult, str]], open_env: Callable[[], ContextManager],
) -> tuple[InstanceResult, str]:
    """Up to k attempts within the budget, then the selection; the instance's result carries the total spend.

    `attempt(j, seconds, dollars)` runs attempt j (1-based) within that wall clock and those dollars (None: no
    dollar cap) and returns its result and patch; it writes its own files under `instance_dir/candidates/c<j>/`.
    """
    budget, candidates, stopped = Budget(settings.budget), [], f"all {settings.k} attempts ran"
    for j in range(1, settings.k + 1):
        refusal = budget.refusal() if candidates else None
        if refusal:
            stopped = refusal
            break
        if cancelled():
            break
        left = budget.left("wall_seconds")
        t0 = time.monotonic()
        result, patch = attempt(j, timeout if left is None else max(1.0, min(timeout, left)), budget.left("usd"))
        candidates.append(Candidate(j, result, patch, time.monotonic() - t0))
        budget.add(candidates[-1])
        if result.status.is_infra_error:
            stopped = f"attempt {j} ended in {result.status.value}"
            break
    chosen, how = select(candidates, settings, open_env)
    total = chosen.result.model_copy(deep=True)
    total.cost_usd = budget.spent["usd"]
    total.model_seconds = budget.spent["gpu_seconds"]
    total.usage = sum((c.result.usage for c in candidates[1:]), candidates[0].result.usage.model_copy())
    record = {"k": settings.k, "attempts": len(candidates), "selected": f"c{chosen.index}", "stopped": stopped,
              "caps": settings.budget.model_dump(), "spent": budget.spent, **how,
              "candidates": [{"index": c.index, "status": c.result.status.value, "cost_usd": c.result.cost_usd,
                              "model_seconds": c.result.model_seconds, "wall_seconds": round(c.seconds, 3),
                              "patch_lines": c.patch.count("\n")} for c in candidates]}
    atomic_write_text(instance_dir / SELECTION_FILE, json.dumps(record, indent=2) + "\n")
    total.best_of = {k: record[k] for k in ("attempts", "selected", "stopped", "spent")}
    return total, chosen.patch
