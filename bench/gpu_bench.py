"""vLLM on a real GPU, with dummy weights: planner against vLLM's KV cache, ATLAS's managed path, agent traffic.

    python -m bench.gpu_bench kv --models models/ --preset qwen2.5-coder-14b-awq --card 16 --card 24 --out DIR
    python -m bench.gpu_bench managed --models models/ --preset qwen2.5-coder-14b-awq --card 16 --out DIR

Model folders come from `python -m bench.gpu_models` (each preset's config.json and a local
tokenizer); `--load-format dummy` gives the real memory footprint and speed without weights.
A smaller card is emulated on a larger one by scaling --gpu-memory-utilization: vLLM sizes
its KV cache as total memory x utilization minus what the weights, activations and graphs
took, so `card x 0.90 / total` on the large card leaves the KV cache the small card would get.

`kv` starts `vllm serve` once per card size with the planner's --max-model-len and reads the
log's memory lines (weights, KV memory, KV tokens), stopping the server as soon as they are
written. `managed` runs ATLAS's own VLLMModel: open (start and wait), a chat turn, a forced
tool call, agent traffic (ATLAS's bash scaffold, stub commands) at several worker counts with
/metrics read before and after each window, optionally `vllm bench serve` at the same
concurrency, then close, timing the start and stop and checking the GPU memory is freed.
Results are JSON lines under --out, the server logs beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import yaml

from bench.vllm_log import parse_log, parse_metrics, prefix_hit_rate

CONF = Path(__file__).resolve().parent.parent / "conf"


def conf_dir() -> Path:
    """The model presets: this checkout's conf/, else the installed atlas.conf package."""
    if (CONF / "model").is_dir():
        return CONF
    import atlas.conf
    return Path(list(atlas.conf.__path__)[0])


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_preset(name: str) -> dict:
    """A model preset with its `defaults` chain applied (what Hydra composes for `model=<name>`)."""
    data = yaml.safe_load((conf_dir() / "model" / f"{name}.yaml").read_text())
    defaults = data.pop("defaults", [])
    if "_self_" not in defaults:
        defaults = [*defaults, "_self_"]  # Hydra's default: the file's own keys come last
    composed: dict = {}
    for item in defaults:
        composed = merge(composed, load_preset(item) if item != "_self_" else data)
    return composed


def gpu_total_gib() -> float:
    out = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[0]) / 1024


def gpu_used_mib() -> int:
    out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def emulated_utilization(card_gib: float, utilization: float, total_gib: float) -> float:
    """--gpu-memory-utilization on this card that requests what `utilization` requests on a `card_gib` card."""
    return round(card_gib * utilization / total_gib, 4)


def server_args(preset: dict) -> list[str]:
    """The preset's server flags that shape memory (quantization, dtype); format-specific extras are dropped."""
    server = preset.get("server") or {}
    args = []
    if server.get("quantization"):
        args += ["--quantization", server["quantization"]]
    if server.get("dtype"):
        args += ["--dtype", server["dtype"]]
    return args


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- kv


def kv_probe(launcher: str, model_dir: Path, preset_name: str, card: float, out: Path, timeout: float) -> dict:
    from atlas.planner import Architecture, GpuConfig, plan

    preset = load_preset(preset_name)
    arch = Architecture.model_validate(preset["architecture"])
    gpu = GpuConfig(vram_gb=card)
    planned = plan(arch, gpu, preset["server"].get("kv_cache_dtype", "auto"))
    total = gpu_total_gib()
    utilization = emulated_utilization(card, gpu.gpu_memory_utilization, total)
    max_len = gpu.min_context  # the KV cache vLLM makes does not depend on it; a small one always starts
    log_path = out / f"kv-{preset_name}-{card:g}.log"
    argv = [launcher, "serve", str(model_dir), "--load-format", "dummy", "--port", str(free_port()),
            "--max-model-len", str(max_len), "--gpu-memory-utilization", str(utilization),
            "--served-model-name", preset_name, *server_args(preset)]
    record = {"preset": preset_name, "card_gib": card, "gpu_total_gib": round(total, 2),
              "emulated_utilization": utilization, "argv": argv, "planner": vars(planned)}
    started = time.monotonic()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        while time.monotonic() - started < timeout and process.poll() is None:
            time.sleep(1)
            if "Maximum concurrency for" in log_path.read_text(errors="replace"):
                break
        record["seconds_to_kv"] = round(time.monotonic() - started, 1)
        record["exit_code"] = process.poll()
        _stop_group(process)
    text = log_path.read_text(errors="replace")
    record["vllm"] = parse_log(text)
    if "kv_tokens" not in record["vllm"]:
        record["error_tail"] = text.splitlines()[-15:]
    return record


