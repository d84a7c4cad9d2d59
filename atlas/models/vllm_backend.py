"""Local models served by vLLM: attach to a running server, or start and own `vllm serve`.

With `model.base_url` set, ATLAS attaches to that server. Without it, ATLAS runs
`vllm serve` with the preset's arguments in its own process group, streams its log to
`<run dir>/vllm.log`, waits until /v1/models answers, and stops it when the run ends --
on Ctrl-C too, and (through the kernel's parent-death signal) even if ATLAS is killed.
The server's exact command line (secrets masked) and its /v1/models answer go into the manifest.

Either way the context window is the server's `max_model_len` as /v1/models reports it, and
each request sets every sampling parameter vLLM's generation config could change (top_k,
min_p, repetition_penalty, ...) explicitly, so the manifest's `sampling` is what the server
applied. A managed server also gets `--generation-config vllm` (no model defaults),
`--enable-prompt-tokens-details` (cached prompt tokens in usage) and an explicit prefix-cache
flag. Start-up: a port already in use is refused before vLLM starts; while waiting, progress
(time, log growth) is printed every `progress_interval` seconds; a child that exits or a log
that stops growing for `stall_timeout` seconds fails the start at once, with vLLM's root cause
-- the first exception line of its log -- and the log's path.
"""

from __future__ import annotations

import ast
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from atlas.config import ConfigError
from atlas.models.base import ModelError
from atlas.models.openai_backend import OpenAICompatibleModel, OpenAIConfig
from atlas.planner import Architecture, Plan, plan
from atlas.redaction import redact, redact_text

PR_SET_PDEATHSIG = 1


class ServerConfig(BaseModel):
    """Arguments of a managed `vllm serve`; null values are left to vLLM (or the VRAM planner)."""

    model_config = ConfigDict(extra="forbid")
    command: list[str] = ["vllm", "serve"]
    weights: str | None = Field(None, description="HF model id or local path of the weights.")
    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, description="0 picks a free port.")
    quantization: str | None = None
    dtype: str | None = None
    max_model_len: int | None = None
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1)
    kv_cache_memory_bytes: int | None = Field(
        None, gt=0, description="--kv-cache-memory-bytes: pins the KV cache, so CUDA graphs and activations outside "
                                "vLLM's utilization share cannot push the server past the card (the planner sets it).")
    kv_cache_dtype: str = "auto"
    enable_prefix_caching: bool = Field(True, description="Emits --enable-prefix-caching or --no-enable-prefix-caching.")
    enable_prompt_tokens_details: bool = Field(True, description="Usage reports cached prompt tokens only with it.")
    generation_config: str | None = Field(
        "vllm", description="--generation-config: 'vllm' ignores the model's sampling defaults; 'auto' applies "
                            "them; a folder reads one; null leaves vLLM's default (auto).")
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = Field(None, gt=0, description="--max-num-batched-tokens (the planner sets "
                                               "gpu.max_num_batched_tokens: the activation peak it measured with).")
    speculative_config: dict[str, Any] | None = None
    tool_call_parser: str | None = None
    reasoning_parser: str | None = Field(None, description="--reasoning-parser: the model's reasoning comes back "
                                         "apart from its answer (and is left out of the history ATLAS sends back).")
    extra_args: list[str] = []
    env: dict[str, SecretStr] = Field({}, description="Environment of the server (HF_TOKEN ...); never written out.")
    startup_timeout: float = Field(1200, gt=0, description="Longest wait for /v1/models, downloads included.")
    stall_timeout: float | None = Field(600, gt=0, description="Fail the start when the log stops growing this long.")
    progress_interval: float = Field(30, gt=0, description="Seconds between start-up progress lines.")
    stop_timeout: float = Field(30, gt=0)


class VLLMConfig(OpenAIConfig):
    server: ServerConfig | None = None
    architecture: Architecture | None = None
    recommended_sampling: dict[str, Any] = Field({}, description="The publisher's recommended sampling, recorded "
                                                 "for reference and never sent: requests carry the keys above.")
    # vLLM's sampling knobs beyond the OpenAI API, sent with every request so that no default
    # (the model's generation config included) applies silently; the values here disable them
    top_k: int = Field(0, ge=-1, description="0 disables top-k.")
    min_p: float = Field(0.0, ge=0, le=1)
    repetition_penalty: float = Field(1.0, gt=0)
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0


