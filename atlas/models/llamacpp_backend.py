"""Local GGUF models served by llama.cpp's `llama-server`: attach to one, or start and own it.

With `model.base_url` set, ATLAS attaches to that server. Without it, ATLAS runs `llama-server`
on the preset's GGUF (atlas.models.llamacpp_server) with `--parallel` = the run's workers (one
slot per agent, or `model.server.parallel`), under atlas.models.server_process's supervisor (log
in `<run dir>/llama-server.log`), and stops it when the run ends.

Either way ATLAS reads back from `/props` what the server actually does: the context window of
a slot (`n_ctx`), how many requests it computes at once (`total_slots`, which caps requests in
flight, see atlas.models.metering) and its build (`build_info`); the manifest records those and
the GGUF's sha256. Every request sends all of llama.cpp's sampling knobs, so none of the
server's defaults (top_k 40, min_p 0.05, ...) applies silently. Prompts are counted exactly by
the server: `/apply-template` renders the chat template, `/tokenize` counts it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pydantic import Field

from atlas.config import ConfigError
from atlas.models.base import ModelError
from atlas.models.llamacpp_server import (LLAMACPP, LlamaCppServerConfig, gguf_path, server_arguments, server_binary,
                                          sha256_of)
from atlas.models.managed_model import ManagedServerModel
from atlas.models.openai_backend import OpenAIConfig, props_slots
from atlas.models.server_process import ManagedServer


class LlamaCppConfig(OpenAIConfig):
    server: LlamaCppServerConfig | None = None
    tokenize_endpoint: bool = True
    # llama.cpp's sampling knobs beyond the OpenAI API, sent with every request; the values here disable them
    top_k: int = Field(0, ge=0, description="0 disables top-k.")
    min_p: float = Field(0.0, ge=0, le=1)
    typical_p: float = Field(1.0, gt=0, le=1)
    repeat_penalty: float = Field(1.0, gt=0)
    repeat_last_n: int = Field(64, ge=-1)
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    dry_multiplier: float = Field(0.0, ge=0)
    xtc_probability: float = Field(0.0, ge=0, le=1)
    mirostat: int = Field(0, ge=0, le=2)


SAMPLING_KNOBS = ("top_k", "min_p", "typical_p", "repeat_penalty", "repeat_last_n", "presence_penalty",
                  "frequency_penalty", "dry_multiplier", "xtc_probability", "mirostat")


class LlamaCppModel(ManagedServerModel):
    """llama.cpp's OpenAI-compatible server, attached to (`base_url`) or managed (`server`)."""

    settings_schema = LlamaCppConfig
    program = "llama-server"
    sampling_knobs = SAMPLING_KNOBS

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.props: dict[str, Any] = {}
        self.gguf: dict[str, Any] | None = None

    def open(self, run_dir: Path) -> None:
        settings = self.settings
        if settings.base_url:
            return super().open(run_dir)
        if settings.server is None:
            raise ConfigError("set model.base_url to attach to a running llama-server, or model.server.gguf "
                              "for ATLAS to start one")
        server = settings.server
        weights = gguf_path(server)
        binary = server_binary(server)
        port = self.claim_port(server.host, server.port)
        base_url = f"http://{server.host}:{port}/v1"
        slots = server.parallel or self.workers
        argv = server_arguments(binary, server, weights, settings.model, port, slots)
        self.gguf = {"path": str(weights), "bytes": weights.stat().st_size, "sha256": sha256_of(weights)}
        self.server = ManagedServer(argv, base_url, Path(run_dir) / "llama-server.log", server.env, settings.model,
                                    kind=LLAMACPP)
        self.server.start(server.startup_timeout, server.stall_timeout, server.progress_interval)
        self.connect(base_url)

    def connect(self, base_url: str) -> None:
        super().connect(base_url)
        self.props = self._props()
        n_ctx = (self.props.get("default_generation_settings") or {}).get("n_ctx")
        if isinstance(n_ctx, int) and n_ctx > 0:
            self.context_window = n_ctx  # one slot's window: what each request gets
            self.context_window_source = "server /props n_ctx"
        if self.gguf is None and (path := self.props.get("model_path")) and Path(path).is_file():
            self.gguf = {"path": path, "bytes": Path(path).stat().st_size, "sha256": sha256_of(Path(path))}

    def _props(self) -> dict[str, Any]:
        """GET /props, waiting while the model still loads (503)."""
        deadline = time.monotonic() + (self.settings.server.startup_timeout if self.settings.server else 120)
        while True:
            try:
                with urllib.request.urlopen(f"{self._server_root()}/props", timeout=self.settings.timeout) as reply:
                    return json.loads(reply.read())
            except urllib.error.HTTPError as e:
                if e.code != 503 or time.monotonic() > deadline:
                    raise ModelError(f"{self._server_root()}/props answered {e.code}: is this a llama.cpp server? "
                                     "(model.backend=llamacpp reads its slots and window from /props; use "
                                     "model.backend=openai for other servers)") from None
            except (urllib.error.URLError, OSError, ValueError) as e:
                raise ModelError(f"cannot read {self._server_root()}/props: {e}") from None
            time.sleep(0.5)

    def _server_count(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int:
        """The request's prompt tokens: the server renders its chat template, then tokenizes the result."""
        payload: dict[str, Any] = {"messages": messages}
        if tools:
            payload["tools"] = tools
        prompt = self._post("/apply-template", payload)["prompt"]
        return len(self._post("/tokenize", {"content": prompt, "add_special": True, "parse_special": True})["tokens"])

    def _server_count_text(self, text: str) -> int | None:
        try:
            return len(self._post("/tokenize", {"content": text, "add_special": False, "parse_special": True})["tokens"])
        except (urllib.error.URLError, OSError, KeyError, ValueError, TypeError):
            return None

    def server_slots(self) -> tuple[int, str] | None:
        return props_slots(self.props)  # read once at open, not asked again

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        generation = self.props.get("default_generation_settings") or {}
        described["server_props"] = {"build_info": self.props.get("build_info"),
                                     "total_slots": self.props.get("total_slots"), "n_ctx": generation.get("n_ctx"),
                                     "model_path": self.props.get("model_path"),
                                     "default_sampling": generation.get("params")}
        described["gguf"] = self.gguf
        return described
