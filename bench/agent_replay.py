"""Agent traffic through ATLAS's real agent loop and vLLM backend, against vLLM's own capacity on the same server.

`replay` runs N workers of ATLAS's bash scaffold (BashAgent, MeteredModel, the vLLM backend with
its /tokenize pre-check) against a served model. Dummy weights write noise, so `ReplayModel`
keeps the model's own text in the history and appends one command; `CodeEnvironment` stands in
for the container: each command takes `command_s` (0.5x-1.5x) and prints a different slice of
this repository's source, so every agent's history is its own. An episode starts at about
`prompt_tokens` (system prompt and a long issue text) and grows by one answer and one
observation a step until it has taken its steps; then the worker starts the next. Both follow
real mini-swe-agent trajectories: a step adds about 1,050 characters (the answer the model
writes, 150 tokens here, and a 500-byte observation; REAL_STEP_CHARS), and each episode's steps
are drawn from what real agents took (PUBLISHED_STEPS: every instance's model calls on the
SWE-bench bash-only board), cut at the scaffold's step limit (`step_limit`, the bash
scaffold's 50 by default) and at the server's window, as a run's instances end.

Steady state from the first second: each worker's first episode begins at a random step, its
earlier turns given as a prelude the server sees (and prefills once, during the warm-up), so
the window sees histories of every length, as a long batch run does.

During the window /metrics is read twice (throughput, prefix-cache hits, preemptions) and
every half second (requests running and waiting: the concurrency the server really saw).
`bench_serve` then runs `vllm bench serve` on the same server with the same shape: one shared
prefix per agent (`prefix_repetition`), the replay's mean prompt and per-turn growth, the same
output length and concurrency, no time between requests.
"""

from __future__ import annotations

import contextlib
import json
import random
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Callable

from atlas.agents.bash.agent import BashAgent
from atlas.datasets import Instance
from atlas.interfaces import Deadline
from atlas.models.base import Model
from atlas.models.metering import MeteredModel
from atlas.trajectory import Trajectory
from bench.throughput import StubEnvironment
from bench.vllm_log import parse_metrics, prefix_hit_rate

SOURCE = Path(__file__).resolve().parent.parent / "atlas"
CHARS_PER_TOKEN = 3.9  # the bench tokenizer on Python code (bench/gpu_models.py)
# Model calls per instance of real mini-swe-agent runs on SWE-bench Verified (500 instances each,
# step limit 250): the 5th, 15th, ..., 95th percentiles of `api_calls` in SWE-bench/swe-bench.github.io
# data/leaderboards.json, bash-only board (excerpt in tests/fixtures/published/). Devstral Small 2
# (folder 20251209_mini-v1.17.2_devstral-small-2512): median 67, mean 86.9; Qwen2.5-Coder-32B
# (20250803_mini-v1.0.0_qwen2-5-coder-32b-instruct): median 27, mean 48.2.
PUBLISHED_STEPS = {
    "devstral-small-2512": (34, 44, 50, 56, 62, 71, 79, 98, 123, 250),
    "qwen2.5-coder-32b": (6, 11, 14, 19, 24, 31, 38, 51, 82, 233),
}
DEFAULT_STEPS = "devstral-small-2512"
# History growth per step in 99 real mini-swe-agent trajectories (deepseek-chat, SWE-bench test
# instances, step limit 250; the SWE-agent/mini-swe-agent repository network, commit ec0e8e84,
# output/deepseek_chat_test_1-100): answer + observation characters per step, per instance,
# median 1,051, 90th percentile 1,414 (answers: median 75, p90 585; observations: median 427,
# p90 2,058); the first prompt 5,525; steps median 73, mean 80.0. At about 3.5 characters a
# token, the 90th percentile is the planner's 400 tokens a step (gpu.tokens_per_step).
REAL_STEP_CHARS = {"median": 1051, "p90": 1414}


def episode_steps(rng: random.Random, step_limit: int, fits: int, source: str = DEFAULT_STEPS) -> int:
    """One episode's steps: a real instance's, cut at the step limit and at the steps the window holds."""
    return max(1, min(rng.choice(PUBLISHED_STEPS[source]), step_limit, fits))


def expected_steps(step_limit: int, fits: int, source: str = DEFAULT_STEPS) -> float:
    """The mean steps per instance under those cuts: the figure instances per hour is computed with."""
    return statistics.mean(max(1, min(s, step_limit, fits)) for s in PUBLISHED_STEPS[source])


def corpus() -> list[str]:
    """Lines of this repository's own Python source: the text observations and issues are cut from."""
    lines = [line.replace("```", "'''") for path in sorted(SOURCE.rglob("*.py")) for line in path.read_text().splitlines()
             if line.strip()]
    if len(lines) < 1000:
        raise RuntimeError(f"only {len(lines)} source lines under {SOURCE}: the replay needs its text")
    return lines


