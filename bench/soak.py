"""A soak run: hundreds of instances, a fast scripted model, real containers and real grading as it goes.

    python -m bench.soak [--instances 300] [--workers 2] [--grade-workers 2] [--root runs/_soak]

The bundled tasks are repeated under distinct instance ids (a .jsonl dataset whose rows keep
their task's image, and a scripts folder whose scripted answers are the task's own), so every
instance is a real container, a real shell session and a real harness grading. It reports
what a 20-hour run would show wearing out: resident memory of ATLAS at start and end (and of
its grading processes), open file descriptors, containers and images left behind, the run
folder's size, and per-instance overhead (wall time less the model's and the commands' time)
over the first 50 and the last 50 instances. Figures are printed as JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path
from statistics import fmean, median

from atlas.config import DatasetConfig
from atlas.datasets import BUNDLED_TASKS, load_instances, load_task_repo_rows
from bench.run_watch import ROOT, agent_phase_seconds, run_atlas, statuses, verdicts

WINDOW = 50  # instances at each end whose overhead is compared


def soak_dataset(folder: Path, count: int) -> tuple[Path, Path]:
    """`count` rows cycling through the bundled tasks under ids `<task>-soak<k>`, and their scripts."""
    sample = DatasetConfig(name="sample", source="task_repo", path="bundled")
    images = {i.instance_id: i.image_name() for i in load_instances(sample)}
    rows = sorted(load_task_repo_rows(sample), key=lambda r: r["instance_id"])
    scripts = folder / "scripts"
    scripts.mkdir(parents=True, exist_ok=True)
    lines = []
    for k in range(count):
        row = dict(rows[k % len(rows)])
        original = row["instance_id"]
        row["instance_id"], row["image"] = f"{original}-soak{k:04d}", images[original]
        lines.append(json.dumps(row, default=str))
        shutil.copyfile(BUNDLED_TASKS / "scripted" / f"{original}.yaml", scripts / f"{row['instance_id']}.yaml")
    dataset = folder / "soak.jsonl"
    dataset.write_text("\n".join(lines) + "\n")
    return dataset, scripts


def overhead_seconds(run_dir: Path, status: dict) -> float:
    """Wall time of the instance less its model time and its commands' time: what ATLAS and Docker add."""
    trajectory = run_dir / "instances" / status["instance_id"] / "trajectory.jsonl"
    commands = sum(json.loads(line).get("duration_s") or 0 for line in trajectory.read_text().splitlines()
                   if line.strip() and json.loads(line).get("kind") == "action")
    return status["wall_seconds"] - status["model_seconds"] - commands


def leftovers(run_dir: Path) -> tuple[int, int]:
    """(containers, images) the soak left: its agents' (labelled with the run) and the harness's (named after
    the soak's instance ids). Counted by name, not as a difference: the engine may be shared."""
    agents = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=atlas.run_dir={run_dir.resolve()}"],
                            capture_output=True, text=True, check=True).stdout.split()
    names = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True,
                           check=True).stdout.split()
    images = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                            text=True, check=True).stdout.split()
    return len(agents) + sum("-soak" in n for n in names), sum("-soak" in i for i in images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--grade-workers", type=int, default=2)
    parser.add_argument("--root", type=Path, default=ROOT / "runs" / "_soak")
    options = parser.parse_args()
    shutil.rmtree(options.root, ignore_errors=True)
    dataset, scripts = soak_dataset(options.root / "input", options.instances)
    run_dir = options.root / "soak"
    watched = run_atlas(["dataset=file", f"dataset.path={dataset}", "model=scripted", f"model.scripts_dir={scripts}",
                         f"run.workers={options.workers}", f"harness.workers={options.grade_workers}",
                         f"run.root={options.root}", "run.name=soak"], run_dir, timeout=6 * 3600)
    assert watched.returncode in (0, 3), watched.stderr_tail
    done = statuses(run_dir)
    containers_left, images_left = leftovers(run_dir)
    graded = verdicts(run_dir)
    # medians of the 2-second samples while the first and the last 50 instances finished: one sample can
    # land on a grading process still importing the harness, or on the run closing its files at the end
    early = [s for s in watched.samples if 1 <= s.finished <= WINDOW]
    late = [s for s in watched.samples if len(done) - WINDOW <= s.finished < len(done)]
    head, tail = done[:WINDOW], done[-WINDOW:]
    size = subprocess.run(["du", "-sm", str(run_dir)], capture_output=True, text=True, check=True).stdout.split()[0]
    figures = {
        "instances": len(done), "graded": len(graded),
        "resolved": sum(v["resolved"] for v in graded.values()),
        "workers": options.workers, "grade_workers": options.grade_workers,
        "wall_s": watched.wall_seconds, "agent_phase_s": round(agent_phase_seconds(run_dir), 1),
        f"rss_mb_first_{WINDOW}": median(s.rss_mb for s in early), f"rss_mb_last_{WINDOW}": median(s.rss_mb for s in late),
        "rss_mb_peak": max(s.rss_mb for s in watched.samples),
        f"grading_processes_rss_mb_first_{WINDOW}": median(s.children_rss_mb for s in early),
        f"grading_processes_rss_mb_last_{WINDOW}": median(s.children_rss_mb for s in late),
        f"fds_first_{WINDOW}": median(s.fds for s in early), f"fds_last_{WINDOW}": median(s.fds for s in late),
        "fds_peak": max(s.fds for s in watched.samples),
        "containers_left": containers_left, "images_left": images_left,
        "run_folder_mb": int(size),
        f"overhead_s_first_{WINDOW}": round(fmean(overhead_seconds(run_dir, s) for s in head), 3),
        f"overhead_s_last_{WINDOW}": round(fmean(overhead_seconds(run_dir, s) for s in tail), 3),
        f"wall_s_first_{WINDOW}": round(fmean(s["wall_seconds"] for s in head), 3),
        f"wall_s_last_{WINDOW}": round(fmean(s["wall_seconds"] for s in tail), 3),
        f"grading_s_first_{WINDOW}": round(fmean(graded[s["instance_id"]]["grading_seconds"] for s in head), 3),
        f"grading_s_last_{WINDOW}": round(fmean(graded[s["instance_id"]]["grading_seconds"] for s in tail), 3),
    }
    (options.root / "soak.json").write_text(json.dumps({"figures": figures, "samples": [s.__dict__ for s in
                                                                                         watched.samples]}, indent=1))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
