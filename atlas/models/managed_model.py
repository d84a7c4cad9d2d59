"""What a backend that may start its own local server shares: claiming a port, the server's
sampling knobs sent with every request, its description in the manifest, its cost, and stopping it.

vLLM (atlas.models.vllm_backend) and llama.cpp (atlas.models.llamacpp_backend) subclass
`ManagedServerModel`; each adds how its server is started and what it reads back from it. With
`model.base_url` set both attach instead, and `server` stays None.
"""

from __future__ import annotations

from typing import Any

from atlas.models.base import ModelError
from atlas.models.openai_backend import OpenAICompatibleModel
from atlas.models.server_process import ManagedServer, free_port, port_in_use
from atlas.redaction import redact


class ManagedServerModel(OpenAICompatibleModel):
    """An OpenAI-compatible backend that may own its server (`self.server`, started by the subclass)."""

    program = "the server"  # how the messages name it: `vllm serve`, `llama-server`
    sampling_knobs: tuple[str, ...] = ()  # settings beyond the OpenAI API, sent with every request

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.server: ManagedServer | None = None

    def claim_port(self, host: str, port: int) -> int:
        """The port a server ATLAS is about to start listens on: `port`, or a free one for 0; ModelError if taken."""
        if port and port_in_use(host, port):
            raise ModelError(f"port {port} on {host} is already in use, so ATLAS cannot start its own {self.program} "
                             f"there. Set model.server.port=0 to pick a free port, stop what listens on {port}, or set "
                             f"model.base_url=http://{host}:{port}/v1 to attach to that server")
        return port or free_port(host)

    def _extra_body(self) -> dict[str, Any]:
        return {**{knob: getattr(self.settings, knob) for knob in self.sampling_knobs}, **self.settings.extra_body}

    def sampling(self) -> dict[str, Any]:
        return {**super().sampling(), **self._extra_body()}

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        if described.get("server"):
            described["server"] = redact(described["server"], "server")
        if self.server is not None:
            described["managed_server"] = {"argv": redact(self.server.argv), "base_url": self.server.base_url,
                                           "log": str(self.server.log_path)}
        return described

    def accounting(self) -> dict[str, Any]:
        """The managed server's wall time and its cost at the pricing's GPU-second rate (nothing when attached)."""
        if self.server is None:
            return {}
        seconds = self.server.wall_seconds
        return {"server_wall_seconds": round(seconds, 3),
                "server_cost_usd": round(seconds * getattr(self.settings.pricing, "per_gpu_second", lambda: 0.0)(), 6)}

    def close(self) -> None:
        if self.server is not None:
            self.server.stop(self.settings.server.stop_timeout)
