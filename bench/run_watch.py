"""Run `atlas run` as a subprocess and watch it: wall time, resident memory and open files of it and its children.

Shared by bench.streaming and bench.soak. Everything is read from /proc (Linux), so the watch
itself costs no more than a directory listing every `interval` seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Sample:
    at: float  # seconds since the start
    rss_mb: float  # the atlas process
    children_rss_mb: float  # its grading processes (and any other child)
    fds: int  # open file descriptors of the atlas process
    finished: int  # instances with a status.json


@dataclass
class Watched:
    returncode: int
    wall_seconds: float
    samples: list[Sample] = field(default_factory=list)
    stderr_tail: str = ""


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for task in os.listdir(f"/proc/{pid}/task")
                for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return 0


def run_atlas(overrides: list[str], run_dir: Path, interval: float = 2.0, timeout: float = 7200) -> Watched:
    """`python -m atlas.cli run OVERRIDES`, sampled every `interval` seconds until it exits."""
    t0 = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "atlas.cli", "run", *overrides], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(process.stderr), daemon=True)
    reader.start()
    samples = []
    while process.poll() is None and time.monotonic() - t0 < timeout:
        finished = len(list((run_dir / "instances").glob("*/status.json"))) if run_dir.is_dir() else 0
        samples.append(Sample(round(time.monotonic() - t0, 1), round(_rss_mb(process.pid), 1),
                              round(sum(_rss_mb(c) for c in _children(process.pid)), 1), _fds(process.pid), finished))
        time.sleep(interval)
    if process.poll() is None:
        process.kill()
    process.wait()
    reader.join(timeout=5)
    return Watched(process.returncode, round(time.monotonic() - t0, 1), samples, "".join(stderr)[-4000:])


def statuses(run_dir: Path) -> list[dict]:
    """Every finished instance's status.json, in the order they finished."""
    found = [json.loads(p.read_text()) for p in (run_dir / "instances").glob("*/status.json")]
    return sorted(found, key=lambda s: s["finished_at"])


def agent_phase_seconds(run_dir: Path) -> float:
    """From the first instance's start to the last one's end."""
    found = statuses(run_dir)
    start = min(datetime.fromisoformat(s["started_at"]) for s in found)
    end = max(datetime.fromisoformat(s["finished_at"]) for s in found)
    return (end - start).total_seconds()


def verdicts(run_dir: Path) -> dict[str, dict]:
    path = run_dir / "results.json"
    return json.loads(path.read_text())["instances"] if path.is_file() else {}
