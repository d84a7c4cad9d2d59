"""ATLAS's reply parsers on real replies of open models (tests/fixtures/real_replies, provenance in its README)."""

from bench import parser_agreement
from bench.parser_agreement import FIXTURES, GOAL, load, measure

ROWS = load(sorted(FIXTURES.glob("*.jsonl")))
CLOSED = ("gpt", "claude", "gemini", "doubao", "o1", "o3")


def test_the_fixture_is_small_real_and_traceable():
    assert sum(p.stat().st_size for p in FIXTURES.glob("*.jsonl")) < 400_000
    assert {r["protocol"] for r in ROWS} == set(parser_agreement.PARSERS)
    for row in ROWS:
        assert row["reply"].strip() and row["family"] and row["model"]
        assert not row["model"].lower().startswith(CLOSED), row["model"]
        source = row["source"]
        assert ({"repo", "commit", "path", "step"} <= set(source) and len(source["commit"]) == 40) \
            or source.get("url", "").startswith("https://github.com/"), source


def test_atlas_takes_the_action_the_original_harness_took():
    counts, disagreements, _ = measure(ROWS)
    shown = [(r["family"], r["source"], v.got, v.expected) for r, v in disagreements]
    assert not disagreements, f"list and explain these in docs/parsers.md: {shown}"
    assert all(agree / total >= GOAL for agree, total in counts.values())
    assert sum(total for _, total in counts.values()) == len(ROWS)


def test_a_wrong_recorded_action_is_a_disagreement():
    row = next(r for r in ROWS if r["protocol"] == "swe-agent-thought-action")
    counts, disagreements, _ = measure([{**row, "harness_action": row["harness_action"] + " --changed"}])
    assert counts[("swe-agent-thought-action", row["family"])] == [0, 1] and len(disagreements) == 1
    content = next(r for r in ROWS if r["protocol"] == "tool-calls-in-content" and r["expected_calls"])
    _, disagreements, _ = measure([{**content, "expected_calls": []}])
    assert len(disagreements) == 1


def test_the_bash_scaffold_names_untagged_fences_instead_of_finding_nothing():
    _, _, bash = measure(ROWS)
    swe_agent = [r for r in ROWS if r["protocol"] == "swe-agent-thought-action"]
    assert bash["swe-agent-thought-action"] == {"wrong_fence_language": len(swe_agent)}


def test_the_bench_prints_the_table(capsys):
    assert parser_agreement.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| protocol | ATLAS parser | family | replies | agree | rate |")
    families = {r["family"] for r in ROWS}
    assert all(f"| {family} |" in out for family in families)
    assert "DISAGREES" not in out
