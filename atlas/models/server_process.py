"""Supervising a model server ATLAS starts itself (`vllm serve`, llama.cpp's `llama-server`).

The server runs in its own process group; its output reaches `<run dir>/<log name>` through
ATLAS line by line (so the one redaction masks what it echoes); ATLAS waits until its
OpenAI-compatible `/models` answers with the served model's name, printing progress every
`progress_interval` seconds; and it stops the server when the run ends -- on Ctrl-C too, and
(through the kernel's parent-death signal) even if ATLAS is killed. A child that exits, a log
that stops growing for `stall_timeout` seconds, or a start that takes longer than `timeout`
fails at once with the server's own cause (the caller's `root_cause` reading of its log, else
the log's last lines) and the log's path.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pydantic import SecretStr

from atlas.models.base import ModelError
from atlas.redaction import redact, redact_text

PR_SET_PDEATHSIG = 1


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on host:port (bound the way uvicorn binds, so TIME_WAIT does not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _die_with_parent() -> None:
    """In the child: get SIGTERM when ATLAS dies, however it dies.

    Linux sends it when the *thread* that started the server ends, so the server must be started
    from a thread that outlives it (the runner opens the model in its main thread).
    """
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


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


@dataclass(frozen=True)
class ServerKind:
    """How one kind of server is named in messages and read when it fails."""

    label: str  # "vllm serve", "llama-server"
    install_hint: str  # what to do when its executable is missing
    root_cause: Callable[[str], str | None] = lambda log: None  # the cause its log states, if it states one


class ManagedServer:
    """A model server process owned by this run."""

    def __init__(self, argv: list[str], base_url: str, log_path: Path, env: dict[str, SecretStr], served_name: str = "",
                 report: Callable[[str], None] = _print, kind: ServerKind | None = None):
        self.argv, self.base_url, self.log_path, self.env = argv, base_url, log_path, env
        self.served_name, self.report = served_name, report
        self.kind = kind or ServerKind(argv[0], "install it or set model.base_url to a running server")
        self.process: subprocess.Popen | None = None
        self.copier: threading.Thread | None = None
        self.started_at = 0.0
        self.log_offset = 0  # where this start's part of the (appended) log begins

    def start(self, timeout: float, stall_timeout: float | None = None, progress_interval: float = 30) -> None:
        log = open(self.log_path, "a", encoding="utf-8")
        self.log_offset = log.tell()
        log.write(f"$ {' '.join(redact(self.argv))}\n")
        log.flush()
        try:
            self.process = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            preexec_fn=_die_with_parent, text=True, errors="replace",
                                            env={**os.environ, **{k: v.get_secret_value() for k, v in self.env.items()}})
        except FileNotFoundError:
            log.close()
            raise ModelError(f"cannot start {self.argv[0]!r}: not found. {self.kind.install_hint}") from None
        self.copier = threading.Thread(target=_copy_redacted, args=(self.process.stdout, log), daemon=True,
                                       name=f"{self.kind.label}-log")
        self.copier.start()
        self.started_at = time.monotonic()
        self._wait_ready(timeout, stall_timeout, progress_interval)

    def _wait_ready(self, timeout: float, stall_timeout: float | None, progress_interval: float) -> None:
        label = self.kind.label
        started = time.monotonic()
        deadline = started + timeout
        size, grown_at, reported_at, reported_size = self._log_size(), started, started, 0
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ModelError(self._failure(f"{label} exited with code {self.process.returncode} "
                                               "before it was ready"))
            if self._answers():
                return
            now = time.monotonic()
            if (current := self._log_size()) != size:
                size, grown_at = current, now
            if stall_timeout is not None and now - grown_at > stall_timeout:
                message = self._failure(f"{label} looks hung: its log has not grown for {stall_timeout:.0f}s "
                                        f"(model.server.stall_timeout) and {self.base_url}/models does not answer")
                self.stop(10)  # after reading the log: the shutdown adds its own tracebacks
                raise ModelError(message)
            if now - reported_at >= progress_interval:
                self.report(f"{label}: starting for {now - started:.0f}s, log {size / 1e3:.1f} kB "
                            f"(+{(size - reported_size) / 1e3:.1f} kB): {self._last_line()}")
                reported_at, reported_size = now, size
            time.sleep(0.5)
        message = self._failure(f"{label} did not answer {self.base_url}/models within {timeout:.0f}s "
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
                             f"not by the {self.kind.label} ATLAS started: the port is taken. Set model.server.port=0 "
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
        cause = self.kind.root_cause(text)
        if cause is None:
            detail = "last lines of its log:\n" + "\n".join(text.splitlines()[-10:])
        else:
            detail = f"root cause: {cause}"
        if "Address already in use" in text or "couldn't bind" in text:
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