SAMPLING_KNOBS = ("top_k", "min_p", "repetition_penalty", "presence_penalty", "frequency_penalty")


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def serve_arguments(server: ServerConfig, served_name: str, port: int) -> list[str]:
    """The full `vllm serve` command line for a preset."""
    args = [*server.command, server.weights, "--host", server.host, "--port", str(port),
            "--served-model-name", served_name, "--kv-cache-dtype", server.kv_cache_dtype]
    optional = {"--quantization": server.quantization, "--dtype": server.dtype,
                "--max-model-len": server.max_model_len, "--gpu-memory-utilization": server.gpu_memory_utilization,
                "--kv-cache-memory-bytes": server.kv_cache_memory_bytes, "--max-num-seqs": server.max_num_seqs, "--max-num-batched-tokens": server.max_num_batched_tokens,
                "--tool-call-parser": server.tool_call_parser, "--reasoning-parser": server.reasoning_parser}
    for flag, value in optional.items():
        if value is not None:
            args += [flag, str(value)]
    if server.tool_call_parser:
        args.append("--enable-auto-tool-choice")
    # vLLM V1 caches prefixes by default: turning it off needs the negative flag
    args.append("--enable-prefix-caching" if server.enable_prefix_caching else "--no-enable-prefix-caching")
    if server.enable_prompt_tokens_details:
        args.append("--enable-prompt-tokens-details")
    if server.generation_config is not None:
        args += ["--generation-config", server.generation_config]
    if server.speculative_config:
        args += ["--speculative-config", json.dumps(server.speculative_config)]
    return args + list(server.extra_args)


def _die_with_parent() -> None:
    """In the child: get SIGTERM when ATLAS dies, however it dies.

    Linux sends it when the *thread* that started the server ends, so the server must be started
    from a thread that outlives it (the runner opens the model in its main thread).
    """
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on host:port (bound the way uvicorn binds, so TIME_WAIT does not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


# a log line's prefix: "(EngineCore_DP0 pid=7) ERROR 11-25 10:00:00 [core.py:708] "
_LOG_PREFIX = re.compile(r"^(\([\w.-]+ pid=\d+\)\s*)?((DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+[\d-]+\s+[\d:.]+\s+"
                         r"\[[^\]]*\]\s*)?")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)(:\s.*|:?)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # vLLM colours its process prefixes on a terminal
# exceptions that only point elsewhere ("See root cause above")
_WRAPPERS = ("Engine core initialization failed", "EngineCore failed to start", "Failed core proc")
_DEFAULT_SAMPLING = re.compile(r"Using default chat sampling params from model: (\{.*\})")


def root_cause(log_text: str) -> str | None:
    """The first exception line of a vLLM log (its prefix removed), skipping those that only point elsewhere."""
    log_text = _ANSI.sub("", log_text)
    for line in log_text.splitlines():
        text = _LOG_PREFIX.sub("", line).strip()
        if _EXCEPTION_LINE.match(text) and not any(w in text for w in _WRAPPERS):
            return text
    for line in log_text.splitlines():  # no traceback: the first line logged as an error
        if " ERROR " in f" {line} " and not any(w in line for w in _WRAPPERS):
            return _LOG_PREFIX.sub("", line).strip() or None
    return None


def default_sampling(log_text: str) -> dict[str, Any] | None:
    """The sampling defaults vLLM says it took from the model's generation config, if any."""
    match = _DEFAULT_SAMPLING.search(log_text)
    if match is None:
        return None
    try:
        return dict(ast.literal_eval(match.group(1)))
    except (ValueError, SyntaxError):
        return {"unparsed": match.group(1)}


