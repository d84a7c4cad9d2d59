"""Instance images as a budgeted resource: their names, presence and size, pulling, and removal.

- Names: the *local* name of an instance's image is what the agent and the grading harness use
  (the row's `image`, or the official `swebench/sweb.eval.<arch>.<id>:latest`). The *source* is
  where a missing one is pulled from: `env.images.pattern` (official Docker Hub names by default;
  Epoch AI's registry in conf/env/docker-epoch.yaml). A row whose own `image` is not the official
  name is pulled under that name. A pulled source is tagged with the local name.
- Pulling backs off (tenacity, exponential) while the registry answers "toomanyrequests" /
  HTTP 429, and reports every other failure per image at once: a retry cannot fix "not found".
- Keeping (`env.images.keep`): after grading, `none` removes this run's instance images and
  `budget` removes them, oldest first, until their total fits `budget_gb`. Never the base image,
  never an image of another run's instances, never one a container still uses: the users of an
  image are counted across every process on the engine, and Docker's own refusal to untag an image
  a container was started from is respected (nothing is ever force-removed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import docker
import docker.errors
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from atlas.config import DatasetConfig, EnvConfig, ImagesConfig
from atlas.datasets import Instance
from atlas.environments.docker import EnvError, ImageMissing
from atlas.images import BASE_IMAGE, ROOTFS_IMAGE

PROTECTED = (BASE_IMAGE, ROOTFS_IMAGE)
RATE_LIMIT_MARKERS = ("toomanyrequests", "too many requests", "rate limit")


class RateLimited(EnvError):
    """The registry refused a pull for now (HTTP 429 / toomanyrequests); worth retrying later."""


class PullFailed(EnvError):
    """A pull that no retry can fix: unknown image, denied, no network."""


@dataclass(frozen=True)
class ImageRef:
    instance_id: str
    local: str  # the name containers and the harness start from
    source: str  # the name pulled from a registry when `local` is missing


@dataclass
class ImageState:
    ref: ImageRef
    present: bool
    size: int = 0  # bytes, the image's full size (layers it shares with others included)
    image_id: str = ""


def official_id(instance_id: str) -> str:
    """The instance id as the official image names spell it."""
    return instance_id.lower().replace("__", "_1776_")


def image_ref(instance: Instance, images: ImagesConfig) -> ImageRef:
    from swebench.task.checks import expected_image

    local = instance.image_name()
    if instance.image and instance.image != expected_image(instance.instance_id):
        return ImageRef(instance.instance_id, local, local)  # a row's own image: pulled as named
    source = images.pattern.format(namespace=images.namespace, arch=images.arch, instance_id=instance.instance_id,
                                   id=official_id(instance.instance_id))
    return ImageRef(instance.instance_id, local, source)


def image_refs(instances: Iterable[Instance], images: ImagesConfig) -> list[ImageRef]:
    return [image_ref(i, images) for i in instances]


def inspect(client: docker.DockerClient, refs: list[ImageRef]) -> list[ImageState]:
    states = []
    for ref in refs:
        try:
            image = client.images.get(ref.local)
            states.append(ImageState(ref, True, int(image.attrs.get("Size") or 0), image.id))
        except docker.errors.ImageNotFound:
            states.append(ImageState(ref, False))
    return states


def fix_command(dataset: DatasetConfig, instance_ids: list[str], images: ImagesConfig | None = None) -> str:
    """The command that gets these instances' images: `atlas images build` for a task repo or the shipped
    real rows, else a pull."""
    if dataset.source == "task_repo":
        repo = "" if dataset.path == "bundled" else f" --task-repo {dataset.path}"
        return f"atlas images build{repo}"
    if dataset.path == "bundled-real":  # the shipped real rows: stand-in images built offline
        return "atlas images build --dataset bundled-real"
    images = images or ImagesConfig()
    registry = "".join(f"'env.images.{key}={getattr(images, key)}' " for key in ("namespace", "pattern", "arch")
                       if getattr(images, key) != getattr(ImagesConfig(), key))
    selection = f"dataset.source={dataset.source} dataset.path={dataset.path} dataset.split={dataset.split}"
    return f"atlas images pull {registry}{selection} 'run.instance_ids=[{','.join(instance_ids)}]'"


def _is_rate_limit(text: str, status: int | None = None) -> bool:
    return status == 429 or any(marker in text.lower() for marker in RATE_LIMIT_MARKERS)


def _split(name: str) -> tuple[str, str]:
    repository, _, tag = name.rpartition(":")
    if not repository or "/" in tag:  # no tag, or the colon belonged to a registry port
        return name, "latest"
    return repository, tag


def pull_once(client: docker.DockerClient, ref: ImageRef, on_event: Callable[[dict], None] | None = None) -> None:
    """One pull of `ref.source` (then tagged as `ref.local`); RateLimited or PullFailed on failure."""
    repository, tag = _split(ref.source)
    try:
        for event in client.api.pull(repository, tag=tag, stream=True, decode=True):
            if "error" in event:
                message = str(event.get("error") or event.get("errorDetail"))
                raise (RateLimited if _is_rate_limit(message) else PullFailed)(message)
            if on_event is not None:
                on_event(event)
    except docker.errors.APIError as e:
        message = str(e.explanation or e)
        raise (RateLimited if _is_rate_limit(message, e.status_code) else PullFailed)(message) from None
    except docker.errors.DockerException as e:
        raise PullFailed(str(e)) from None
    if ref.local != ref.source:
        local_repository, local_tag = _split(ref.local)
        client.api.tag(ref.source, local_repository, local_tag)


def pull(client: docker.DockerClient, ref: ImageRef, images: ImagesConfig,
         on_event: Callable[[dict], None] | None = None,
         on_retry: Callable[[RetryCallState], None] | None = None) -> None:
    """Pull one image, backing off exponentially while the registry rate-limits."""
    retrying = Retrying(
        retry=retry_if_exception_type(RateLimited), stop=stop_after_attempt(images.pull_attempts),
        wait=wait_exponential(multiplier=images.pull_backoff_s, max=max(images.pull_backoff_s * 32, 1)),
        reraise=True, before_sleep=on_retry,
    )
    retrying(pull_once, client, ref, on_event)


def pull_all(client: docker.DockerClient, refs: list[ImageRef], images: ImagesConfig,
             console: Console) -> dict[str, str]:
    """Pull every missing image with a progress bar each; return {local name: error} for the failures."""
    missing = [s.ref for s in inspect(client, refs) if not s.present]
    failures: dict[str, str] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[note]}"), console=console) as progress:
        for ref in missing:
            task = progress.add_task(ref.source, total=None, note="")
            layers: dict[str, tuple[int, int]] = {}

            def on_event(event: dict, task=task, layers=layers) -> None:
                detail = event.get("progressDetail") or {}
                if event.get("id") and detail.get("total"):
                    layers[event["id"]] = (int(detail.get("current") or 0), int(detail["total"]))
                    progress.update(task, completed=sum(c for c, _ in layers.values()),
                                    total=sum(t for _, t in layers.values()))

            def on_retry(state: RetryCallState, task=task, ref=ref) -> None:
                wait = state.next_action.sleep if state.next_action else 0
                note = f"rate-limited (try {state.attempt_number} of {images.pull_attempts}); waiting {wait:.1f}s"
                progress.update(task, note=f"[yellow]{note}[/]")
                progress.console.print(f"{ref.source}: {note}", highlight=False, markup=False, soft_wrap=True)

            try:
                pull(client, ref, images, on_event, on_retry)
                progress.update(task, note="[green]done[/]")
            except EnvError as e:
                kind = "rate-limited, gave up" if isinstance(e, RateLimited) else "failed"
                failures[ref.local] = f"{kind}: {e}"
                progress.update(task, note=f"[red]{kind}[/]")
    return failures


def ensure(client: docker.DockerClient, ref: ImageRef, env: EnvConfig, fix: str) -> None:
    """The image is present afterwards, or ImageMissing says why and which command gets it."""
    try:
        client.images.get(ref.local)
        return
    except docker.errors.ImageNotFound:
        pass
    if env.pull == "never":
        raise ImageMissing(f"image {ref.local} is not present and env.pull=never; get it with: {fix}")
    try:
        pull(client, ref, env.images)
    except EnvError as e:
        where = f" from {ref.source}" if ref.source != ref.local else ""
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ImageMissing(f"image {ref.local} is not present and could not be pulled{where} ({first}); "
                           f"get it with: {fix}") from None


def users(client: docker.DockerClient, name: str) -> list[str]:
    """Containers (of any process, running or not) started from this image name."""
    found = []
    for container in client.containers.list(all=True, filters={"ancestor": name}):
        if container.attrs.get("Config", {}).get("Image") == name:
            found.append(container.name)
    return found


def _remove(client: docker.DockerClient, name: str) -> bool:
    """Untag `name` unless a container uses it; True if it is gone."""
    if name in PROTECTED or users(client, name):
        return False
    try:
        client.images.remove(name, noprune=False)  # never force: Docker refuses while a container needs it
        return True
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.APIError:  # 409: in use (a container created meanwhile); kept
        return False


def apply_keep(client: docker.DockerClient, refs: list[ImageRef], images: ImagesConfig) -> tuple[list[str], list[str]]:
    """Remove this run's instance images as `env.images.keep` says; return (removed, kept in use)."""
    if images.keep == "all":
        return [], []
    states = [s for s in inspect(client, refs) if s.present and s.ref.local not in PROTECTED]
    total = sum(s.size for s in states)
    budget = images.budget_gb * 1e9
    removed, busy = [], []
    for state in states:  # oldest first: the order the caller passes
        if images.keep == "budget" and total <= budget:
            break
        names = [state.ref.local] + ([state.ref.source] if state.ref.source != state.ref.local else [])
        gone = [n for n in names if _remove(client, n)]
        if state.ref.local in gone:
            removed.append(state.ref.local)
            total -= state.size
        else:
            busy.append(state.ref.local)
    return removed, busy


def human_size(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"