def _stop_group(process: subprocess.Popen, wait: float = 20) -> None:
    for sig, seconds in ((signal.SIGTERM, wait), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(seconds)
            return
        except subprocess.TimeoutExpired:
            continue


# ---------------------------------------------------------------- managed


def managed_model(launcher: str, model_dir: Path, preset_name: str, card: float, extra_body: dict | None = None,
                  overhead_gib: float | None = None):
    from atlas.models import make_model
    from atlas.planner import GpuConfig

    preset = load_preset(preset_name)
    gpu = GpuConfig(vram_gb=card) if overhead_gib is None else GpuConfig(vram_gb=card, overhead_gib=overhead_gib)
    server = dict(preset["server"])
    server.update(command=[launcher, "serve"], weights=str(model_dir), extra_args=["--load-format", "dummy"],
                  gpu_memory_utilization=emulated_utilization(card, gpu.gpu_memory_utilization, gpu_total_gib()),
                  env={"VLLM_USE_FLASHINFER_SAMPLER": "0"}, startup_timeout=540)
    config = {**preset, "server": server, "retry_initial_wait": 0.5, "timeout": 300}
    if extra_body:
        config["extra_body"] = extra_body
    return make_model(config, gpu=gpu)


class CommandingModel:
    """Wraps a served model for agent traffic: keeps the model's own (noise) text, then appends one command.

    Dummy weights write no usable command; appending one keeps ATLAS's bash scaffold stepping
    while every prompt still carries what the server generated, as a real history does.
    """

    def __new__(cls, inner, sink: list):
        from atlas.models.base import Model

        class _Commanding(Model):
            def __init__(self, inner):
                super().__init__({"name": inner.name})
                self.inner = inner

            def query(self, messages, tools=None):
                response = self.inner.query(messages, tools)
                sink.append((response.latency_s, response.ttft_s))
                response.content = response.content.replace("```", "'''") + "\n\n```bash\nls\n```"
                return response

        return _Commanding(inner)


def agent_traffic(backend, base_url: str, workers: int, seconds: float, warmup: float, command_s: float) -> dict:
    from atlas.agents.base import Deadline
    from atlas.agents.bash.agent import BashAgent
    from atlas.models.metering import MeteredModel
    from atlas.trajectory import Trajectory
    from atlas.datasets import Instance
    from bench.throughput import INSTANCE, StubEnvironment

    stats = {"endings": {}, "reuse": []}
    timings: list[tuple[float, float | None]] = []
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def worker(seed: int) -> None:
        episode = 0
        while (left := end - time.monotonic()) > 1:
            model = MeteredModel(CommandingModel(backend, timings))
            with tempfile.TemporaryDirectory() as folder:
                trajectory = Trajectory(Path(folder) / "t.jsonl")
                try:
                    outcome = BashAgent({"name": "bash", "step_limit": 10_000}).run(
                        model, StubEnvironment(command_s, seed * 1000 + episode), own_task(seed, episode),
                        trajectory, Deadline(left))
                    ending = getattr(outcome, "status", type(outcome).__name__)
                    ending = getattr(ending, "value", ending)
                except Exception as error:  # noqa: BLE001 - counted and reported
                    ending = f"error: {type(error).__name__}: {str(error)[:200]}"
                trajectory.close()
            with lock:
                stats["endings"][str(ending)] = stats["endings"].get(str(ending), 0) + 1
                if model.prefix_reuse() is not None:
                    stats["reuse"].append(model.prefix_reuse())
            episode += 1

    def own_task(seed: int, episode: int):
        """Each agent its own task text: histories part after the system prompt, as real agents' do
        (identical agents would share every prefix block and hide the KV cache's limit)."""
        words = random.Random(seed * 7919 + episode).choices(INSTANCE.problem_statement.split() * 4, k=120)
        return Instance(instance_id=f"bench__bench-{seed}-{episode}", repo=INSTANCE.repo,
                        base_commit=INSTANCE.base_commit, problem_statement=" ".join(words))

    before_window = [None]

    def mark() -> None:
        before_window[0] = (time.monotonic(), scrape(base_url))

    timer = threading.Timer(warmup, mark)
    timer.start()
    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished = time.monotonic()
    after = scrape(base_url)
    began, before = before_window[0]
    window = finished - began
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    return {"workers": workers, "window_s": round(window, 1),
            "generation_tok_s": round(delta.get("vllm:generation_tokens_total", 0) / window, 1),
            "prompt_tok_s": round(delta.get("vllm:prompt_tokens_total", 0) / window, 1),
            "requests": delta.get("vllm:request_success_total"),
            "prefix_cache_hit_rate": prefix_hit_rate(before, after),
            "preemptions": delta.get("vllm:num_preemptions_total"),
            "client_steps": len(timings), "episodes": stats["endings"],
            "latency_s_median": round(statistics.median(t[0] for t in timings), 3) if timings else None,
            "ttft_s_median": round(statistics.median(t[1] for t in timings if t[1]), 3)
            if any(t[1] for t in timings) else None,
            "client_prefix_reuse": statistics.mean(stats["reuse"]) if stats["reuse"] else None}


def scrape(base_url: str) -> dict[str, float]:
    root = base_url.rsplit("/v1", 1)[0]
    with urllib.request.urlopen(f"{root}/metrics", timeout=10) as reply:
        return parse_metrics(reply.read().decode())


def bench_serve(launcher: str, base_url: str, served: str, model_dir: Path, concurrency: int, out: Path,
                input_len: int, output_len: int, prompts: int) -> dict:
    root = base_url.rsplit("/v1", 1)[0]
    argv = [launcher, "bench", "serve", "--backend", "openai-chat", "--base-url", root, "--endpoint",
            "/v1/chat/completions", "--model", served, "--tokenizer", str(model_dir), "--dataset-name", "random",
            "--random-input-len", str(input_len), "--random-output-len", str(output_len), "--num-prompts",
            str(prompts), "--max-concurrency", str(concurrency), "--ignore-eos", "--save-result",
            "--result-dir", str(out), "--result-filename", f"bench-serve-c{concurrency}.json"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    (out / f"bench-serve-c{concurrency}.log").write_text(done.stdout + done.stderr)
    result_file = out / f"bench-serve-c{concurrency}.json"
    if not result_file.is_file():
        return {"concurrency": concurrency, "error": (done.stdout + done.stderr)[-1500:]}
    result = json.loads(result_file.read_text())
    keys = ("output_throughput", "total_token_throughput", "request_throughput", "median_ttft_ms", "median_tpot_ms",
            "completed", "duration")
    return {"concurrency": concurrency, "input_len": input_len, "output_len": output_len,
            **{k: result.get(k) for k in keys}}


def managed(options: argparse.Namespace, emit) -> None:
    out = Path(options.out)
    model_dir = Path(options.models) / options.preset
    idle_mib = gpu_used_mib()
    model = managed_model(options.launcher, model_dir, options.preset, options.card,
                          extra_body={"ignore_eos": True}, overhead_gib=options.overhead_gib)
    model.settings = model.settings.model_copy(update={"max_tokens": options.max_tokens})
    run_dir = out / "managed"
    run_dir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    model.open(run_dir)
    opened = time.monotonic() - began
    base_url = model.server.base_url
    record = {"preset": options.preset, "card_gib": options.card, "open_s": round(opened, 1),
              "gpu_idle_mib": idle_mib, "gpu_serving_mib": gpu_used_mib(),
              "argv": model.describe()["managed_server"]["argv"], "vram_plan": model.describe().get("vram_plan")}
    record["vllm_log"] = parse_log((run_dir / "vllm.log").read_text(errors="replace"))
    chat = model.query([{"role": "user", "content": "Write a Python function that adds two numbers."}])
    record["chat"] = {"chars": len(chat.content), "usage": chat.usage.model_dump(), "latency_s": chat.latency_s,
                      "ttft_s": chat.ttft_s, "finish_reason": chat.finish_reason}
    tool = {"type": "function", "function": {"name": "bash", "description": "Run a shell command.",
                                             "parameters": {"type": "object", "properties": {"command": {"type": "string"}},
                                                            "required": ["command"]}}}
    forced = model.settings.model_copy(update={"extra_body": {"tool_choice": {"type": "function",
                                                                               "function": {"name": "bash"}}},
                                                "max_tokens": 64})
    plain = model.settings
    model.settings = forced
    try:
        called = model.query([{"role": "user", "content": "List the files."}], tools=[tool])
        record["tool_call"] = {"calls": [c.model_dump() for c in called.tool_calls],
                               "arguments_parse": all(_is_json(c.arguments) for c in called.tool_calls) and
                               bool(called.tool_calls), "finish_reason": called.finish_reason}
    except Exception as error:  # noqa: BLE001 - reported, the benchmark goes on
        record["tool_call"] = {"error": f"{type(error).__name__}: {error}"[:500]}
    model.settings = plain
    emit({"part": "managed-open", **record})
    for workers in options.workers:
        result = agent_traffic(model, base_url, workers, options.seconds, options.warmup, options.command_s)
        emit({"part": "agent-traffic", "preset": options.preset, "card_gib": options.card,
              "max_tokens": options.max_tokens, "command_s": options.command_s, **result})
    for concurrency in options.bench_serve:
        emit({"part": "bench-serve", "preset": options.preset, "card_gib": options.card,
              **bench_serve(options.launcher, base_url, model.settings.model, model_dir, concurrency, out,
                            options.bench_input_len, options.max_tokens, options.bench_prompts)})
    stopping = time.monotonic()
    model.close()
    stopped = time.monotonic() - stopping
    time.sleep(2)
    emit({"part": "managed-close", "preset": options.preset, "close_s": round(stopped, 1),
          "gpu_after_close_mib": gpu_used_mib(), "gpu_idle_mib": idle_mib,
          "server_exit_code": model.server.process.returncode if model.server and model.server.process else None})


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["kv", "managed"])
    parser.add_argument("--models", required=True, help="folder of model folders (bench.gpu_models)")
    parser.add_argument("--preset", action="append", required=True)
    parser.add_argument("--card", type=float, action="append", help="card size(s) in GiB to emulate")
    parser.add_argument("--out", required=True)
    parser.add_argument("--launcher", default="vllm", help="the vllm command (default: vllm on PATH)")
    parser.add_argument("--timeout", type=float, default=240, help="kv: seconds to wait for the KV lines")
    parser.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",") if x], default=[1, 2, 4, 8])
    parser.add_argument("--seconds", type=float, default=45)
    parser.add_argument("--warmup", type=float, default=8)
    parser.add_argument("--command-s", type=float, default=1.0, help="mean seconds a stub command takes")
    parser.add_argument("--max-tokens", type=int, default=150, help="tokens per model turn (ignore_eos)")
    parser.add_argument("--overhead-gib", type=float, help="managed: gpu.overhead_gib for the planner")
    parser.add_argument("--bench-serve", type=lambda s: [int(x) for x in s.split(",") if x], default=[])
    parser.add_argument("--bench-input-len", type=int, default=4096)
    parser.add_argument("--bench-prompts", type=int, default=64)
    options = parser.parse_args(argv)
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"

    def emit(record: dict) -> None:
        record = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **record}
        with open(results, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)

    if options.command == "kv":
        for preset in options.preset:
            for card in options.card or [16, 24]:
                emit({"part": "kv", **kv_probe(options.launcher, Path(options.models) / preset, preset, card, out,
                                               options.timeout)})
    else:
        options.preset, options.card = options.preset[0], (options.card or [16])[0]
        managed(options, emit)


if __name__ == "__main__":
    main()