def _print(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _copy_redacted(source, log) -> None:
    """Copy the server's output to its log, each line through the one redaction."""
    try:
        for line in source:
            log.write(redact_text(line))
            log.flush()
    finally:
        log.close()


class ManagedServer:
    """A `vllm serve` process owned by this run."""

    def __init__(self, argv: list[str], base_url: str, log_path: Path, env: dict[str, SecretStr], served_name: str = "",
                 report: Callable[[str], None] = _print):
        self.argv, self.base_url, self.log_path, self.env = argv, base_url, log_path, env
        self.served_name, self.report = served_name, report
        self.process: subprocess.Popen | None = None
        self.copier: threading.Thread | None = None
        self.started_at = 0.0
        self.log_offset = 0  # where this start's part of the (appended) log begins
        self.default_sampling: dict[str, Any] | None = None

    def start(self, timeout: float, stall_timeout: float | None = None, progress_interval: float = 30) -> None:
        log = open(self.log_path, "a", encoding="utf-8")
        self.log_offset = log.tell()
        log.write(f"$ {' '.join(redact(self.argv))}\n")
        log.flush()
        try:
            # the output reaches the log through ATLAS, line by line, so the one redaction masks what
            # a server echoes (its argv, its environment)
            self.process = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            preexec_fn=_die_with_parent, text=True, errors="replace",
                                            env={**os.environ, **{k: v.get_secret_value() for k, v in self.env.items()}})
        except FileNotFoundError:
            log.close()
            raise ModelError(f"cannot start {self.argv[0]!r}: not found. Install vLLM (pip install 'atlas-swe[vllm]') "
                             "or set model.base_url to a running server") from None
        self.copier = threading.Thread(target=_copy_redacted, args=(self.process.stdout, log), daemon=True,
                                       name="vllm-log")
        self.copier.start()
        self.started_at = time.monotonic()
        self._wait_ready(timeout, stall_timeout, progress_interval)
        self.default_sampling = default_sampling(self.log_text())

    def _wait_ready(self, timeout: float, stall_timeout: float | None, progress_interval: float) -> None:
        started = time.monotonic()
        deadline = started + timeout
        size, grown_at, reported_at, reported_size = self._log_size(), started, started, 0
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ModelError(self._failure(f"vllm serve exited with code {self.process.returncode} "
                                               "before it was ready"))
            if self._answers():
                return
            now = time.monotonic()
            if (current := self._log_size()) != size:
                size, grown_at = current, now
            if stall_timeout is not None and now - grown_at > stall_timeout:
                message = self._failure(f"vllm serve looks hung: its log has not grown for {stall_timeout:.0f}s "
                                        f"(model.server.stall_timeout) and {self.base_url}/models does not answer")
                self.stop(10)  # after reading the log: the shutdown adds its own tracebacks
                raise ModelError(message)
            if now - reported_at >= progress_interval:
                self.report(f"vllm serve: starting for {now - started:.0f}s, log {size / 1e3:.1f} kB "
                            f"(+{(size - reported_size) / 1e3:.1f} kB): {self._last_line()}")
                reported_at, reported_size = now, size
            time.sleep(0.5)
        message = self._failure(f"vllm serve did not answer {self.base_url}/models within {timeout:.0f}s "
                                "(model.server.startup_timeout)")
        self.stop(10)
        raise ModelError(message)

    def _answers(self) -> bool:
        """Whether /v1/models answers -- from our server: the child still runs and serves our model name."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=5) as reply:
                listing = json.loads(reply.read()) if reply.status == 200 else None
        except urllib.error.HTTPError as e:
            # guarded by --api-key: up if our child still runs; connect() then checks the key and the model
            return e.code in (401, 403) and self.process.poll() is None
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            return False
        if listing is None:
            return False
        served = [m.get("id") for m in listing.get("data", [])]
        if self.process.poll() is not None or (self.served_name and self.served_name not in served):
            self.stop(10)
            raise ModelError(f"{self.base_url} is answered by another server (serving {', '.join(map(str, served))}), "
                             f"not by the vllm serve ATLAS started: the port is taken. Set model.server.port=0 "
                             f"to pick a free port, or stop the server on that port. Log: {self.log_path}")
        return True

    def log_text(self) -> str:
        """This start's part of the log."""
        if self.copier is not None and self.process is not None and self.process.poll() is not None:
            self.copier.join(5)  # the server has exited: let its last lines reach the file
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self.log_offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def _last_line(self) -> str:
        lines = [line for line in self.log_text().splitlines() if line.strip()]
        return lines[-1][-160:] if lines else "(no output yet)"

    def _failure(self, what: str) -> str:
        text = self.log_text()
        cause = root_cause(text)
        if cause is None:
            detail = "last lines of its log:\n" + "\n".join(text.splitlines()[-10:])
        else:
            detail = f"root cause: {cause}"
        if "Address already in use" in text:
            detail += "\nThe port is taken: set model.server.port=0 to pick a free port, or stop the server on it."
        return f"{what}; {detail}\nFull log: {self.log_path}"

    def stop(self, timeout: float) -> None:
        """SIGTERM the whole process group, then SIGKILL what is left."""
        if self.process is None or self.process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(wait)
                if self.copier is not None:
                    self.copier.join(5)
                return
            except subprocess.TimeoutExpired:
                continue

    @property
    def wall_seconds(self) -> float:
        return time.monotonic() - self.started_at if self.started_at else 0.0


