"""run.repeats=3 on bundled tasks with real Docker: SIGKILL between repeats, resume, grade each repeat, report pass@k."""

import json
import signal
import subprocess
import sys

from atlas.harness import stats
from tests.conftest import REPO_ROOT, atlas, labeled_containers
from tests.test_interrupts import wait_for

REGEX = "^atlas-samples__(durations|semverlite)"


def finished(run_dir, repeat):
    return sorted(p.parent.name for p in (run_dir / "repeats" / f"r{repeat}").glob("instances/*/status.json"))


def start(root, *extra):
    args = [sys.executable, "-m", "atlas.cli", "run", "run.name=rep", "run.repeats=3", f"run.root={root}",
            "run.workers=1", f"run.instance_regex='{REGEX}'", *extra]
    return subprocess.Popen(args, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_repeats_resume_after_sigkill_between_repeats_then_report_pass_at_k(docker_client, sample_images, tmp_path):
    ids = sorted(i.instance_id for i in sample_images if i.instance_id.startswith(("atlas-samples__durations",
                                                                                    "atlas-samples__semverlite")))
    root, run_dir = tmp_path / "runs", tmp_path / "runs" / "rep"
    process = start(root, "run.evaluate=false")
    # repeat 1 done and repeat 2 under way (its first container running): kill between repeats
    wait_for(lambda: finished(run_dir, 1) == ids and labeled_containers(docker_client, run_dir), seconds=300)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    first = {i: (run_dir / "repeats" / "r1" / "instances" / i / "status.json").read_text() for i in ids}
    second = {i: (run_dir / "repeats" / "r2" / "instances" / i / "status.json").read_text() for i in finished(run_dir, 2)}
    assert len(second) < len(ids) and not finished(run_dir, 3)

    resumed = start(root)  # the same command, now grading too
    out, err = resumed.communicate(timeout=1200)
    assert resumed.returncode == 0, err[-3000:]
    assert f"repeat 1/3: resuming: {len(ids)} instance(s) already finished, 0 to run" in err
    for repeat, before in ((1, first), (2, second)):  # finished repeats were not redone
        for instance_id, text in before.items():
            assert (run_dir / "repeats" / f"r{repeat}" / "instances" / instance_id / "status.json").read_text() == text
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert len(manifest["sessions"]) == 2 and manifest["totals"]["finished"] == 3 * len(ids)
    assert not labeled_containers(docker_client, run_dir)

    # each repeat graded as its own predictions file under its own harness run_id
    verdicts = []
    for repeat in (1, 2, 3):
        folder = run_dir / "repeats" / f"r{repeat}"
        assert finished(run_dir, repeat) == ids
        graded = json.loads((folder / "results.json").read_text())
        # the repeat's run_id, made unique to this run directory (two runs never share a grading container name)
        assert graded["harness"]["run_id"].startswith(f"atlas-grading.r{repeat}.")
        verdicts.append({i: v["resolved"] for i, v in graded["instances"].items()})
    successes = {i: sum(v[i] for v in verdicts) for i in ids}

    done = atlas("report", str(run_dir))
    assert done.returncode == 0, done.stderr[-3000:]
    for row in ("pass@1", "pass@3", "pass^3", "run-to-run spread", "detectable at 80% power"):
        assert row in done.stdout
    report = json.loads((run_dir / "report.json").read_text())["repeats"]
    for k in (1, 2, 3):
        expected = sum(stats.pass_at_k(3, c, k) for c in successes.values()) / len(ids)
        assert report["pass_at"][str(k)]["value"] == expected
        low, high = report["pass_at"][str(k)]["ci"]
        assert low <= expected <= high
        assert report["pass_hat"][str(k)]["value"] == sum(stats.pass_hat_k(3, c, k) for c in successes.values()) / len(ids)
    assert report["successes"] == successes
    page = (run_dir / "report.html").read_text()
    assert "pass^3" in page and all(f"repeats/r3/viewer/{i}.html" in page for i in ids)
