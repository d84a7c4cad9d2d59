"""One Docker container per instance: start it, run commands in it, take its diff, remove it.

Commands run through coreutils `timeout` inside the container, which kills the
command's whole process group, so a hung command ends cleanly and the container
survives for the next one. Every container carries labels naming its run, session and
owning process (`atlas.pid` and its start time, `atlas.host`), so nothing is left behind
after Ctrl-C or an exception, and after a SIGKILL the next session of the run (or
`atlas clean`) removes the strays. As a backstop, a container's main process is
`sleep <lifetime>` and the engine removes the container when it ends: a container whose
run was killed and never resumed is gone at most `lifetime_s` after it started.
"""

from __future__ import annotations

import os
import shlex
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import docker
import docker.errors

from atlas.config import EnvConfig
from atlas.errors import InfrastructureError
from atlas.interfaces import ExecResult

LABEL = "atlas"
# exit codes of coreutils timeout: TERM sent, then KILL after --kill-after
TIMEOUT_EXIT_CODES = (124, 137)
KILL_GRACE_S = 5
# beyond the in-container timeout, how long the host waits before declaring the container broken
HOST_GRACE_S = 30
# how long a container may outlive its instance's wall-clock timeout (taking the diff, removing it)
LIFETIME_MARGIN_S = 300
DEFAULT_LIFETIME_S = 3600
QUIET_ENV = {"PAGER": "cat", "MANPAGER": "cat", "GIT_PAGER": "cat", "LESS": "-R", "PIP_PROGRESS_BAR": "off", "TQDM_DISABLE": "1"}


class EnvError(InfrastructureError):
    """The environment failed (engine unreachable, image missing, container died): retried."""


class ImageMissing(EnvError):
    """The instance's image is not present and could not be pulled; the message says how to get it."""


def docker_client(timeout: int = 300) -> docker.DockerClient:
    """A client for the local engine, or an EnvError that says how to get one."""
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
        return client
    except docker.errors.DockerException as e:
        raise EnvError(
            f"cannot reach a Docker engine ({e}). Start it (e.g. `sudo systemctl start docker`, or "
            "`dockerd &` as root) or point DOCKER_HOST at one."
        ) from None


def truncate(text: str, limit: int) -> tuple[str, bool]:
    """Keep the head and tail of long output; the middle is where least is lost."""
    if len(text) <= limit:
        return text, False
    half = limit // 2
    elided = len(text) - 2 * half
    return f"{text[:half]}\n[... {elided} characters elided ...]\n{text[-half:]}", True


