"""Pairing a run with published per-instance results: the leaderboard file, the test, the interval, the verdict.

`fixtures/published/leaderboards-bash-only-excerpt.json` is a real excerpt of
SWE-bench/swe-bench.github.io's data/leaderboards.json (four bash-only entries, all 500
instances each); `tiny-leaderboard.json` is hand-made, for expectations computed by hand.
Runs are written as run directories (manifest, status files, results.json), no Docker.
"""

from __future__ import annotations

import http.server
import json
import threading
from functools import partial
from pathlib import Path

import pytest

from atlas.harness.commands import run_compare
from atlas.harness.compare import compare, pair
from atlas.harness.published import find_entry, leaderboard_side, read_leaderboard, split_spec
from atlas.harness.report_load import ReportError, adopt_universe
from atlas.harness.report_render import make_console
from atlas.models.base import Usage
from atlas.records import InstanceResult, Status

FIXTURES = Path(__file__).parent / "fixtures" / "published"
EXCERPT = FIXTURES / "leaderboards-bash-only-excerpt.json"
TINY = FIXTURES / "tiny-leaderboard.json"
MINI_AGENT = {"name": "mini", "step_limit": 250, "template_sha256": {"mini-swe-agent:x.yaml": "ab"},
              "mini_swe_agent": {"version": "2.4.6", "protocol_version": "2.x", "config_file": "x.yaml"}}


def write_run(folder: Path, resolved: dict[str, bool], statuses: dict[str, str] | None = None,
              agent: dict | None = None) -> Path:
    """A graded run directory as `atlas run` leaves it, for the instances and verdicts given."""
    statuses = statuses or {}
    agent = agent or MINI_AGENT
    ids = list(resolved)
    manifest = {"dataset": {"name": "verified", "source": "huggingface", "path": "SWE-bench/SWE-bench_Verified",
                            "split": "test", "instance_ids": ids, "instance_count": len(ids)},
                "agent": agent, "limits": {"step_limit": agent.get("step_limit"), "retries": 0},
                "config": {"agent": agent, "model": {"name": "local"}}, "sessions": []}
    for iid in ids:
        (folder / "instances" / iid).mkdir(parents=True)
        result = InstanceResult(instance_id=iid, status=Status(statuses.get(iid, "submitted")), attempts=1,
                                steps=3, usage=Usage(prompt_tokens=100, completion_tokens=10))
        (folder / "instances" / iid / "status.json").write_text(result.model_dump_json())
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "results.json").write_text(json.dumps({
        "harness": {"package": "swebench", "version": "4.0.4"},
        "instances": {i: {"resolved": r, "outcome": "resolved" if r else "unresolved"} for i, r in resolved.items()}}))
    return folder


# ------------------------------------------------------------------ the hand-made fixture

TINY_RUN = {f"repo__pkg-{n}": n <= 6 for n in range(1, 11)} | {"repo__pkg-12": True}
TINY_STATUSES = {"repo__pkg-7": "repetition", "repo__pkg-8": "step_limit", "repo__pkg-9": "format_error_limit",
                 "repo__pkg-10": "timeout"}


@pytest.fixture
def tiny(tmp_path):
    run = write_run(tmp_path / "local-run", TINY_RUN, TINY_STATUSES)
    return compare([run], seed=0, resamples=10_000, published=[f"{TINY}:Tiny Model (v1)"])


def test_hand_computed_pair_on_the_tiny_fixture(tiny):
    # shared: pkg-1..10 (pkg-11 only the entry ran, pkg-12 only the run); run resolves 1-6, entry 1, 2, 7
    assert tiny.shared == sorted(f"repo__pkg-{n}" for n in range(1, 11))
    [p] = tiny.pairs
    assert (p.both, p.neither) == (2, 3)
    assert sorted(p.only_first) == ["repo__pkg-3", "repo__pkg-4", "repo__pkg-5", "repo__pkg-6"]
    assert p.only_second == ["repo__pkg-7"]
    assert p.difference == pytest.approx(0.3)  # 6/10 - 3/10
    assert p.p_value == pytest.approx(12 / 32)  # two-sided exact binomial, 1 of 5 discordant: 2 * (1 + 5) / 2^5
    # the paired differences are four 1s, one -1 and five 0s: mean 0.3, sd 0.64, so about 0.3 +- 1.96 * 0.2025;
    # a percentile bootstrap over 10 instances moves in steps of 0.1
    low, high = p.difference_ci
    assert -0.2 <= low <= 0.0 and 0.6 <= high <= 0.7


def test_tiny_verdict_names_the_protocol_version_mismatch(tiny):
    [v] = tiny.verdicts
    checks = {c.fact: c for c in v.checks}
    assert v.overall == "not comparable"
    assert checks["dataset and split"].state == "same"
    assert checks["scaffold"].state == "same"
    version = checks["mini-swe-agent version (major.minor)"]
    assert version.state == "differs" and "2.4" in version.words and "1.0" in version.words
    assert "2.4.6" in version.words and "1.0.0" in version.words and "pip install mini-swe-agent==1.0.0" in version.words
    assert checks["dataset revision"].state == "unknown" and checks["step limit"].state == "unknown"
    assert checks["grading harness"].state == "unknown"


def test_tiny_notes_say_what_was_left_out(tiny):
    assert any("repo__pkg-12" in n and "left out" in n for n in tiny.notes)


