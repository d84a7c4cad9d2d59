"""`atlas report` and `atlas compare` on real graded runs of the bundled tasks, a sweep, and a published result.

One set of runs per module: a `-m model=gold,empty` sweep and a scripted run, each graded by
the official harness. Expected numbers are recomputed here from the runs' own results.json and
manifest.json (and harness.stats), never written in by hand.
"""

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
import yaml
from matplotlib.image import imread

from atlas.harness import stats
from atlas.harness.report_load import adopt_universe, load_published, load_run
from atlas.harness.report import build_report
from atlas.harness.table import interval, percent
from tests.conftest import atlas

FOREIGN_ID = "django__django-11099"  # resolved by the published result, but no instance of the runs


@dataclass
class Runs:
    sweep: Path
    gold: Path
    empty: Path
    scripted: Path
    ids: list[str]


def verdicts(run: Path) -> dict[str, bool]:
    return {k: v["resolved"] for k, v in json.loads((run / "results.json").read_text())["instances"].items()}


def manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def inline(capsys, *args: str) -> tuple[int, str, str]:
    """`atlas ARGS` in this process (no interpreter start-up): (exit code, stdout, stderr)."""
    from atlas.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def runs(sample_images, tmp_path_factory) -> Runs:
    """runs/s/model=gold and runs/s/model=empty (one sweep), runs/scripted; all graded."""
    root = tmp_path_factory.mktemp("report-runs")
    ok(atlas("run", "-m", "model=gold,empty", "run.sweep=s", cwd=root))
    ok(atlas("run", "run.name=scripted", cwd=root))
    sweep = root / "runs" / "s"
    return Runs(sweep, sweep / "model=gold", sweep / "model=empty", root / "runs" / "scripted",
                [i.instance_id for i in sample_images])


@pytest.fixture(scope="module")
def scripted_report(runs):
    done = ok(atlas("report", str(runs.scripted)))
    return done, json.loads((runs.scripted / "report.json").read_text())


