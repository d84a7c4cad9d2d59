"""Grading as you go against batch-then-grade: wall time of each on the same instances.

    python -m bench.streaming [--workers 2] [--grade-workers 2] [--root runs/_bench_streaming]

Three runs of the scripted model on the bundled tasks, one after another:
1. agents only (`run.evaluate=false`): the agent phase;
2. `atlas evaluate` of that run: the batch grading phase (the harness's own batch, which
   first rebuilds the task images, as it always does for a task repo);
3. a streamed run (`harness.stream=true`, the default) of the same selection.
Batch-then-grade takes phase 1 + phase 2; the goal for the streamed run is at most
1.1 x max(agent phase, grading phase), with the grading phase also measured inside the
streamed run (its per-instance grading seconds over the grading workers).

`--wait-seconds W` makes each instance first run `sleep W` in its container: time the agent
waits without using this host's CPU, as an agent waits for a model on a GPU. The scripted
model alone is CPU-bound like the grading, so on a small host the two phases compete.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from atlas.datasets import BUNDLED_TASKS
from bench.run_watch import ROOT, agent_phase_seconds, run_atlas, verdicts


def waiting_scripts(folder: Path, seconds: float) -> Path:
    """The bundled scripts, each starting with a `sleep` turn (bash scaffold)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in (BUNDLED_TASKS / "scripted").glob("*.yaml"):
        script = yaml.safe_load(path.read_text())
        wait = f"THOUGHT: waiting, as for a model on a GPU.\n\n```bash\nsleep {seconds}\n```\n"
        script["turns"] = [wait, *script["turns"]]
        (folder / path.name).write_text(yaml.safe_dump(script))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--grade-workers", type=int, default=2)
    parser.add_argument("--root", type=Path, default=ROOT / "runs" / "_bench_streaming")
    parser.add_argument("--wait-seconds", type=float, default=0.0,
                        help="each instance first sleeps this long in its container (a stand-in for GPU time)")
    options = parser.parse_args()
    shutil.rmtree(options.root, ignore_errors=True)
    common = ["model=scripted", f"run.workers={options.workers}", f"harness.workers={options.grade_workers}",
              f"run.root={options.root}"]
    if options.wait_seconds:
        common.append(f"model.scripts_dir={waiting_scripts(options.root / 'scripts', options.wait_seconds)}")

    agents = run_atlas([*common, "run.name=agents", "run.evaluate=false"], options.root / "agents")
    assert agents.returncode == 0, agents.stderr_tail
    t0 = time.monotonic()
    graded = subprocess.run([sys.executable, "-m", "atlas.cli", "evaluate", str(options.root / "agents"),
                             "--workers", str(options.grade_workers)], cwd=ROOT, capture_output=True, text=True)
    batch_grading = time.monotonic() - t0
    assert graded.returncode == 0, graded.stderr[-3000:]

    streamed = run_atlas([*common, "run.name=streamed"], options.root / "streamed")
    assert streamed.returncode == 0, streamed.stderr_tail
    stream_verdicts = verdicts(options.root / "streamed")
    grading_in_stream = sum(v["grading_seconds"] for v in stream_verdicts.values()) / options.grade_workers
    agent_phase = agents.wall_seconds
    bound = 1.1 * max(agent_phase, batch_grading)
    same = ({k: v["outcome"] for k, v in stream_verdicts.items()}
            == {k: v["outcome"] for k, v in verdicts(options.root / "agents").items()})
    figures = {
        "instances": len(stream_verdicts), "wait_seconds": options.wait_seconds, "workers": options.workers, "grade_workers": options.grade_workers,
        "agent_phase_s (atlas run, run.evaluate=false)": agent_phase,
        "agent_phase_s (first start to last finish)": round(agent_phase_seconds(options.root / "agents"), 1),
        "batch_grading_s (atlas evaluate)": round(batch_grading, 1),
        "batch_then_grade_s": round(agent_phase + batch_grading, 1),
        "grading_phase_in_stream_s (sum of grading seconds / grade workers)": round(grading_in_stream, 1),
        "streamed_s": streamed.wall_seconds,
        "goal_s (1.1 x max(agent phase, batch grading))": round(bound, 1),
        "streamed_over_max_phase": round(streamed.wall_seconds / max(agent_phase, batch_grading), 2),
        "same_verdicts_as_batch": same,
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
