"""Stand-in images for real SWE-bench instances, built offline under their official names.

The official images (`swebench/sweb.eval.x86_64.<id>`) are pulled from Docker Hub; where that is
not possible (no network, tests), `atlas images build --dataset FILE` builds a stand-in with the
layout the harness's eval script needs:

- `/testbed`: the real repository at the row's `base_commit` (the real commit object, its history
  cut at that commit), from a local git mirror (see `find_mirror`); no code is shipped with ATLAS.
- `/opt/miniconda3/bin/activate`: a shim whose `conda activate testbed` activates a venv at
  `/opt/miniconda3/envs/testbed`, made from the Debian suite's Python (bullseye: 3.9, bookworm: 3.11).
- the test dependencies (`atlas/standins/environments.yaml`) installed offline from wheels
  downloaded from PyPI at build time, then the harness's own install step for the repo version;
  pip inside the image reads the same wheels, so the eval script's reinstall works offline too.

Git mirrors: bare repositories named `owner+name` or `owner/name.git` in the directories of
`ATLAS_GIT_MIRRORS` (os.pathsep-separated), then `~/.cache/atlas/git-mirrors`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

import docker
import yaml

from atlas.datasets import DatasetError, Instance
from atlas.environments.docker import EnvError
from atlas.errors import BadInput
from atlas.images import BASE_PACKAGES, build_base_image, image_exists

STANDINS = Path(__file__).resolve().parent / "standins"
MIRRORS_ENV = "ATLAS_GIT_MIRRORS"
DEFAULT_MIRRORS = Path("~/.cache/atlas/git-mirrors")
WHEEL_CACHE = Path("~/.cache/atlas/wheels")
# a superset of the sample tasks' base packages: whichever builds atlas-base:<suite> first, it serves both
SUITE_PACKAGES = (*BASE_PACKAGES, "python3-venv")
SUITE_PYTHON = {"bullseye": "3.9", "bookworm": "3.11"}
# wheel platforms a Debian bullseye (glibc 2.31) x86_64 container can load
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_24_x86_64", "manylinux_2_28_x86_64", "manylinux_2_31_x86_64")
LABEL = "atlas.standin"

DOCKERFILE = """\
FROM atlas-base:{suite}
COPY wheels /opt/wheels
COPY pip.conf /etc/pip.conf
COPY activate /opt/miniconda3/bin/activate
COPY profile.sh /etc/profile.d/testbed.sh
# pip comes from its wheel, not ensurepip: a base image built for the sample tasks lacks python3-venv
RUN python3 -m venv --without-pip /opt/miniconda3/envs/testbed \\
 && /opt/miniconda3/envs/testbed/bin/python "$(ls /opt/wheels/pip-*.whl)/pip" install -q /opt/wheels/pip-*.whl \\
 && /opt/miniconda3/envs/testbed/bin/python -m pip install -q -r /opt/wheels/requirements.txt