@pytest.fixture(scope="module")
def comparison(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    done = ok(atlas("compare", str(runs.gold), str(runs.scripted), str(runs.empty),
                    "--html", str(out / "compare.html"), "--json", str(out / "compare.json")))
    return done, json.loads((out / "compare.json").read_text()), out / "compare.html"


def write_published(folder: Path, resolved: list[str], failed: list[str]) -> Path:
    """A result in the SWE-bench experiments repository's format."""
    (folder / "results").mkdir(parents=True)
    (folder / "results" / "results.json").write_text(json.dumps(
        {"no_generation": failed, "no_logs": [], "resolved": resolved + [FOREIGN_ID]}))
    (folder / "metadata.yaml").write_text(yaml.safe_dump(
        {"name": "SomeAgent + SomeModel", "oss": True, "site": "https://example.org/agent", "verified": False}))
    return folder


def test_report_of_a_run(runs, scripted_report):
    done, data = scripted_report
    report, resolved = data["report"], verdicts(runs.scripted)
    n, k = len(runs.ids), sum(resolved.values())
    assert 0 < k < n, "the scripted model fixes most tasks and gets at least one wrong"
    overall = report["overall"]
    assert (overall["n"], overall["resolved"]) == (n, k)
    assert overall["wilson"] == pytest.approx(stats.wilson_interval(k, n))
    assert overall["bootstrap"] == pytest.approx(
        stats.bootstrap_mean_interval([float(resolved[i]) for i in sorted(runs.ids)], seed=0))
    assert report["bootstrap"] == {"level": 0.95, "resamples": 10_000, "seed": 0}
    instances = manifest(runs.scripted)["dataset"]["instances"]
    assert {g["group"] for g in report["by_repo"]} == {v["repo"] for v in instances.values()}
    assert {g["group"] for g in report["by_difficulty"]} == {v["difficulty"] for v in instances.values() if v["difficulty"]}
    for section in ("by_repo", "by_status", "by_outcome"):
        assert sum(g["n"] for g in report[section]) == n and sum(g["resolved"] for g in report[section]) == k
    assert {g["group"] for g in report["by_status"]} == {"submitted"}
    totals, recorded = report["totals"], manifest(runs.scripted)["totals"]
    assert totals["prompt_tokens"] == recorded["usage"]["prompt_tokens"] > 0
    assert totals["completion_tokens"] == recorded["usage"]["completion_tokens"] > 0
    assert totals["tokens_per_resolved"] == pytest.approx(
        (recorded["usage"]["prompt_tokens"] + recorded["usage"]["completion_tokens"]) / k)
    assert totals["cost_usd"] == pytest.approx(recorded["cost_usd"])
    assert totals["cost_per_resolved"] == pytest.approx(recorded["cost_usd"] / k)
    assert totals["gpu_hours"] is None and "no local GPU" in totals["gpu_hours_basis"]
    assert totals["instance_hours"] == pytest.approx(recorded["wall_seconds"] / 3600)
    assert len(report["steps"]) == n and all(s >= 1 for s in report["steps"])
    out = done.stdout
    assert percent(k / n) in out and interval(overall["wilson"]) in out and interval(overall["bootstrap"]) in out
    assert "patch-apply failures" in out and "token counts are estimates" in out


def test_report_reproduces(runs, scripted_report):
    again = build_report(load_run(runs.scripted))  # another process, the same seeded bootstrap
    assert json.loads(json.dumps(asdict(again.overall))) == scripted_report[1]["report"]["overall"]


def test_methodology_card_records_or_says_not_recorded(runs, scripted_report):
    card = (runs.scripted / "methodology.md").read_text()
    recorded = manifest(runs.scripted)
    assert f"**grading harness** (must match to compare): swebench {version('swebench')}" in card
    assert "**split** (must match to compare): test" in card
    assert f"**instances**: {len(runs.ids)}" in card and "**subset of the split**: no" in card
    assert f"**step limit** (must match to compare): {recorded['limits']['step_limit']}" in card
    assert all(f"{name}={sha}" in card for name, sha in recorded["agent"]["template_sha256"].items())
    assert f"**host**: {recorded['host']['hostname']}" in card and recorded["created_at"] in card
    assert "**weights**: not recorded" in card  # the scripted backend has none, and the card says so
    items = [line for line in card.splitlines() if line.startswith("- **")]
    assert len(items) == len(scripted_report[1]["methodology"]) and all(line.split(": ", 1)[1] for line in items)


def test_report_html_is_self_contained(runs, scripted_report):
    page = (runs.scripted / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "Methodology" in page and next(iter(manifest(runs.scripted)["agent"]["template_sha256"].values())) in page


def test_report_of_a_sweep(runs):
    done = ok(atlas("report", str(runs.sweep)))
    members = json.loads((runs.sweep / "report.json").read_text())["members"]
    assert [m["label"] for m in members] == ["model=empty", "model=gold"]
    n = len(runs.ids)
    assert [(m["overall"]["n"], m["overall"]["resolved"]) for m in members] == [(n, 0), (n, n)]
    assert "model=empty" in done.stdout and "model=gold" in done.stdout and "none resolved" in done.stdout
    assert "not comparable" not in done.stdout  # same dataset, harness, scaffold and limits
    for member in (runs.gold, runs.empty):
        assert all((member / name).is_file() for name in ("report.json", "report.html", "methodology.md"))
    assert (runs.sweep / "report.html").read_text().count("data:image/png;base64,") == 4


def test_compare_runs_pairs_and_mcnemar(runs, comparison):
    done, data, _ = comparison
    resolved = {side: verdicts(getattr(runs, side)) for side in ("gold", "scripted", "empty")}
    assert data["shared"] == sorted(runs.ids) and not data["warnings"]
    pairs = {(p["first"], p["second"]): p for p in data["pairs"]}
    assert set(pairs) == {("model=gold", "scripted"), ("model=gold", "model=empty"), ("scripted", "model=empty")}
    gold_vs_scripted = pairs["model=gold", "scripted"]
    assert gold_vs_scripted["only_first"] == sorted(i for i in runs.ids if not resolved["scripted"][i])
    assert gold_vs_scripted["only_second"] == []
    gold_vs_empty = pairs["model=gold", "model=empty"]
    # every instance is discordant: p = 2 * C(n, 0) / 2^n
    assert gold_vs_empty["p_value"] == pytest.approx(2 / 2 ** len(runs.ids))
    for p in data["pairs"]:
        assert p["p_value"] == stats.mcnemar_exact(len(p["only_first"]), len(p["only_second"]))
        assert p["both"] + p["neither"] + len(p["only_first"]) + len(p["only_second"]) == len(runs.ids)
    assert "NOT COMPARABLE" not in done.stdout and "McNemar" in done.stdout
    assert all(i in done.stdout for i in gold_vs_scripted["only_first"])


def test_compare_warns_loudly_when_not_comparable(runs, tmp_path):
    altered = tmp_path / "scripted-altered"
    shutil.copytree(runs.scripted, altered)
    recorded = manifest(altered)
    recorded["limits"]["step_limit"] = 7
    recorded["dataset"]["split"] = "dev"
    recorded["dataset"]["instance_ids"] = recorded["dataset"]["instance_ids"][1:]
    (altered / "manifest.json").write_text(json.dumps(recorded))
    graded = json.loads((altered / "results.json").read_text())
    graded["harness"]["version"] = "4.1.0"
    (altered / "results.json").write_text(json.dumps(graded))
    done = ok(atlas("compare", str(runs.scripted), str(altered), "--json", str(tmp_path / "c.json")))
    assert "NOT COMPARABLE" in done.stdout
    warnings = json.loads((tmp_path / "c.json").read_text())["warnings"]
    expected = ["different instance sets", "split differs", "step limit differs", "grading harness differs"]
    assert all(any(e in w for w in warnings) for e in expected), warnings
    assert len(json.loads((tmp_path / "c.json").read_text())["shared"]) == len(runs.ids) - 1


def test_compare_with_a_published_result(runs, tmp_path):
    ids = sorted(runs.ids)
    published = write_published(tmp_path / "20250101_someagent", ids[::2], ids[1:2])
    done = ok(atlas("compare", str(runs.scripted), str(published), "--json", str(tmp_path / "c.json"),
                    "--html", str(tmp_path / "c.html")))
    data = json.loads((tmp_path / "c.json").read_text())
    side = next(r for r in data["reports"] if r["kind"] == "published")
    assert side["label"] == "SomeAgent + SomeModel"
    assert (side["overall"]["n"], side["overall"]["resolved"]) == (len(ids), len(ids[::2]))  # the foreign id is not in
    assert side["totals"]["cost_usd"] is None and side["totals"]["cost_per_resolved"] is None
    assert any("universe is the" in n and "published result" in n for n in data["notes"])
    assert any("step limit" in u and "SomeAgent" in u for u in data["unknowns"])
    assert {g["group"]: g["n"] for g in side["by_outcome"]}["no_generation"] == 1
    assert "universe" in done.stdout and "unknown" in done.stdout
    page = (tmp_path / "c.html").read_text()
    assert "SomeAgent + SomeModel" in page and "not recorded" in page


def test_published_result_formats(tmp_path):
    """results.json at the top level, and metadata in the newer info/tags layout."""
    (tmp_path / "results.json").write_text(json.dumps({"resolved": ["a__b-1"], "no_logs": ["a__b-2"]}))
    (tmp_path / "metadata.yaml").write_text(yaml.safe_dump(
        {"info": {"name": "Agent X", "site": "https://example.org"}, "tags": {"os_model": True, "checked": False}}))
    side = adopt_universe(load_published(tmp_path), ["a__b-1", "a__b-2", "a__b-3"])
    assert side.label == "Agent X"
    assert {i: r.outcome for i, r in side.rows.items()} == {"a__b-1": "resolved", "a__b-2": "no_logs",
                                                            "a__b-3": "not listed"}
    card = {i.name: i.text for i in side.card}
    assert card["open-source model"] == "true" and card["step limit"] == "not recorded"


def test_ungraded_instances_count_as_unresolved_and_are_named(runs, tmp_path, capsys):
    copy = tmp_path / "partly-graded"
    shutil.copytree(runs.scripted, copy)
    graded = json.loads((copy / "results.json").read_text())
    dropped = next(i for i, v in graded["instances"].items() if v["resolved"])
    del graded["instances"][dropped]
    (copy / "results.json").write_text(json.dumps(graded))
    code, out, err = inline(capsys, "report", str(copy))
    assert code == 0, err
    report = json.loads((copy / "report.json").read_text())["report"]
    assert report["overall"]["resolved"] == sum(verdicts(runs.scripted).values()) - 1
    assert {g["group"]: g["n"] for g in report["by_outcome"]}["not graded"] == 1
    assert "have no verdict" in out and "atlas evaluate" in out


def test_errors_name_the_fix(runs, tmp_path, capsys):
    empty = tmp_path / "nothing"
    empty.mkdir()
    cases = [
        (["report", str(empty)], "is not a run directory (no manifest.json)"),
        (["report", str(write_published(tmp_path / "pub", [], []))], "atlas compare"),
        (["compare", str(runs.scripted)], "at least two sides"),
        (["compare", str(tmp_path / "pub"), str(tmp_path / "pub")], "at least one run directory"),
    ]
    ungraded = tmp_path / "ungraded"
    shutil.copytree(runs.scripted, ungraded)
    (ungraded / "results.json").unlink()
    cases.append((["report", str(ungraded)], f"atlas evaluate {ungraded}"))
    for args, message in cases:
        code, _, err = inline(capsys, *args)
        assert code == 2 and message in err.replace("\n", ""), (args, err)


@pytest.fixture(scope="module")
def chromium():
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("ATLAS_REQUIRE_BROWSER") == "1":
            pytest.fail("ATLAS_REQUIRE_BROWSER=1 but chromium is not installed (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (as root: apt-get install -y chromium)")
    return path


def screenshot(chromium: str, page: Path, folder: Path) -> np.ndarray:
    """The page as rendered by headless Chromium, an RGB(A) float array."""
    profile, png = folder / "chromium-profile", folder / "page.png"
    profile.mkdir()
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1280,2400", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert png.is_file(), done.stderr[-2000:]
    return imread(png)


def assert_rendered_with_plots(image: np.ndarray) -> None:
    rgb = (image[..., :3] * 255).round().astype(np.int32)
    assert np.mean(np.any(rgb < 240, axis=-1)) > 0.05, "the screenshot is (nearly) blank"
    colours = np.unique(rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2])
    assert colours.size > 200, "too few colours for text plus plots"
    first_series = np.array([0x4C, 0x72, 0xB0])  # the bar colour of the first series in every plot
    assert np.sum(np.all(np.abs(rgb - first_series) <= 3, axis=-1)) > 2000, "no plot pixels on the page"


def test_html_report_renders_in_chromium(runs, scripted_report, chromium, tmp_path):
    report = scripted_report[1]["report"]
    page = (runs.scripted / "report.html").read_text()
    for text in (percent(report["overall"]["rate"]), interval(report["overall"]["wilson"]),
                 interval(report["overall"]["bootstrap"]), f"{report['totals']['tokens_per_resolved']:,.0f}"):
        assert text in page
    assert_rendered_with_plots(screenshot(chromium, runs.scripted / "report.html", tmp_path))


def test_html_comparison_renders_in_chromium(comparison, chromium, tmp_path):
    _, data, page = comparison
    text = page.read_text()
    assert all(f"{p['p_value']:.4g}" in text for p in data["pairs"])
    assert_rendered_with_plots(screenshot(chromium, page, tmp_path))


def test_per_instance_table_and_trajectory_viewer_render_in_chromium(runs, scripted_report, chromium, tmp_path):
    from markupsafe import escape  # what the pages' autoescape writes

    from tests.conftest import read_jsonl

    page = (runs.scripted / "report.html").read_text()
    resolved = verdicts(runs.scripted)
    for instance_id in runs.ids:  # every instance has a row linking to its viewer page
        assert f'href="viewer/{instance_id}.html"' in page and (runs.scripted / "viewer" / f"{instance_id}.html").is_file()
    status = json.loads((runs.scripted / "instances" / runs.ids[0] / "status.json").read_text())
    assert f'>{status["steps"]}</td>' in page and "exit reason" in page
    unresolved = next(i for i in runs.ids if not resolved[i])  # the instance the scripted model gets wrong
    viewer = runs.scripted / "viewer" / f"{unresolved}.html"
    text = viewer.read_text()
    entries = read_jsonl(runs.scripted / "instances" / unresolved / "trajectory.jsonl")
    actions = [e for e in entries if e["kind"] == "action"]
    assert actions and all(escape(a["command"]) in text for a in actions)
    thought = next(e["content"] for e in entries if e["kind"] == "message" and e["role"] == "assistant")
    assert escape(thought.splitlines()[0]) in text
    patch = (runs.scripted / "instances" / unresolved / "patch.diff").read_text()
    from atlas.config import DatasetConfig
    from atlas.datasets import load_instances

    gold = {i.instance_id: i.patch for i in load_instances(DatasetConfig(name="s", source="task_repo", path="bundled"))}
    added = lambda diff: [line for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]  # noqa: E731
    assert all(escape(line) in text for line in added(patch)[:5] + added(gold[unresolved])[:5])
    assert "final patch (this run)" in text and "gold patch" in text
    image = screenshot(chromium, viewer, tmp_path)
    rgb = (image[..., :3] * 255).round().astype(np.int32)
    assert np.mean(np.any(rgb < 240, axis=-1)) > 0.05, "the viewer screenshot is (nearly) blank"
    green = np.array([0x11, 0x63, 0x29])  # added lines of a patch
    assert np.sum(np.all(np.abs(rgb - green) <= 40, axis=-1)) > 50, "no patch lines drawn"


def test_compare_page_links_each_instance_to_its_trajectory(comparison):
    _, data, page = comparison
    text = page.read_text()
    for instance_id in data["shared"]:
        links = [part.split('"', 1)[0] for part in text.split('href="')[1:] if f"/{instance_id}.html" in part.split('"', 1)[0]]
        assert len(links) == 3, instance_id  # one per compared run
        assert all((page.parent / link).is_file() for link in links)
