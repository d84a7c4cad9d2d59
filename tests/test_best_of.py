"""best_of: patch normalization, the vote, the budget that stops attempts, agent-written tests; and a budgeted
best-of-3 arm on the bundled tasks (real Docker) compared with a single-attempt arm at the matched budget."""

import json

import pytest

from atlas.best_of import Budget, Candidate, added_test_files, normalize_patch, solve_best_of, vote
from atlas.config import BestOfSettings, BudgetSettings
from atlas.records import InstanceResult, Status
from tests.conftest import atlas, read_jsonl

PATCH = """diff --git a/m.py b/m.py
index 1111111..2222222 100644
--- a/m.py
+++ b/m.py
@@ -1,2 +1,2 @@
 def f():
-    return 1
+    return 2
"""


def _candidate(index: int, patch: str, cost: float = 0.0, seconds: float = 1.0) -> Candidate:
    result = InstanceResult(instance_id="i", status=Status.SUBMITTED, attempts=1, cost_usd=cost, model_seconds=cost)
    return Candidate(index, result, patch, seconds)


def test_normalize_ignores_index_lines_hunk_headers_and_whitespace():
    other = PATCH.replace("index 1111111..2222222", "index 3333333..4444444").replace("@@ -1,2 +1,2 @@", "@@ -5,2 +5,2 @@")
    assert normalize_patch(other) == normalize_patch(PATCH)
    assert normalize_patch(PATCH.replace("return 2", "return  2 ")) == normalize_patch(PATCH)
    assert normalize_patch(PATCH.replace("return 2", "return 3")) != normalize_patch(PATCH)


def test_vote_takes_the_majority_then_the_earliest_and_skips_empty_patches():
    different = PATCH.replace("return 2", "return 3")
    chosen, votes = vote([_candidate(1, different), _candidate(2, PATCH), _candidate(3, PATCH.replace("index 1", "index 9"))])
    assert chosen.index == 2 and votes == {"c1": 1, "c2": 2, "c3": 2}
    assert vote([_candidate(1, different), _candidate(2, PATCH)])[0].index == 1  # a tie: the earliest
    assert vote([_candidate(1, ""), _candidate(2, ""), _candidate(3, different)])[0].index == 3
    assert vote([_candidate(1, ""), _candidate(2, "")])[0].index == 1


def test_budget_refuses_an_attempt_that_would_exceed_the_cap():
    budget = Budget(BudgetSettings(usd=1.0))
    budget.add(_candidate(1, PATCH, cost=0.4))
    assert budget.refusal() is None  # 0.4 + 0.4 <= 1.0
    budget.add(_candidate(2, PATCH, cost=0.3))
    refusal = budget.refusal()  # 0.7 + the dearest (0.4) > 1.0
    assert refusal and "usd=1" in refusal
    wall = Budget(BudgetSettings(wall_seconds=10))
    wall.add(_candidate(1, PATCH, seconds=4))
    assert wall.refusal() is None and wall.left("wall_seconds") == pytest.approx(6) and wall.left("usd") is None


def test_solve_best_of_stops_at_the_cap_and_records_the_spend(tmp_path):
    calls, dollars = [], []

    def attempt(j, timeout, usd_left):
        calls.append(timeout)
        dollars.append(usd_left)
        return InstanceResult(instance_id="i", status=Status.SUBMITTED, attempts=1, cost_usd=0.3), PATCH

    settings = BestOfSettings(k=5, budget=BudgetSettings(usd=1.0, wall_seconds=100))
    result, patch = solve_best_of(tmp_path, settings, 1800, lambda: False, attempt, open_env=None)
    assert len(calls) == 3  # 0.3 + 0.3 + 0.3 = 0.9; a fourth would make 1.2
    assert all(t <= 100 for t in calls)  # the wall-clock cap is each attempt's deadline
    assert dollars == pytest.approx([1.0, 0.7, 0.4])  # and the dollars left its cost limit
    assert result.cost_usd == pytest.approx(0.9) and patch == PATCH
    record = json.loads((tmp_path / "best_of.json").read_text())
    assert record["attempts"] == 3 and record["selected"] == "c1" and "usd=1" in record["stopped"]
    assert result.best_of["spent"]["usd"] == pytest.approx(0.9)


def test_added_test_files_reads_new_test_files_only():
    patch = PATCH + """diff --git a/tests/test_new.py b/tests/test_new.py
new file mode 100644
--- /dev/null
+++ b/tests/test_new.py
@@ -0,0 +1,2 @@
+def test_it():
+    assert True
"""
    assert added_test_files(patch, "test_*.py") == {"tests/test_new.py": "def test_it():\n    assert True\n"}
    assert added_test_files(PATCH, "test_*.py") == {}


