"""Check the bundled `scripted` model turns against the official harness.

For each sample task: start a container from its image, run each turn's bash command in
/testbed (as the bash scaffold would), take `git diff` against the base commit, and
finally grade all the patches with `swebench eval --task-repo`. Passes when the resolved
set equals the `expected_resolved` flags in atlas/sample_tasks/scripted/*.yaml.

Needs Docker and the swebench package; builds missing task images with the harness's
own image builder. Logs and the predictions file go to --workdir (a temp dir by default).

    python scripts/check_sample_scripts.py [-v] [-i INSTANCE_ID ...] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from swebench.task.repo import load_task_repo

ROOT = Path(__file__).resolve().parent.parent
TASK_REPO = ROOT / "atlas" / "sample_tasks"
# the bash scaffold's action format (agents/bash/agent.py): exactly one fenced bash block
ACTION_RE = re.compile(r"```bash[^\n]*\n(.*?)\n?```", re.DOTALL)
SUBMIT = "ATLAS_SUBMIT"
COMMAND_TIMEOUT = 120


def docker(*args: str, timeout: int = COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def parse_action(turn: str) -> str:
    blocks = ACTION_RE.findall(turn)
    if len(blocks) != 1 or not blocks[0].strip():
        raise ValueError(f"expected exactly one non-empty ```bash block, found {len(blocks)}:\n{turn}")
    return blocks[0].strip()


def ensure_images(tasks: list[dict], workdir: Path) -> None:
    """Build the images that are missing, as `swebench eval --task-repo` would."""
    from swebench.image_builder.docker_build import build_instance_images
    from swebench.image_builder.image_spec import get_image_specs_from_dataset
    from swebench.task.repo import load_dockerfiles, task_paths

    missing = [t for t in tasks if docker("image", "inspect", t["image"]).returncode != 0]
    if not missing:
        return
    ids = [t["instance_id"] for t in missing]
    specs = get_image_specs_from_dataset(
        missing, load_dockerfiles(TASK_REPO, ids), "swebench", "latest", task_paths(TASK_REPO, ids)
    )
    import docker as docker_sdk

    with contextlib.chdir(workdir):
        build_instance_images(client=docker_sdk.from_env(), image_specs=specs, max_workers=4)


def run_turns(task: dict, turns: list[str], verbose: bool) -> str:
    """Replay the turns in a fresh container; return its diff against the base commit."""
    started = docker("run", "-d", "--network", "none", task["image"], "sleep", "infinity")
    if started.returncode != 0:
        raise RuntimeError(f"{task['instance_id']}: cannot start a container: {started.stderr}")
    container = started.stdout.strip()
    try:
        for number, turn in enumerate(turns, start=1):
            command = parse_action(turn)
            done = docker("exec", "-w", "/testbed", container, "bash", "-c", command)
            output = done.stdout + done.stderr
            if verbose:
                print(f"--- {task['instance_id']} turn {number} (exit {done.returncode})\n$ {command}\n{output}")
            if output.lstrip().splitlines()[:1] == [SUBMIT]:
                if number != len(turns):
                    raise ValueError(f"{task['instance_id']}: submitted at turn {number} of {len(turns)}")
                break
        else:
            raise ValueError(f"{task['instance_id']}: the last turn does not submit")
        diff = f"git add -A && git -c core.fileMode=false diff --cached --no-color {task['base_commit']}"
        return docker("exec", "-w", "/testbed", container, "bash", "-c", diff).stdout
    finally:
        docker("rm", "-f", container)


def grade(predictions: list[dict], workdir: Path, run_id: str) -> dict:
    path = workdir / "preds.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in predictions))
    ids = [arg for p in predictions for arg in ("-i", p["instance_id"])]
    command = [
        sys.executable, "-c", "from swebench.cli.cli import main; main()",
        "eval", str(TASK_REPO), "-p", str(path), "--task-repo", str(TASK_REPO),
        "-j", "2", "--run-id", run_id, *ids,
    ]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"swebench eval failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads((workdir / f"scripted.{run_id}.json").read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--instance", action="append", help="only these instances (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every command and its output")
    parser.add_argument("--workdir", type=Path, help="where logs and preds.jsonl go (default: a temp dir)")
    parser.add_argument("--run-id", default="scripted")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="atlas-scripted-"))
    workdir.mkdir(parents=True, exist_ok=True)

    tasks = load_task_repo(TASK_REPO, args.instance)
    scripts = {t["instance_id"]: yaml.safe_load((TASK_REPO / "scripted" / f"{t['instance_id']}.yaml").read_text())
               for t in tasks}
    ensure_images(tasks, workdir)
    predictions = [
        {"instance_id": t["instance_id"], "model_name_or_path": "scripted",
         "model_patch": run_turns(t, scripts[t["instance_id"]]["turns"], args.verbose)}
        for t in tasks
    ]
    report = grade(predictions, workdir, args.run_id)
    resolved = set(report["resolved_ids"])
    failures = 0
    for task in tasks:
        iid = task["instance_id"]
        expected = bool(scripts[iid]["expected_resolved"])
        ok = (iid in resolved) == expected
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {iid}: resolved={iid in resolved} expected={expected}")
    print(f"{len(resolved)} of {len(tasks)} resolved; logs in {workdir}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
