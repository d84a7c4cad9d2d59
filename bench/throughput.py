"""How much the framework costs and how busy it keeps a GPU: prints ratios measured in one run.

    python -m bench.throughput            # all parts
    python -m bench.throughput --quick    # shorter windows

1. Framework overhead per agent step (instant model, instant command), at step 1 and step 200.
2. Generation throughput against a stand-in server with continuous batching
   (bench.batching_server), as a share of its capacity, at workers = 1, 4, 8, 16.
3. Prompt-prefix reuse in the bash scaffold (share of each prompt the next one repeats).
4. Docker: container start to first command, and per-instance overhead, on the bundled tasks.

Agents, models (the real OpenAI SDK over HTTP), metering and trajectories are ATLAS's own;
only the container is replaced by a stub in parts 1-3 (a fixed sleep stands in for a command)
so that the figures measure ATLAS and the stand-in GPU, not Docker.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

from atlas.interfaces import Deadline
from atlas.agents.bash.agent import BashAgent
from atlas.config import EnvConfig
from atlas.datasets import Instance
from atlas.environments.docker import ExecResult
from atlas.models import make_model
from atlas.models.deterministic import ScriptedModel, turn
from atlas.models.metering import MeteredModel
from atlas.trajectory import Trajectory
from bench.batching_server import BatchingServer

INSTANCE = Instance(instance_id="bench__bench-1", repo="bench/bench", base_commit="0" * 40,
                    problem_statement="Benchmark instance: the agent lists files until its time is up.")
OUTPUT = "file.py\n" * 250  # about 2 KB per observation, so the history grows as in real runs


class StubEnvironment:
    """Stands in for a container: a command takes about `seconds` (0.5x to 1.5x, seeded) and prints OUTPUT."""

    def __init__(self, seconds: float, seed: int = 0):
        self.seconds = seconds
        self.rng = random.Random(seed)

    def execute(self, command: str, timeout: float) -> ExecResult:
        took = self.seconds * self.rng.uniform(0.5, 1.5)
        if took:
            time.sleep(took)
        return ExecResult(self.output(), 0, took)

    def output(self) -> str:
        return OUTPUT


class StampedModel(MeteredModel):
    """Records when each query arrives: the gaps are the framework's time per step."""

    def __init__(self, inner):
        super().__init__(inner)
        self.stamps: list[float] = []

    def query(self, messages, tools=None):
        self.stamps.append(time.perf_counter())
        return super().query(messages, tools)


def step_overhead(steps: int = 200) -> tuple[float, float]:
    """Mean ms per step over steps 1-10 and over the last 10 steps."""
    inner = ScriptedModel({"name": "instant", "backend": "scripted"}, [turn("look", "ls")] * (steps + 1))
    model = StampedModel(inner)
    with tempfile.TemporaryDirectory() as folder:
        trajectory = Trajectory(Path(folder) / "trajectory.jsonl")
        BashAgent({"name": "bash", "step_limit": steps}).run(model, StubEnvironment(0), INSTANCE, trajectory,
                                                             Deadline(3600))
        trajectory.close()
    gaps = [b - a for a, b in zip(model.stamps, model.stamps[1:])]
    return statistics.mean(gaps[:10]) * 1000, statistics.mean(gaps[-10:]) * 1000


def throughput(workers: int, seconds: float, warmup: float, command_s: float,
               per_stream: float, capacity: float) -> tuple[float, float]:
    """(share of server capacity used in the window, mean prefix reuse)."""
    server = BatchingServer(per_stream, capacity, turn("look", "ls"), completion_tokens=100).start()
    backend = make_model({"name": "bench", "backend": "openai", "model": "bench", "base_url": server.base_url,
                          "stream": False, "timeout": 120})
    backend.open(None)
    reuse: list[float] = []
    start = time.monotonic()

    def agent(seed: int) -> None:
        model = MeteredModel(backend)
        with tempfile.TemporaryDirectory() as folder:
            trajectory = Trajectory(Path(folder) / "t.jsonl")
            BashAgent({"name": "bash", "step_limit": 10_000}).run(
                model, StubEnvironment(command_s, seed), INSTANCE, trajectory, Deadline(seconds))
            trajectory.close()
        if model.prefix_reuse() is not None:
            reuse.append(model.prefix_reuse())

    threads = [threading.Thread(target=agent, args=(seed,)) for seed in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    window = (start + warmup, start + seconds - 0.5)
    used = server.tokens_between(*window) / (capacity * (window[1] - window[0]))
    server.stop()
    return used, statistics.mean(reuse)


def docker_overhead(count: int = 3) -> tuple[float, float] | None:
    """(seconds from container start to first command output, seconds of Docker work per instance)."""
    from atlas.config import DatasetConfig
    from atlas.datasets import load_instances
    from atlas.environments import DockerEnvironment, EnvError, docker_client
    from atlas.images import image_exists

    try:
        client = docker_client()
    except EnvError:
        return None
    instances = load_instances(DatasetConfig(name="s", source="task_repo", path="bundled"))
    instances = [i for i in instances if image_exists(client, i.image_name())][:count]
    if not instances:
        return None
    first, total = [], []
    for instance in instances:
        began = time.perf_counter()
        env = DockerEnvironment(instance.image_name(), EnvConfig(), {"atlas.run_dir": "bench"}, client)
        env.start()
        env.execute("true", 30)
        first.append(time.perf_counter() - began)
        env.diff(instance.base_commit)
        env.close()
        total.append(time.perf_counter() - began)
    return statistics.mean(first), statistics.mean(total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter measurement windows")
    parser.add_argument("--per-stream", type=float, default=200.0, help="stand-in tokens/s for one request")
    parser.add_argument("--capacity", type=float, default=800.0, help="stand-in tokens/s at saturation")
    parser.add_argument("--command-s", type=float, default=0.25, help="seconds each stub command takes")
    options = parser.parse_args()
    seconds, warmup = (6.0, 1.5) if options.quick else (12.0, 2.0)

    first, last = step_overhead()
    print(f"framework overhead per step: step 1-10 {first:.2f} ms, step 191-200 {last:.2f} ms, "
          f"ratio {last / first:.2f} (target <= 2)")
    print(f"stand-in server: {options.per_stream:.0f} tok/s per request, capacity {options.capacity:.0f} tok/s "
          f"(saturated from {options.capacity / options.per_stream:.0f} concurrent requests); "
          f"50-150 tokens per answer, {options.command_s / 2}-{options.command_s * 1.5}s per command")
    reuse_all = []
    for workers in (1, 4, 8, 16):
        used, reuse = throughput(workers, seconds, warmup, options.command_s, options.per_stream, options.capacity)
        reuse_all.append(reuse)
        target = " (target >= 0.90)" if workers == 8 else ""
        print(f"workers={workers:>2}: generation throughput {used:.3f} of capacity{target}; prefix reuse {reuse:.4f}")
    print(f"prefix reuse, bash scaffold, after the first request: {min(reuse_all):.4f} (target >= 0.99)")
    docker = docker_overhead()
    if docker is None:
        print("docker: no engine or no sample-task images (run `atlas images build`); skipped")
    else:
        print(f"docker: container start to first command {docker[0]:.3f} s; "
              f"per-instance Docker overhead (start, first command, diff, removal) {docker[1]:.3f} s")


if __name__ == "__main__":
    main()