def test_compare_prints_table_test_interval_discordant_ids_verdict_and_statuses(tmp_path):
    run = write_run(tmp_path / "local-run", TINY_RUN, TINY_STATUSES)
    console = make_console()
    with console.capture() as captured:
        run_compare([run], console, None, tmp_path / "c.json", 0, 2000, [f"{TINY}:tiny model (v1)"])
    out = captured.get()
    assert "comparability verdict" in out and "NOT COMPARABLE" in out and "DIFFERS" in out
    assert "0.375" in out and "+30.0 pts" in out
    assert "repo__pkg-3, repo__pkg-4, repo__pkg-5, repo__pkg-6" in out and "repo__pkg-7" in out
    for status in ("repetition", "step_limit", "format_error_limit", "timeout", "submitted"):
        assert status in out
    saved = json.loads((tmp_path / "c.json").read_text())
    assert saved["verdicts"][0]["overall"] == "not comparable"


def test_exit_status_table_counts_each_side(tiny):
    from atlas.harness.tables import status_table

    rows = {row[0]: row[1:] for row in status_table(tiny.reports).rows()}
    assert rows["submitted"][0] == "6 (6)" and rows["repetition"][0] == "1 (0)"
    assert rows["unknown"][1] == "10 (3)"  # the leaderboard records no exit status, only resolved


# ------------------------------------------------------------------ the real excerpt


def test_real_excerpt_reproduces_the_published_sonnet_4_vs_4_5_test():
    a = leaderboard_side(str(EXCERPT), "Claude 4.5 Sonnet")
    b = leaderboard_side(str(EXCERPT), "Claude 4 Sonnet")
    shared = sorted(set(a.published) & set(b.published))
    assert len(shared) == 500
    p = pair(adopt_universe(a, shared), adopt_universe(b, shared), shared, seed=0, resamples=2000)
    assert (sum(1 for i in shared if a.published[i] == "resolved"), len(p.only_first), len(p.only_second)) == (353, 54, 25)
    assert p.difference == pytest.approx(0.058)
    assert p.p_value == pytest.approx(0.0015, abs=0.0001)
    assert p.difference_ci[0] > 0


def test_a_run_pairs_with_a_real_entry_on_the_instances_both_have(tmp_path):
    qwen = leaderboard_side(str(EXCERPT), "Qwen2.5-Coder")
    ids = sorted(qwen.published)[:40]
    resolved = {i: n % 3 == 0 for n, i in enumerate(ids)} | {"atlas-samples__minicsv-1": True}
    run = write_run(tmp_path / "run", resolved, agent={"name": "bash", "step_limit": 50})
    c = compare([run], seed=0, resamples=2000, published=[f"{EXCERPT}:Qwen2.5-Coder 32B Instruct"])
    assert c.shared == ids
    [p] = c.pairs
    assert set(p.only_first) == {i for i in ids if resolved[i] and qwen.published[i] != "resolved"}
    [v] = c.verdicts
    words = " ".join(ch.words for ch in v.checks)
    assert v.overall == "not comparable" and "scaffold differs" in words and "mini" in words
    card = {i.name: i.value for i in qwen.card}
    assert card["mini-swe-agent version"] == "1.0.0" and card["path"] == "SWE-bench/SWE-bench_Verified"


def test_entry_lookup_by_name_folder_board_and_its_errors():
    data = read_leaderboard(str(EXCERPT))
    assert find_entry(data, "20251209_mini-v1.17.2_devstral-small-2512", "x")[1]["name"] == "Devstral small (2512)"
    assert find_entry(data, "bash-only/claude 4.5", "x")[1]["mini-swe-agent_version"] == "1.13.3"
    with pytest.raises(ReportError, match="matches 2 entries"):
        find_entry(data, "Sonnet", "x")
    with pytest.raises(ReportError, match="no entry matches"):
        find_entry(data, "GPT-7", "x")
    with pytest.raises(ReportError, match="lists no per-instance results"):
        leaderboard_side(str(TINY), "Rate only")
    with pytest.raises(ReportError, match="is not a file"):
        leaderboard_side(str(FIXTURES / "missing.json"), "x")


def test_spec_splits_on_the_last_colon_but_not_a_urls():
    assert split_spec("lb.json:Claude 4.5 Sonnet") == ("lb.json", "Claude 4.5 Sonnet")
    assert split_spec("https://host/lb.json") == ("https://host/lb.json", "")
    assert split_spec("https://host/lb.json:Qwen") == ("https://host/lb.json", "Qwen")


def test_leaderboard_fetched_by_url(tmp_path):
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(FIXTURES))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{EXCERPT.name}"
        side = leaderboard_side(url, "Devstral small")
        assert len(side.published) == 500 and side.complete
        with pytest.raises(ReportError, match="could not fetch"):
            leaderboard_side(url.replace(EXCERPT.name, "nothing.json"), "x")
    finally:
        server.shutdown()


def test_cli_takes_published(tmp_path, capsys):
    from atlas.cli import main

    run = write_run(tmp_path / "run", TINY_RUN, TINY_STATUSES)
    main(["compare", str(run), "--published", f"{TINY}:Tiny Model (v1)"])
    assert "0.375" in capsys.readouterr().out


def test_html_comparison_shows_the_verdict(tiny):
    from atlas.harness.html import compare_page

    page = compare_page(tiny)
    assert "comparability verdict, local-run vs Tiny Model (v1): NOT COMPARABLE" in page
    assert "mini-swe-agent version (major.minor) differs" in page
