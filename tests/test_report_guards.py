"""Reports and comparisons that must not mislead: an entry contradicting its own headline, endless id lists,
and a run where nothing was scored.

The leaderboard entries are the real excerpt (tests/fixtures/published), one of them with its headline
changed to contradict its per-instance results, as an entry on the live board did (52.8% stated,
per-instance data far lower).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from rich.console import Console

from atlas.config import DatasetConfig
from atlas.datasets import load_task_repo_rows
from atlas.errors import INFRA_FAILURES
from atlas.harness.commands import run_compare
from atlas.harness.compare import CONSOLE_IDS, compare
from tests.conftest import atlas
from tests.test_published import EXCERPT, write_run

QWEN = "Qwen2.5-Coder 32B Instruct"  # 45 of its 500 listed instances resolved: 9.0%


def contradicting_leaderboard(folder: Path, headline: float = 52.8) -> Path:
    data = json.loads(EXCERPT.read_text())
    entry = next(e for e in data["leaderboards"][0]["results"] if e["name"] == QWEN)
    entry["resolved"] = headline
    path = folder / "leaderboards.json"
    path.write_text(json.dumps(data))
    return path


def qwen_ids() -> list[str]:
    data = json.loads(EXCERPT.read_text())
    entry = next(e for e in data["leaderboards"][0]["results"] if e["name"] == QWEN)
    return sorted(entry["per_instance_details"])


def test_an_entry_contradicting_its_headline_is_not_comparable(tmp_path):
    board = contradicting_leaderboard(tmp_path)
    ids = qwen_ids()[:60]
    run = write_run(tmp_path / "run", {i: True for i in ids})
    c = compare([run], seed=0, resamples=500, published=[f"{board}:{QWEN}"])
    [v] = c.verdicts
    [rates] = [ch for ch in v.checks if ch.fact == "headline vs per-instance rate"]
    assert v.overall == "not comparable" and rates.state == "differs"
    assert "headline 52.8%" in rates.words and "45/500 resolved = 9.0%" in rates.words
    assert any("52.8%" in w and "9.0%" in w for w in c.warnings)  # the loud panel, before any table
    console = Console(record=True, width=200)
    run_compare([run], console, None, None, 0, 500, [f"{board}:{QWEN}"])
    text = console.export_text()
    assert text.index("NOT COMPARABLE") < text.index("side by side")
    assert "contradicts itself: headline 52.8%, per-instance results 45/500 resolved = 9.0%" in text


def test_an_entry_whose_rates_agree_shows_both(tmp_path):
    run = write_run(tmp_path / "run", {i: True for i in qwen_ids()[:10]})
    c = compare([run], seed=0, resamples=500, published=[f"{EXCERPT}:Claude 4 Sonnet"])
    [v] = c.verdicts
    [rates] = [ch for ch in v.checks if ch.fact == "headline vs per-instance rate"]
    # the real entry states 64.93% and lists 324/500 = 64.8%: rounding, within half a point
    assert rates.state == "same" and "headline 64.93%" in rates.words and "324/500 resolved = 64.8%" in rates.words
    assert not any("contradicts" in w for w in c.warnings)


def test_console_truncates_discordant_ids_and_json_keeps_them_all(tmp_path):
    ids = qwen_ids()[:80]
    run = write_run(tmp_path / "run", {i: True for i in ids})  # resolves every one: ~70 discordant
    console = Console(record=True, width=200)
    out = tmp_path / "c.json"
    comparison = run_compare([run], console, None, out, 0, 500, [f"{EXCERPT}:{QWEN}"])
    [p] = comparison.pairs
    assert len(p.only_first) > CONSOLE_IDS
    line = next(ln for ln in console.export_text().splitlines() if ln.startswith("resolved only by run"))
    assert sum(i in line for i in p.only_first) == CONSOLE_IDS
    assert f"and {len(p.only_first) - CONSOLE_IDS} more" in line
    assert json.loads(out.read_text())["pairs"][0]["only_first"] == p.only_first


def test_report_of_a_run_where_every_instance_is_an_infrastructure_failure(docker_client, tmp_path):
    """Every image missing (env.pull=never): nothing is scored, and `atlas report` still writes its pages."""
    rows = load_task_repo_rows(DatasetConfig(name="s", source="task_repo", path="bundled"))[:2]
    for row in rows:
        row["image"] = f"atlas-test-{uuid.uuid4().hex[:10]}/absent:1"
    dataset = tmp_path / "rows.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = atlas("run", "dataset=file", f"dataset.path={dataset}", "model=gold", "env.pull=never", "run.retries=0",
                 f"run.root={tmp_path / 'runs'}", "run.name=allinfra")
    assert done.returncode == INFRA_FAILURES, done.stderr[-3000:]
    report = atlas("report", str(tmp_path / "runs" / "allinfra"))
    assert report.returncode == 0, report.stderr[-3000:]
    data = json.loads((tmp_path / "runs" / "allinfra" / "report.json").read_text())["report"]
    assert data["infra_failures"] == 2 and data["overall"]["n"] == 0 and data["overall"]["rate"] is None
    assert (tmp_path / "runs" / "allinfra" / "report.html").stat().st_size > 0