class VLLMModel(OpenAICompatibleModel):
    """vLLM's OpenAI server, attached to (`base_url`) or managed (`server`)."""

    settings_schema = VLLMConfig

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.server: ManagedServer | None = None
        self.plan: Plan | None = None

    def _sized_server(self) -> ServerConfig:
        """The server section, sized by the planner where the preset left the context unset.

        The plan pins the KV cache (--kv-cache-memory-bytes) rather than trusting the utilization
        share, which vLLM 0.26 exceeds by its CUDA-graph memory, and caps --max-num-seqs at the
        agents whose contexts fit together, so requests queue instead of preempting each other.
        """
        server, arch = self.settings.server, self.settings.architecture
        if server.max_model_len is not None or arch is None:
            return server
        self.plan = plan(arch, self.gpu, server.kv_cache_dtype)
        if not self.plan.fits:
            raise ConfigError(f"{self.name} does not fit gpu.vram_gb={self.gpu.vram_gb}: {self.plan.reason} "
                              "(see `atlas plan`)")
        return server.model_copy(update={
            "max_model_len": self.plan.agent_context,  # each agent's context, so the workers' contexts fit the KV cache
            "gpu_memory_utilization": server.gpu_memory_utilization or self.plan.gpu_memory_utilization,
            "kv_cache_memory_bytes": server.kv_cache_memory_bytes or self.plan.kv_cache_memory_bytes or None,
            "max_num_seqs": server.max_num_seqs or self.plan.recommended_workers or None,
            "max_num_batched_tokens": server.max_num_batched_tokens or self.plan.max_num_batched_tokens or None,
        })

    def open(self, run_dir: Path) -> None:
        settings = self.settings
        if settings.base_url:
            return super().open(run_dir)
        if settings.server is None or not settings.server.weights:
            raise ConfigError("set model.base_url to attach to a running server, or model.server.weights "
                              "for ATLAS to start vllm serve")
        server = self._sized_server()
        if server.port and port_in_use(server.host, server.port):
            raise ModelError(f"port {server.port} on {server.host} is already in use (another vllm serve?), so ATLAS "
                             f"cannot start its own server there. Set model.server.port=0 to pick a free port, stop "
                             f"what listens on {server.port}, or set model.base_url=http://{server.host}:{server.port}/v1 "
                             "to attach to that server")
        port = server.port or free_port(server.host)
        base_url = f"http://{server.host}:{port}/v1"
        argv = serve_arguments(server, settings.model, port)
        self.server = ManagedServer(argv, base_url, Path(run_dir) / "vllm.log", settings.server.env, settings.model)
        self.server.start(server.startup_timeout, server.stall_timeout, server.progress_interval)
        self.connect(base_url)

    def _extra_body(self) -> dict[str, Any]:
        return {**{knob: getattr(self.settings, knob) for knob in SAMPLING_KNOBS}, **self.settings.extra_body}

    def sampling(self) -> dict[str, Any]:
        return {**super().sampling(), **self._extra_body()}

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        if described.get("server"):
            described["server"] = redact(described["server"], "server")
        if self.server is not None:
            described["managed_server"] = {
                "argv": redact(self.server.argv), "base_url": self.server.base_url, "log": str(self.server.log_path),
                # what vLLM took from the model's generation config; every request overrides these (see sampling)
                "generation_config_defaults": self.server.default_sampling}
        if self.plan is not None:
            described["vram_plan"] = vars(self.plan)
        return described

    def accounting(self) -> dict[str, Any]:
        if self.server is None:
            return {}
        seconds = self.server.wall_seconds
        return {"server_wall_seconds": round(seconds, 3),
                "server_cost_usd": round(seconds * getattr(self.settings.pricing, "per_gpu_second", lambda: 0.0)(), 6)}

    def close(self) -> None:
        if self.server is not None:
            self.server.stop(self.settings.server.stop_timeout)