CAP = 20.0  # wall-clock seconds per instance over all attempts; a scripted attempt takes a few seconds


@pytest.fixture(scope="module")
def arms(sample_images, tmp_path_factory):
    root = tmp_path_factory.mktemp("best-of")
    regex = "run.instance_regex='^atlas-samples__durations'"
    best = atlas("run", "run.name=best3", "run.best_of.k=3", f"run.best_of.budget.wall_seconds={CAP}",
                 "run.best_of.budget.usd=1.0", "run.workers=1", regex, cwd=root)
    assert best.returncode == 0, best.stderr[-3000:]
    single = atlas("run", "run.name=single", "run.workers=1", regex, cwd=root)
    assert single.returncode == 0, single.stderr[-3000:]
    return root / "runs" / "best3", root / "runs" / "single"


def test_best_of_arm_stays_within_its_cap(arms):
    best, _ = arms
    preds = read_jsonl(best / "preds.jsonl")
    assert len(preds) == 2
    for pred in preds:
        folder = best / "instances" / pred["instance_id"]
        record = json.loads((folder / "best_of.json").read_text())
        status = json.loads((folder / "status.json").read_text())
        assert 1 <= record["attempts"] <= 3
        assert record["spent"]["wall_seconds"] <= CAP and record["spent"]["usd"] <= 1.0
        assert record["attempts"] == 3 or record["stopped"].startswith("budget: another attempt would exceed wall_seconds")
        candidates = sorted(p.name for p in (folder / "candidates").iterdir())
        assert candidates == [f"c{j}" for j in range(1, record["attempts"] + 1)]
        for name in candidates:  # every attempt ran in its own container and left its trajectory and patch
            assert (folder / "candidates" / name / "trajectory.jsonl").stat().st_size > 0
        chosen = (folder / "candidates" / record["selected"] / "patch.diff").read_text()
        assert pred["model_patch"] == chosen and status["best_of"]["selected"] == record["selected"]
        assert sum(record["votes"].values()) >= record["attempts"]  # the scripted model repeats its fix: a majority
    graded = json.loads((best / "results.json").read_text())["instances"]
    assert set(graded) == {p["instance_id"] for p in preds}


def test_budget_matched_comparison(arms, tmp_path):
    best, single = arms
    done = atlas("compare", str(best), str(single), "--html", str(tmp_path / "c.html"), "--json", str(tmp_path / "c.json"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resolved rate against the budget per instance" in done.stdout
    assert "paired test at the matched budget" in done.stdout
    data = json.loads((tmp_path / "c.json").read_text())
    # one attempt of the single arm fits the best-of arm's caps (the scripted model costs $0: usd is checked first)
    assert data["budget_matches"] == ["single spent 0 usd per instance, within the other's cap of 1"]
    arm = {a["label"]: a for a in data["arms"]}
    assert arm["best3"]["k"] == 3 and arm["best3"]["caps"] == {"usd": 1.0, "wall_seconds": CAP}
    assert arm["single"]["k"] == 1 and arm["single"]["wall_seconds"] <= CAP
    page = (tmp_path / "c.html").read_text()
    assert "Equal budget" in page and "paired test at the matched budget" in page
    assert "within the other&#39;s cap of 1" in page


class FakeEnv:
    """Stands in for a container: `git apply` records the patch; the test command passes for one patch only."""

    passing = "return 3"

    def __init__(self, log):
        self.log, self.applied = log, ""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def execute(self, command, timeout):
        self.log.append(command)
        if "git apply" in command:
            self.applied = command
        ok = "git apply" in command or "printf" in command or self.passing in self.applied
        return type("Result", (), {"exit_code": 0 if ok else 1})()


def test_select_with_the_repository_tests_prefers_the_patch_that_passes():
    from atlas.best_of import select

    log = []
    wrong, right = PATCH, PATCH.replace("return 2", "return 3")
    candidates = [_candidate(1, wrong), _candidate(2, wrong), _candidate(3, right)]
    settings = BestOfSettings(k=3, select="tests", test_command="pytest -q")
    chosen, how = select(candidates, settings, lambda: FakeEnv(log))
    assert chosen.index == 3  # the minority patch passes the repository's tests, the majority does not
    assert how["test_scores"] == {"c1": 0, "c3": 1} and how["votes"] == {"c1": 2, "c2": 2, "c3": 1}
    assert sum("pytest -q" in c for c in log) == 2  # each distinct patch tested once
    vote_only, _ = select(candidates, BestOfSettings(k=3, select="vote"), lambda: FakeEnv([]))
    assert vote_only.index == 1
