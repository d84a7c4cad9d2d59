"""Images the containers start from.

- The ATLAS base image (`atlas-base:bookworm`): Debian with python3, pytest and git, built
  offline from Debian packages with debootstrap and imported into Docker; no registry.
- Instance images of a task repo (the bundled tasks): built from each task's Dockerfile
  with the official harness's image builder, so agents and grading use the same image.
- Official SWE-bench images (`swebench/sweb.eval.x86_64.*`) are pulled per instance by the
  Docker environment when missing.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import docker
import docker.errors

from atlas.datasets import Instance
from atlas.environments.docker import EnvError

BASE_IMAGE = "atlas-base:bookworm"
ROOTFS_IMAGE = "atlas-rootfs:bookworm"
# Finishes the imported root filesystem. No RUN step, so it builds with no network at all.
# `tail -f /dev/null` as PID 1 ignores SIGTERM: without STOPSIGNAL every `docker stop`
# (the harness stops each container) waits out its 15-second grace period.
BASE_DOCKERFILE = f"""FROM {ROOTFS_IMAGE}
ENV LANG=C.UTF-8
STOPSIGNAL SIGKILL
LABEL org.opencontainers.image.title="ATLAS base image" atlas.base="1"
CMD ["/bin/bash"]
"""
BASE_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-pytest", "git", "patch", "procps", "ca-certificates")
DEBIAN_MIRROR = "http://deb.debian.org/debian"


def image_exists(client: docker.DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
        return True
    except docker.errors.ImageNotFound:
        return False


def build_base_image(client: docker.DockerClient, force: bool = False, mirror: str = DEBIAN_MIRROR,
                     suite: str = BASE_SUITE, packages: tuple[str, ...] = BASE_PACKAGES) -> str:
    """Build `atlas-base:<suite>` with debootstrap (needs root and the debootstrap package); return its id.

    The default is BASE_IMAGE (bookworm); the stand-ins of real instances use bullseye's Python 3.9.
    """
    base_image, rootfs_image = f"atlas-base:{suite}", f"atlas-rootfs:{suite}"
    if image_exists(client, base_image) and not force:
        return client.images.get(base_image).id
    if shutil.which("debootstrap") is None:
        raise EnvError("building the base image needs debootstrap: `apt-get install -y debootstrap`")
    if os.geteuid() != 0:
        raise EnvError("debootstrap needs root: run `sudo atlas images build`")
    with tempfile.TemporaryDirectory(prefix="atlas-rootfs-") as rootfs:
        command = [
            "debootstrap", "--variant=minbase", f"--include={','.join(packages)}",
            suite, rootfs, mirror,
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise EnvError(f"debootstrap failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        repository, tag = rootfs_image.split(":")
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        try:
            client.api.import_image_from_stream(tar.stdout, repository=repository, tag=tag)
        finally:
            tar.stdout.close()
            tar.wait()
    dockerfile = BASE_DOCKERFILE.replace(ROOTFS_IMAGE, rootfs_image)
    client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=base_image, rm=True)
    return client.images.get(base_image).id


def buildx_available() -> bool:
    return subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode == 0


def build_task_images(
    client: docker.DockerClient, task_repo: str, instances: list[Instance], log_dir: Path,
    workers: int = 2, force: bool = False,
) -> list[str]:
    """Build the missing images of these task-repo instances; return the names built.

    Uses the official harness's builder (docker buildx), so `swebench eval --task-repo`
    would build the very same images.
    """
    from swebench.image_builder.docker_build import build_instance_images
    from swebench.image_builder.image_spec import get_image_specs_from_dataset
    from swebench.task.repo import load_dockerfiles, task_paths

    wanted = [i for i in instances if force or not image_exists(client, i.image_name())]
    if not wanted:
        return []
    if not buildx_available():
        raise EnvError("building task images needs docker buildx: install the docker-buildx plugin "
                       "(Debian: package docker-buildx; Docker CE: docker-buildx-plugin)")
    ids = [i.instance_id for i in wanted]
    dockerfiles = load_dockerfiles(task_repo, ids)
    if any(BASE_IMAGE in text for text in dockerfiles.values()):
        build_base_image(client)
    sample = wanted[0].image_name()
    namespace = sample.split("/")[0] if "/" in sample else None
    tag = sample.rsplit(":", 1)[1] if ":" in sample.rsplit("/", 1)[-1] else "latest"
    specs = get_image_specs_from_dataset(
        [i.model_dump() for i in wanted], dockerfiles, namespace, tag, task_paths(task_repo, ids)
    )
    log_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.chdir(log_dir):  # the builder writes logs/ under the working directory
        build_instance_images(client=client, image_specs=specs, force_rebuild=force, max_workers=workers)
    failed = [i.image_name() for i in wanted if not image_exists(client, i.image_name())]
    if failed:
        raise EnvError(f"could not build {', '.join(failed)}; see the build logs under {log_dir}/logs/image_builder")
    return [i.image_name() for i in wanted]