def cut(lines: list[str], rng: random.Random, chars: int) -> str:
    """About `chars` characters of consecutive lines from a random place."""
    start, text = rng.randrange(len(lines)), []
    while sum(len(t) + 1 for t in text) < chars:
        text.append(lines[start % len(lines)])
        start += 1
    return "\n".join(text)


class CodeEnvironment(StubEnvironment):
    """A container stand-in: a command takes command_s (0.5x-1.5x) and prints about `observation_bytes` of code."""

    def __init__(self, lines: list[str], command_s: float, observation_bytes: int, seed: int):
        super().__init__(command_s, seed)
        self.lines, self.observation_bytes = lines, observation_bytes

    def output(self) -> str:
        return cut(self.lines, self.rng, self.observation_bytes)


class ReplayModel(Model):
    """The served model, its noise kept in the history with one command appended; a prelude stands for earlier turns."""

    def __init__(self, inner: Model, prelude: list[dict], log: list, worker: int, episode: int, lines: list[str]):
        super().__init__({"name": inner.name})
        self.inner, self.prelude, self.log, self.worker, self.episode = inner, prelude, log, worker, episode
        self.lines = lines

    def sent(self, messages: list[dict]) -> list[dict]:
        """The conversation the server sees: the prelude after the system prompt and the issue, before the steps."""
        return [*messages[:2], *self.prelude, *messages[2:]]

    def query(self, messages, tools=None):
        began = time.monotonic()
        response = self.inner.query(self.sent(messages), tools)
        self.log.append({"worker": self.worker, "episode": self.episode, "prompt_tokens": response.usage.prompt_tokens,
                         "cached_tokens": response.usage.cached_prompt_tokens, "latency_s": response.latency_s,
                         "ttft_s": response.ttft_s, "at": began})
        # Dummy weights write random tokens, whose text re-tokenizes to several times as many
        # (1,460 tokens a turn on the H100 instead of about 550): the history keeps as much
        # code-like text as the model generated, as a real model's answer re-tokenizes to about
        # its own tokens, then a new command each step (the scaffold ends an episode that
        # repeats one command).
        step = len(self.log)
        text = cut(self.lines, random.Random(f"{self.worker}-{self.episode}-{step}"),
                   int(response.usage.completion_tokens * CHARS_PER_TOKEN))
        response.content = f"{text}\n\n```bash\nsed -n '{step},+40p' src.py\n```"
        return response

    def count_tokens(self, messages, tools=None):
        return self.inner.count_tokens(self.sent(messages), tools)

    @property
    def context_window(self):
        return getattr(self.inner, "context_window", None)


def prelude_turns(lines: list[str], rng: random.Random, steps: int, observation_bytes: int) -> list[dict]:
    """`steps` earlier turns (an answer with a command, then its output), as an agent mid-episode has."""
    turns = []
    for _ in range(steps):
        turns += [{"role": "assistant", "content": cut(lines, rng, 500) + "\n\n```bash\nls\n```"},
                  {"role": "user", "content": cut(lines, rng, observation_bytes)}]
    return turns


def scrape(base_url: str) -> dict[str, float]:
    root = base_url.rsplit("/v1", 1)[0]
    with urllib.request.urlopen(f"{root}/metrics", timeout=10) as reply:
        return parse_metrics(reply.read().decode())


class ConcurrencySampler(threading.Thread):
    """Requests running and waiting on the server, every half second: the concurrency it actually served."""

    def __init__(self, base_url: str, interval: float = 0.5, memory: Callable[[], int | None] | None = None):
        super().__init__(daemon=True)
        self.base_url, self.interval, self.samples, self.stopped = base_url, interval, [], threading.Event()
        self.memory, self.memory_mib = memory, []  # the serving process's GPU memory, when a reader is given

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                metrics = scrape(self.base_url)
            except OSError:
                continue
            self.samples.append((metrics.get("vllm:num_requests_running", 0.0), metrics.get("vllm:num_requests_waiting", 0.0),
                                 metrics.get("vllm:kv_cache_usage_perc", 0.0)))
            if self.memory is not None and (mib := self.memory()) is not None:
                self.memory_mib.append(mib)

    def summary(self) -> dict:
        if not self.samples:
            return {}
        running, waiting, kv = zip(*self.samples)
        return {"running_mean": round(statistics.mean(running), 2), "waiting_mean": round(statistics.mean(waiting), 2),
                "kv_usage_max": round(max(kv), 3), "process_mib_max": max(self.memory_mib) if self.memory_mib else None}