class DockerEnvironment:
    """A running container for one instance; use it as a context manager."""

    def __init__(self, image: str, config: EnvConfig, labels: dict[str, str], client: docker.DockerClient,
                 lifetime_s: float = DEFAULT_LIFETIME_S):
        self.image = image
        self.config = config
        self.lifetime_s = max(1, int(lifetime_s))
        self.labels = {LABEL: "1", **owner_labels(), "atlas.lifetime_s": str(self.lifetime_s), **labels}
        self.client = client
        self.container = None
        self.image_id = ""

    def __enter__(self) -> "DockerEnvironment":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        self.image_id = self._image().id
        name = f"atlas-{self.labels.get('atlas.instance', 'x')}-{uuid.uuid4().hex[:8]}".lower()
        try:
            self.container = self.client.containers.run(
                self.image,
                command=["sleep", str(self.lifetime_s)],  # the backstop: the container ends with it
                name=name,
                detach=True,
                auto_remove=True,
                init=True,
                labels=self.labels,
                network_mode=None if self.config.network else "none",
                mem_limit=self.config.memory,
                nano_cpus=int(self.config.cpus * 1e9),
                pids_limit=self.config.pids_limit,
                working_dir=self.config.workdir,
            )
        except docker.errors.DockerException as e:
            raise EnvError(f"could not start a container from {self.image}: {e}") from e

    def _image(self):
        try:
            return self.client.images.get(self.image)
        except docker.errors.ImageNotFound:
            if self.config.pull == "never":
                raise ImageMissing(f"image {self.image} is not present and env.pull=never") from None
        try:
            return self.client.images.pull(self.image)
        except docker.errors.DockerException as e:
            raise ImageMissing(f"image {self.image} is not present locally and could not be pulled: {e}") from None

    def execute(self, command: str, timeout: float) -> ExecResult:
        """Run `command` with bash in the work directory; never raises for the command's own failure."""
        if self.container is None:
            raise EnvError("execute() before start()")
        seconds = max(1, int(timeout))
        argv = ["timeout", f"--kill-after={KILL_GRACE_S}", str(seconds), "bash", "-lc", command]
        started = time.monotonic()
        output, exit_code = self._exec_with_deadline(argv, seconds + KILL_GRACE_S + HOST_GRACE_S)
        duration = time.monotonic() - started
        text, truncated = truncate(output.decode("utf-8", errors="replace"), self.config.max_output_chars)
        timed_out = exit_code in TIMEOUT_EXIT_CODES and duration >= seconds - 0.5
        return ExecResult(text, exit_code, duration, timed_out, truncated)

    def _exec_with_deadline(self, argv: list[str], deadline_s: float) -> tuple[bytes, int]:
        api = self.client.api
        result: dict = {}

        def run() -> None:
            try:
                exec_id = api.exec_create(
                    self.container.id, argv, workdir=self.config.workdir, environment=QUIET_ENV
                )["Id"]
                result["output"] = api.exec_start(exec_id) or b""
                result["exit_code"] = api.exec_inspect(exec_id)["ExitCode"]
            except Exception as e:  # surfaced below as an EnvError
                result["error"] = e

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(deadline_s)
        if worker.is_alive():
            raise EnvError(f"command did not return {deadline_s:.0f}s after its timeout; the container is unusable")
        if "error" in result:
            raise EnvError(f"exec failed in {self.image}: {result['error']}")
        if result.get("exit_code") is None:
            raise EnvError("exec ended without an exit code (the container may have died)")
        return result["output"], int(result["exit_code"])

    def diff(self, base_commit: str) -> str:
        """Everything the agent changed, new files included, as a patch against `base_commit`.

        Read without truncation: a cut diff would be a corrupt prediction. The commit is quoted:
        it comes from a dataset row, and reaches bash only as one argument of git.
        """
        command = f"git add -A && git -c core.fileMode=false diff --cached --no-color {shlex.quote(base_commit)} --"
        output, exit_code = self._exec_with_deadline(["bash", "-lc", command], 300)
        text = output.decode("utf-8", errors="replace")
        if exit_code != 0:
            raise EnvError(f"could not extract the patch (exit {exit_code}): {text[-2000:]}")
        return text

    def close(self) -> None:
        if self.container is not None:
            try:
                remove_container(self.container)
            except docker.errors.DockerException:
                pass  # swept by label on the next open of the run, or ended by its lifetime
            self.container = None


def process_start(pid: int) -> str:
    """The kernel's start time of a process (clock ticks since boot): with the pid, it names the process
    even after the pid is reused. Empty where /proc cannot tell."""
    try:
        stat = open(f"/proc/{pid}/stat", encoding="ascii").read()
        return stat.rsplit(")", 1)[1].split()[19]  # field 22; the command name may hold spaces
    except (OSError, IndexError):
        return ""


def owner_labels() -> dict[str, str]:
    """Labels naming the process that owns a container: `atlas clean --orphans` removes it once that is gone."""
    return {"atlas.host": socket.gethostname(), "atlas.pid": str(os.getpid()), "atlas.pid_start": process_start(os.getpid())}


def owner_alive(labels: dict[str, str]) -> bool | None:
    """Whether the process named by a container's owner labels still runs; None when that cannot be told
    (no pid label, another host)."""
    if labels.get("atlas.host") != socket.gethostname() or not labels.get("atlas.pid", "").isdigit():
        return None
    pid = int(labels["atlas.pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # runs, as another user
    recorded = labels.get("atlas.pid_start", "")
    return not recorded or process_start(pid) in ("", recorded)


def remove_container(container) -> bool:
    """Force-remove a container; False when it was already gone (removed by its lifetime, or by another process)."""
    try:
        container.remove(force=True)
        return True
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as e:
        if e.status_code == 409:  # "removal already in progress" (the engine's auto-remove)
            return False
        raise


def labeled_containers(client: docker.DockerClient, **labels: str) -> list:
    """Every container (running or not) with ATLAS's label and all of these labels."""
    filters = {"label": [LABEL] + [f"{k}={v}" for k, v in labels.items()]}
    return client.containers.list(all=True, filters=filters, ignore_removed=True)  # one going away is no error


def remove_labeled(client: docker.DockerClient, **labels: str) -> int:
    """Force-remove every container carrying all of these labels, in parallel (a stopping run waits on it);
    return how many."""
    found = labeled_containers(client, **labels)
    if not found:
        return 0
    with ThreadPoolExecutor(max_workers=min(8, len(found)), thread_name_prefix="atlas-remove") as pool:
        return sum(pool.map(remove_container, found))
