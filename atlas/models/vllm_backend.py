"""Local models served by vLLM: attach to a running server, or start and own `vllm serve`.

With `model.base_url` set, ATLAS attaches to that server. Without it, ATLAS runs
`vllm serve` with the preset's arguments in its own process group, streams its log to
`<run dir>/vllm.log`, waits until /v1/models answers, and stops it when the run ends --
on Ctrl-C too, and (through the kernel's parent-death signal) even if ATLAS is killed.
The server's exact command line and its /v1/models answer go into the manifest.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from atlas.config import ConfigError
from atlas.models.base import ModelError
from atlas.models.openai_backend import OpenAICompatibleModel, OpenAIConfig
from atlas.planner import Architecture, Plan, plan

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
    kv_cache_dtype: str = "auto"
    enable_prefix_caching: bool = True
    max_num_seqs: int | None = None
    speculative_config: dict[str, Any] | None = None
    tool_call_parser: str | None = None
    extra_args: list[str] = []
    env: dict[str, str] = {}
    startup_timeout: float = Field(1200, gt=0)
    stop_timeout: float = Field(30, gt=0)


class VLLMConfig(OpenAIConfig):
    server: ServerConfig | None = None
    architecture: Architecture | None = None


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
                "--max-num-seqs": server.max_num_seqs, "--tool-call-parser": server.tool_call_parser}
    for flag, value in optional.items():
        if value is not None:
            args += [flag, str(value)]
    if server.tool_call_parser:
        args.append("--enable-auto-tool-choice")
    if server.enable_prefix_caching:
        args.append("--enable-prefix-caching")
    if server.speculative_config:
        args += ["--speculative-config", json.dumps(server.speculative_config)]
    return args + list(server.extra_args)


def _die_with_parent() -> None:
    """In the child: get SIGTERM when ATLAS dies, however it dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class ManagedServer:
    """A `vllm serve` process owned by this run."""

    def __init__(self, argv: list[str], base_url: str, log_path: Path, env: dict[str, str]):
        self.argv, self.base_url, self.log_path, self.env = argv, base_url, log_path, env
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0

    def start(self, timeout: float) -> None:
        log = open(self.log_path, "ab")
        log.write(f"$ {' '.join(self.argv)}\n".encode())
        log.flush()
        try:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True, preexec_fn=_die_with_parent,
                                            env={**os.environ, **self.env})
        except FileNotFoundError:
            raise ModelError(f"cannot start {self.argv[0]!r}: not found. Install vLLM (pip install 'atlas-swe[vllm]') "
                             "or set model.base_url to a running server") from None
        finally:
            log.close()
        self.started_at = time.monotonic()
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ModelError(f"vllm serve exited with code {self.process.returncode} before it was ready:\n"
                                 f"{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=5) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        self.stop(10)
        raise ModelError(f"vllm serve did not answer {self.base_url}/models within {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

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
        """The server section, with context and memory share from the planner where the preset left them unset."""
        server, arch = self.settings.server, self.settings.architecture
        if server.max_model_len is not None or arch is None:
            return server
        self.plan = plan(arch, self.gpu, server.kv_cache_dtype)
        if not self.plan.fits:
            raise ConfigError(f"{self.name} does not fit gpu.vram_gb={self.gpu.vram_gb}: {self.plan.reason} "
                              "(see `atlas plan`)")
        return server.model_copy(update={"max_model_len": self.plan.max_context,
                                         "gpu_memory_utilization": server.gpu_memory_utilization
                                         or self.plan.gpu_memory_utilization})

    def open(self, run_dir: Path) -> None:
        settings = self.settings
        if settings.base_url:
            return super().open(run_dir)
        if settings.server is None or not settings.server.weights:
            raise ConfigError("set model.base_url to attach to a running server, or model.server.weights "
                              "for ATLAS to start vllm serve")
        server = self._sized_server()
        port = server.port or free_port(server.host)
        base_url = f"http://{server.host}:{port}/v1"
        argv = serve_arguments(server, settings.model, port)
        self.server = ManagedServer(argv, base_url, Path(run_dir) / "vllm.log", settings.server.env)
        self.server.start(settings.server.startup_timeout)
        self.connect(base_url)

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        if self.server is not None:
            described["managed_server"] = {"argv": self.server.argv, "base_url": self.server.base_url,
                                           "log": str(self.server.log_path)}
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