def replay(backend, base_url: str, workers: int, seconds: float, warmup: float, command_s: float,
           observation_bytes: int = 500, prompt_tokens: int = 4000, seed: int = 0,
           memory: Callable[[], int | None] | None = None, step_limit: int = 50) -> dict:
    """One window of `workers` agents against the server; figures from vLLM's /metrics over the window.

    Every episode ends at its drawn steps (episode_steps); a first episode starts mid-way, its
    earlier steps given as a prelude, so the window sees histories of every length at once."""
    lines = corpus()
    log: list[dict] = []
    endings: dict[str, int] = {}
    reuse: list[float] = []
    lock = threading.Lock()
    end = time.monotonic() + warmup + seconds
    window = backend.context_window or 32768
    step_tokens = (observation_bytes + 600) / CHARS_PER_TOKEN
    fits = max(1, int((window - prompt_tokens) / step_tokens))  # steps the server's window holds
    issue_chars = int(prompt_tokens * CHARS_PER_TOKEN) - 2500  # the bash scaffold's prompts take about 2,500 characters

    def worker(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        episode = 0
        while (left := end - time.monotonic()) > 1:
            steps = episode_steps(rng, step_limit, fits)
            done = rng.randrange(steps) if episode == 0 else 0  # steps a first episode took before the window
            prelude = prelude_turns(lines, rng, done, observation_bytes)
            task = Instance(instance_id=f"bench__replay-{index}-{episode}", repo="bench/replay", base_commit="0" * 40,
                            problem_statement=cut(lines, rng, issue_chars))
            model = MeteredModel(ReplayModel(backend, prelude, log, index, episode, lines))
            with tempfile.TemporaryDirectory() as folder:
                trajectory = Trajectory(Path(folder) / "t.jsonl")
                try:
                    outcome = BashAgent({"name": "bash", "step_limit": steps - done}).run(
                        model, CodeEnvironment(lines, command_s, observation_bytes, rng.randrange(2**31)), task,
                        trajectory, Deadline(left))
                    ending = str(getattr(outcome.status, "value", outcome.status))
                except Exception as error:  # noqa: BLE001 - counted and reported
                    ending = f"error: {type(error).__name__}: {str(error)[:200]}"
                trajectory.close()
            with lock:
                endings[ending] = endings.get(ending, 0) + 1
                if model.prefix_reuse() is not None:
                    reuse.append(model.prefix_reuse())
            episode += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    time.sleep(warmup)
    began, before = time.monotonic(), scrape(base_url)
    sampler = ConcurrencySampler(base_url, memory=memory)
    sampler.start()
    for thread in threads:
        thread.join()
    finished, after = time.monotonic(), scrape(base_url)
    sampler.stopped.set()
    span = finished - began
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    in_window = [r for r in log if r["at"] >= began]
    growth = per_turn_growth(log)
    requests = delta.get("vllm:request_success_total", 0.0)
    latency = statistics.mean(r["latency_s"] for r in in_window) if in_window else None
    result = {"workers": workers, "window_s": round(span, 1), "command_s": command_s,
              "generation_tok_s": round(delta.get("vllm:generation_tokens_total", 0.0) / span, 1),
              "prompt_tok_s": round(delta.get("vllm:prompt_tokens_total", 0.0) / span, 1),
              "requests": requests, "mean_prompt_tokens": round(delta.get("vllm:prompt_tokens_total", 0.0) / requests)
              if requests else None,
              "turn_growth_tokens": round(statistics.median(growth)) if growth else None,
              "prefix_cache_hit_rate": prefix_hit_rate(before, after),
              "preemptions": delta.get("vllm:num_preemptions_total"), **sampler.summary(),
              "latency_s_mean": latency and round(latency, 3),
              # the agents' time spent waiting on the model; the rest went to commands and ATLAS's loop
              "model_time_share": round(sum(r["latency_s"] for r in in_window) / (workers * span), 3) if in_window else None,
              "ttft_s_median": round(statistics.median(r["ttft_s"] for r in in_window if r["ttft_s"]), 3)
              if any(r["ttft_s"] for r in in_window) else None,
              "episodes": endings, "client_prefix_reuse": round(statistics.mean(reuse), 4) if reuse else None,
              "step_limit": step_limit,
              # the mean steps of an instance: real agents' steps, cut at the step limit and the window
              "steps_per_instance": round(expected_steps(step_limit, max(1, int((window - prompt_tokens) / statistics.median(growth)))
                                                         if growth else fits), 1)}
    if latency is not None:
        # a typical instance: its mean steps, one step = a turn and a command
        result["instances_per_hour"] = round(3600 * workers / (result["steps_per_instance"] * (latency + command_s)), 1)
    return result


def per_turn_growth(log: list[dict]) -> list[int]:
    """Prompt tokens each turn added to its episode's previous prompt (the new answer and observation)."""
    by_episode: dict[tuple, list[dict]] = {}
    for entry in log:
        by_episode.setdefault((entry["worker"], entry["episode"]), []).append(entry)
    return [b["prompt_tokens"] - a["prompt_tokens"] for turns in by_episode.values()
            for a, b in zip(turns, turns[1:]) if b["prompt_tokens"] > a["prompt_tokens"]]


def bench_serve(launcher: str, base_url: str, served: str, model_dir: Path, out: Path, concurrency: int,
                prompt_tokens: int, growth_tokens: int, output_len: int, per_prefix: int = 10,
                name: str | None = None) -> dict:
    """`vllm bench serve` with the replay's shape: `concurrency` prefixes (one per agent), each sent `per_prefix` times."""
    root = base_url.rsplit("/v1", 1)[0]
    name = name or f"bench-serve-c{concurrency}"
    prefix_len = max(1, prompt_tokens - growth_tokens)
    argv = ["--backend", "openai-chat", "--base-url", root, "--endpoint", "/v1/chat/completions",
            "--model", served, "--tokenizer", str(model_dir), "--dataset-name", "prefix_repetition",
            "--prefix-repetition-prefix-len", str(prefix_len),
            "--prefix-repetition-suffix-len", str(growth_tokens), "--prefix-repetition-num-prefixes", str(concurrency),
            "--prefix-repetition-output-len", str(output_len), "--num-prompts", str(concurrency * per_prefix),
            "--max-concurrency", str(concurrency), "--ignore-eos", "--save-result", "--result-dir", str(out),
            "--result-filename", f"{name}.json"]
    log = out / f"{name}.log"
    try:
        run_vllm_bench(launcher, argv, log)
    except Exception as error:  # noqa: BLE001 - reported in the record; the other concurrencies still run
        return {"concurrency": concurrency, "error": f"{type(error).__name__}: {error}"[:800]}
    result_file = out / f"{name}.json"
    if not result_file.is_file():
        return {"concurrency": concurrency, "error": log.read_text(errors="replace")[-1500:]}
    result = json.loads(result_file.read_text())
    keys = ("output_throughput", "total_token_throughput", "request_throughput", "median_ttft_ms", "median_tpot_ms",
            "completed", "duration")
    return {"concurrency": concurrency, "prefix_len": prefix_len, "suffix_len": growth_tokens,
            "output_len": output_len, **{k: result.get(k) for k in keys}}


def run_vllm_bench(launcher: str, argv: list[str], log: Path) -> None:
    """`vllm bench serve ARGV`: in this process when vLLM imports here (no 10 s start per run), else the launcher."""
    try:
        from vllm.benchmarks.serve import add_cli_args, main
        from vllm.utils.argparse_utils import FlexibleArgumentParser
    except ImportError:
        done = subprocess.run([launcher, "bench", "serve", *argv], capture_output=True, text=True, timeout=240)
        log.write_text(done.stdout + done.stderr)
        return
    parser = FlexibleArgumentParser()
    add_cli_args(parser)
    with open(log, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        main(parser.parse_args(argv))


def at_concurrency(points: dict[float, float], concurrency: float) -> float | None:
    """vLLM's output tok/s at a (fractional) concurrency, linear between the measured ones (0 at 0)."""
    known = sorted({0.0: 0.0, **points}.items())
    for (c0, t0), (c1, t1) in zip(known, known[1:]):
        if c0 <= concurrency <= c1:
            return t0 + (t1 - t0) * (concurrency - c0) / (c1 - c0)
    return None


def ratios(replays: list[dict], serves: list[dict | None]) -> list[dict]:
    """ATLAS's generation tok/s over vLLM's own: at the same number of agents, and at the concurrency the server saw.

    `serves[i]` is `vllm bench serve` at replay i's concurrency, with its shape where it was run for
    it (else None: the first run at that concurrency is used). The interpolation between
    concurrencies uses the first run at each."""
    points: dict[int, float] = {}
    for serve in serves:
        if serve and serve.get("output_throughput"):
            points.setdefault(serve["concurrency"], serve["output_throughput"])
    rows = []
    for r, serve in zip(replays, serves):
        same = serve.get("output_throughput") if serve else points.get(r["workers"])
        seen = r.get("running_mean", 0.0) + r.get("waiting_mean", 0.0)
        at_seen = at_concurrency(points, seen)
        rows.append({"workers": r["workers"], "command_s": r["command_s"], "generation_tok_s": r["generation_tok_s"],
                     "model_time_share": r.get("model_time_share"),
                     "vllm_same_workers_tok_s": same, "ratio_same_workers": same and round(r["generation_tok_s"] / same, 3),
                     "server_concurrency": round(seen, 2), "vllm_at_server_concurrency_tok_s": at_seen and round(at_seen, 1),
                     "ratio_at_server_concurrency": at_seen and round(r["generation_tok_s"] / at_seen, 3)})
    return rows