ADD testbed.tar /
WORKDIR /testbed
{env}RUN bash -c 'set -e; source /opt/miniconda3/bin/activate; conda activate testbed; {install}'
"""


class MirrorMissing(BadInput):
    """No local git mirror holds the repository an image needs: set-up the user does (exit 2), not a failure."""


def mirror_dirs() -> list[Path]:
    extra = [Path(p).expanduser() for p in os.environ.get(MIRRORS_ENV, "").split(os.pathsep) if p]
    return [*extra, DEFAULT_MIRRORS.expanduser()]


def find_mirror(repo: str) -> Path:
    """The bare git mirror of `owner/name`, or MirrorMissing saying how to make one."""
    owner, name = repo.split("/", 1)
    for folder in mirror_dirs():
        for candidate in (folder / f"{owner}+{name}", folder / owner / f"{name}.git"):
            if candidate.is_dir() and (candidate / "objects").is_dir():
                return candidate
    target = mirror_dirs()[0] / f"{owner}+{name}"
    raise MirrorMissing(
        f"no git mirror of {repo} in {', '.join(str(d) for d in mirror_dirs())}: run "
        f"`git clone --mirror https://github.com/{repo} {target}` (or set {MIRRORS_ENV} to a directory holding "
        f"{owner}+{name} or {owner}/{name}.git)"
    )


@cache
def environments() -> dict:
    return yaml.safe_load((STANDINS / "environments.yaml").read_text())


def environment_for(instance: Instance) -> dict:
    env = environments().get(instance.repo, {}).get(str(instance.version))
    if env is None:
        known = [f"{r} {v}" for r, vs in environments().items() for v in vs]
        raise DatasetError(f"{instance.instance_id}: no stand-in environment for {instance.repo} version "
                           f"{instance.version!r} (known: {', '.join(known)}); add one to {STANDINS / 'environments.yaml'}")
    if not any(re.match(r"pip\b(?!-)", r) for r in env["requirements"]):
        raise DatasetError(f"{STANDINS / 'environments.yaml'}: {instance.repo} {instance.version}: requirements must pin pip "
                           "(the testbed env's pip is installed from its wheel)")
    return env


def install_command(instance: Instance) -> str:
    from atlas.dataset_convert import eval_specs

    spec = eval_specs().get(instance.repo, {}).get(str(instance.version), {})
    return spec.get("install", "true")


def download_wheels(requirements: list[str], python: str) -> Path:
    """A folder of wheels for `requirements` on Linux x86_64 CPython `python`, cached by content."""
    key = hashlib.sha256(f"{python}\n{chr(10).join(requirements)}".encode()).hexdigest()[:16]
    folder = WHEEL_CACHE.expanduser() / f"py{python}-{key}"
    if (folder / "requirements.txt").is_file():
        return folder
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    command = [sys.executable, "-m", "pip", "download", "-q", "-d", str(partial), "--only-binary=:all:",
               # pip expands only manylinux2014 to the older tags; the newer ones are named one by one
               *[a for tag in PLATFORMS for a in ("--platform", tag)], "--python-version", python, "--implementation", "cp",
               "--abi", f"cp{python.replace('.', '')}", *requirements]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise EnvError(f"could not download the test dependencies from PyPI (`{' '.join(command)}`):\n{done.stderr[-3000:]}")
    (partial / "requirements.txt").write_text("\n".join(requirements) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder


def _git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise EnvError(f"`git {' '.join(args)}` failed: {done.stderr.strip()}")
    return done.stdout


def export_testbed(mirror: Path, commit: str, tar_path: Path) -> None:
    """Write /testbed as a tar: the repository checked out at `commit`, history cut at that commit."""
    with tempfile.TemporaryDirectory(prefix="atlas-testbed-") as tmp:
        testbed = Path(tmp) / "testbed"
        _git("init", "-q", str(testbed))
        try:
            _git("fetch", "-q", "--depth=1", f"file://{mirror.resolve()}", commit, cwd=testbed)
        except EnvError as e:
            raise EnvError(f"the mirror {mirror} lacks commit {commit} (update it with "
                           f"`git -C {mirror} remote update`): {e}") from None
        _git("reset", "-q", "--hard", "FETCH_HEAD", cwd=testbed)
        subprocess.run(["tar", "-C", tmp, "-cf", str(tar_path), "testbed"], check=True)


def scm_version(mirror: Path, commit: str) -> str:
    """The version setuptools-scm gives a clean checkout of `commit` with all tags (its default
    guess-next-dev scheme): the tag itself, or the tag's last number plus one, `.devN+gHASH`."""
    try:
        described = _git("describe", "--tags", "--long", "--match", "*[0-9]*", commit, cwd=mirror).strip()
    except EnvError as e:
        raise EnvError(f"no version tag below {commit} in {mirror}, so setuptools-scm's version is unknown: {e}") from None
    tag, distance, node = described.rsplit("-", 2)
    tag = tag.removeprefix("v")
    if distance == "0":
        return tag
    head, _, last = tag.rpartition(".")
    if not last.isdigit():
        raise EnvError(f"cannot derive the next version after tag {tag!r} of {mirror} (setuptools-scm's scheme)")
    return f"{head + '.' if head else ''}{int(last) + 1}.dev{distance}+{node}"


def _context(instance: Instance, env: dict, folder: Path) -> None:
    python = SUITE_PYTHON[env["suite"]]
    shutil.copytree(download_wheels(list(env["requirements"]), python), folder / "wheels")
    for name in ("activate", "profile.sh", "pip.conf"):
        shutil.copy(STANDINS / name, folder / name)
    mirror = find_mirror(instance.repo)
    export_testbed(mirror, instance.base_commit, folder / "testbed.tar")
    # the cut history has no tags: pin the version the official image's full clone would get
    lines = (f"ENV SETUPTOOLS_SCM_PRETEND_VERSION={scm_version(mirror, instance.base_commit)}\n"
             if env.get("scm_version") else "")
    (folder / "Dockerfile").write_text(DOCKERFILE.format(suite=env["suite"], install=install_command(instance), env=lines))


def build_standin_images(client: docker.DockerClient, instances: list[Instance], force: bool = False,
                         log=lambda message: None) -> list[str]:
    """Build the stand-in image of every instance whose image is missing (all, with force); return names built."""
    wanted = [i for i in instances if force or not image_exists(client, i.image_name())]
    plans = [(i, environment_for(i)) for i in wanted]  # refuse unknown versions before building anything
    for instance, _ in plans:
        find_mirror(instance.repo)  # and missing mirrors
    built = []
    for instance, env in plans:
        build_base_image(client, suite=env["suite"], packages=SUITE_PACKAGES)
        name = instance.image_name()
        log(f"{name}: building the stand-in of {instance.instance_id} ({instance.repo} @ {instance.base_commit[:12]})")
        with tempfile.TemporaryDirectory(prefix="atlas-standin-") as tmp:
            _context(instance, env, Path(tmp))
            try:
                # no network in RUN steps: everything the build needs is in the context
                client.images.build(path=tmp, tag=name, network_mode="none", rm=True, forcerm=True,
                                    labels={LABEL: "1", "atlas.instance": instance.instance_id})
            except docker.errors.BuildError as e:
                tail = "".join(str(chunk.get("stream", chunk.get("error", ""))) for chunk in e.build_log)[-3000:]
                raise EnvError(f"building {name} failed: {e.msg}\n{tail}") from None
        built.append(name)
    return built
