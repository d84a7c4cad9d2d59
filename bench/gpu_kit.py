"""Carry vLLM to a GPU host that has no network: build a bundle online, install it offline.

    # on a host with PyPI access (needs `uv` and `pip`); HOST.txt is `pip list --format=freeze`
    # (or just package names, one a line) from the GPU host, so nothing it already has is carried
    python -m bench.gpu_kit build --out kit/ --host-packages HOST.txt [--vllm 0.26.0] [--part-mb 60]

    # copy kit/ over (all parts, or a few at a time into one folder), then on the GPU host:
    python3 -m bench.gpu_kit install kit/ --target ~/vllm-env
    export PYTHONPATH=~/vllm-env/site PATH=~/vllm-env/bin:$PATH    # `vllm serve ...` now works

Build resolves vLLM's dependencies for CPython 3.12 on manylinux x86_64 (`uv pip compile`),
drops what the host already has (same version, or the name alone for a names-only list), the
PyTorch/CUDA family the host must provide, and the optional kernel libraries a stock
`vllm serve` of a supported model never imports (FlashInfer, TileLang, CUTLASS DSL, ...; set
VLLM_USE_FLASHINFER_SAMPLER=0 on the host). It unpacks the wheels into one site folder,
prunes kernels a Hopper card does not use (the FlashAttention-2 library, Blackwell-only
sources, other CPython versions' extensions, the Rust frontend), and packs the folder as
tar + zstd in parts small enough for a size-limited transfer, with a `zstandard` wheel beside
them. Install needs the standard library and that wheel (or a zstd program): it checks every
part's sha256, streams the parts back into one archive, unpacks it and writes a `vllm` launcher.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable

PYTHON_VERSION = "3.12"
PLATFORM = "x86_64-manylinux_2_28"
PIP_PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64",
                 "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64", "linux_x86_64",
                 "manylinux_2_31_x86_64", "manylinux_2_34_x86_64", "manylinux_2_35_x86_64",
                 "manylinux_2_39_x86_64"]  # the lent hosts run glibc 2.39
MANIFEST = "manifest.json"
ARCHIVE = "bundle.tar.zst"
WINDOW_LOG = 27

# The GPU host provides these (they must match its driver and PyTorch build): never carried.
HOST_FAMILY = ["torch", "torchvision", "torchaudio", "triton", "nvidia-*", "cuda-*", "cupy-*"]
# Optional kernel libraries vLLM imports only for features a plain `vllm serve` of the presets
# does not use on Hopper (FlashInfer sampling/attention, TileLang, CUTLASS DSL kernels, video
# decoding, Blackwell MLA); together they are several hundred MB.
# (apache-tvm-ffi stays: xgrammar, which every vLLM server imports, needs it.)
OPTIONAL_KERNELS = ["flashinfer-*", "tilelang", "z3-solver", "quack-kernels", "tokenspeed-*", "humming-kernels",
                    "torchcodec", "pynvvideocodec", "fastsafetensors"]
# Files inside the unpacked site folder that an H100 never loads.
PRUNE = ["vllm/vllm_flash_attn/_vllm_fa2_C*.so",          # FlashAttention 2: Hopper runs FA3
         "vllm/third_party/fmha_sm100/cutlass/*",          # Blackwell attention sources
         "vllm/third_party/fmha_sm100/csrc/*",
         "vllm/vllm-rs",                                     # Rust frontend, only with VLLM_RUST_FRONTEND_PATH
         "*/_C.cpython-310-*.so", "*/_C.cpython-311-*.so", "*/_C.cpython-313-*.so", "*/_C.cpython-314-*.so",
         "*/__pycache__/*"]



def canonical(name: str) -> str:
    """PEP 503 normal form: 'Foo_Bar.baz' -> 'foo-bar-baz'."""
    return re.sub(r"[-_.]+", "-", name).lower().strip()


def parse_packages(text: str) -> dict[str, str | None]:
    """Name -> version (None when unknown) from `pip freeze`, `pip list`, `uv pip compile` output or bare names.

    Comments, blank lines, `-e` lines and pip list's header are skipped; names may also be
    separated by commas (as in a prose list).
    """
    packages: dict[str, str | None] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith(("-", "Package ")) or set(line) <= {"-", " "}:
            continue
        if "==" in line:
            name, version = line.split("==", 1)
            packages[canonical(name.split("[")[0])] = version.split(";")[0].strip()
        elif " @ " in line:
            packages[canonical(line.split(" @ ")[0])] = None
        else:
            for item in line.split(","):
                words = item.split()
                if not words:
                    continue
                version = words[1] if len(words) > 1 and re.match(r"^\d", words[1]) else None
                packages[canonical(words[0])] = version
    return packages


@dataclass
class Selection:
    carry: dict[str, str] = field(default_factory=dict)       # name -> version to download
    dropped: dict[str, str] = field(default_factory=dict)     # name -> why


def select(resolved: dict[str, str], host: dict[str, str | None],
           exclude: Iterable[str] = (*HOST_FAMILY, *OPTIONAL_KERNELS), keep: Iterable[str] = ()) -> Selection:
    """Which resolved packages must travel: those the host lacks.

    A package the host has stays the host's, in whatever version (its compiled extensions were
    built against the host's numpy, torch and CUDA); a differing version is reported in `dropped`.
    `exclude` patterns (fnmatch on canonical names) are never carried; `keep` overrides both
    the host list and `exclude` (e.g. to carry a newer copy of something the host has).
    """
    keep = {canonical(k) for k in keep}
    result = Selection()
    for name, version in sorted(resolved.items()):
        name = canonical(name)
        have = host.get(name, "absent") if name in host else "absent"
        if name in keep:
            result.carry[name] = version
        elif any(fnmatch.fnmatch(name, pattern) for pattern in exclude):
            result.dropped[name] = "excluded (host family or optional kernels)"
        elif have == "absent":
            result.carry[name] = version
        elif have is None or have == version:
            result.dropped[name] = f"on the host ({have or 'version not listed'})"
        else:  # the host's build stays: its compiled extensions match its other packages
            result.dropped[name] = f"on the host in {have}, resolved {version} (--keep {name} to carry it)"
    return result


# ---------------------------------------------------------------- parts


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def split_file(path: Path, part_bytes: int, out_dir: Path) -> list[dict]:
    """Cut `path` into `<name>.partNNN` files of at most `part_bytes`; returns [{name, size, sha256}]."""
    parts = []
    with open(path, "rb") as source:
        index = 0
        while chunk := source.read(part_bytes):
            part = out_dir / f"{path.name}.part{index:03d}"
            part.write_bytes(chunk)
            parts.append({"name": part.name, "size": len(chunk), "sha256": hashlib.sha256(chunk).hexdigest()})
            index += 1
    return parts


def find_parts(manifest: dict, folders: list[Path]) -> list[Path]:
    """Each part of the manifest, looked up in any of `folders`, checked by size and sha256."""
    found, problems = [], []
    for part in manifest["parts"]:
        candidates = [folder / part["name"] for folder in folders if (folder / part["name"]).is_file()]
        if not candidates:
            problems.append(f"{part['name']}: missing (looked in {', '.join(map(str, folders))})")
            continue
        path = candidates[0]
        if path.stat().st_size != part["size"] or sha256_file(path) != part["sha256"]:
            problems.append(f"{part['name']}: size or sha256 differs from {MANIFEST} (copy it again)")
        found.append(path)
    if problems:
        raise SystemExit("bundle incomplete:\n  " + "\n  ".join(problems))
    return found


class Joined(io.RawIOBase):
    """The parts read back to back as one stream (no second copy on disk)."""

    def __init__(self, paths: list[Path]):
        self.paths, self.handle = list(paths), None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while True:
            if self.handle is None:
                if not self.paths:
                    return 0
                self.handle = open(self.paths.pop(0), "rb")
            count = self.handle.readinto(buffer)
            if count:
                return count
            self.handle.close()
            self.handle = None


def open_joined(paths: list[Path]) -> BinaryIO:
    return io.BufferedReader(Joined(paths), buffer_size=1 << 20)


# ---------------------------------------------------------------- build


def host_constraints(host: dict[str, str | None]) -> str:
    """The host's known versions as pip constraints, so the resolver keeps what is there when it can."""
    return "".join(f"{name}=={version}\n" for name, version in sorted(host.items()) if version)


def resolve(requirements: list[str], work: Path, host: dict[str, str | None]) -> dict[str, str]:
    """Pinned versions of `requirements` and all their dependencies for CPython 3.12, manylinux x86_64,
    preferring the host's versions (a conflict with them falls back to a free resolution)."""
    request = work / "requirements.in"
    request.write_text("\n".join(requirements) + "\n")
    constraints = work / "host-constraints.txt"
    constraints.write_text(host_constraints(host))
    pinned = work / "resolved.txt"
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    command = [uv, "pip", "compile", str(request), "--python-version", PYTHON_VERSION,
               "--python-platform", PLATFORM, "--no-header", "--no-annotate", "-o", str(pinned)]
    if subprocess.run([*command, "-c", str(constraints)]).returncode:
        print("the host's versions conflict with these requirements: resolving without them", file=sys.stderr)
        subprocess.run(command, check=True)
    return {name: version for name, version in parse_packages(pinned.read_text()).items() if version}


def download(packages: dict[str, str], dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    platforms = [arg for p in PIP_PLATFORMS for arg in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
                    PYTHON_VERSION, "--implementation", "cp", *platforms, "-d", str(dest),
                    *(f"{name}=={version}" for name, version in packages.items())], check=True)
    return sorted(dest.glob("*.whl"))


def unpack_wheel(wheel: Path, site: Path) -> None:
    """What `pip install --target` does for a wheel, minus scripts: purelib/platlib into `site`."""
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            parts = info.filename.split("/")
            if parts[0].endswith(".data"):
                if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                    continue  # scripts, headers, data: not needed to import
                relative = "/".join(parts[2:])
            else:
                relative = info.filename
            if not relative or relative.endswith("/"):
                continue
            target = site / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
            mode = info.external_attr >> 16
            if mode & 0o111:
                target.chmod(0o755)


def prune(site: Path, patterns: Iterable[str] = PRUNE) -> list[tuple[str, int]]:
    """Delete files matching `patterns` (relative paths, fnmatch); returns (path, bytes) removed.

    Folders left empty go too: an empty package folder would still import (as a namespace
    package), and vLLM takes an importable module for a usable one."""
    removed = []
    for path in sorted(site.rglob("*")):
        if path.is_file():
            relative = path.relative_to(site).as_posix()
            if any(fnmatch.fnmatch(relative, pattern) for pattern in patterns):
                removed.append((relative, path.stat().st_size))
                path.unlink()
    for folder in sorted((p for p in site.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return removed


def pack(site: Path, archive: Path, level: int = 10) -> None:
    """tar + zstd (long window, all cores): a few MB/s even on a small machine, about 3.5x smaller."""
    if not shutil.which("zstd"):
        raise SystemExit("build needs the zstd program (apt-get install zstd)")
    with open(archive, "wb") as out:
        tar = subprocess.Popen(["tar", "-C", str(site.parent), "-cf", "-", site.name], stdout=subprocess.PIPE)
        subprocess.run(["zstd", f"-{level}", f"--long={WINDOW_LOG}", "-T0", "-q", "-c"], stdin=tar.stdout,
                       stdout=out, check=True)
        if tar.wait():
            raise SystemExit("tar failed")


def zstd_reader(stream: BinaryIO, helper_wheels: list[Path]) -> BinaryIO:
    """A decompressing reader: Python's `zstandard` if importable (or in a carried wheel), else the zstd program."""
    try:
        import zstandard
    except ImportError:
        zstandard = None
        for wheel in helper_wheels:  # a compiled module cannot be imported from the zip: unpack it first
            folder = Path(tempfile.mkdtemp(prefix="zstandard-"))
            unpack_wheel(wheel, folder)
            sys.path.insert(0, str(folder))
            try:
                import zstandard
                break
            except ImportError:
                sys.path.remove(str(folder))
    if zstandard is not None:
        return zstandard.ZstdDecompressor(max_window_size=1 << WINDOW_LOG).stream_reader(stream, read_size=1 << 20)
    if shutil.which("zstd"):
        process = subprocess.Popen(["zstd", "-d", f"--long={WINDOW_LOG}", "-c"], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE)

        def feed():
            with process.stdin:
                shutil.copyfileobj(stream, process.stdin, 1 << 20)

        import threading
        threading.Thread(target=feed, daemon=True).start()
        return process.stdout
    raise SystemExit("install needs Python's zstandard module or the zstd program: put a zstandard wheel "
                     "(cp312 manylinux) beside the parts")


def build(options: argparse.Namespace) -> None:
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(options.work or tempfile.mkdtemp(prefix="gpu-kit-"))
    work.mkdir(parents=True, exist_ok=True)
    requirements = [f"vllm=={options.vllm}", *options.with_]
    host = parse_packages(Path(options.host_packages).read_text()) if options.host_packages else {}
    resolved = resolve(requirements, work, host)
    chosen = select(resolved, host, keep=options.keep)
    print(f"{len(resolved)} resolved, {len(chosen.carry)} to carry, {len(chosen.dropped)} dropped")
    site = work / "site"
    removed: list[tuple[str, int]] = []
    if not (options.reuse and site.is_dir()):
        wheels = download(chosen.carry, work / "wheels")
        shutil.rmtree(site, ignore_errors=True)
        for wheel in wheels:
            unpack_wheel(wheel, site)
        for extra in options.wheel:  # local wheels (e.g. this project's) go in as they are
            unpack_wheel(Path(extra), site)
        removed = prune(site, [*PRUNE, *options.prune])
        (work / "pruned.json").write_text(json.dumps(removed))
        print(f"pruned {len(removed)} files, {sum(size for _, size in removed) / 2**20:.0f} MiB")
    elif (work / "pruned.json").is_file():
        removed = json.loads((work / "pruned.json").read_text())
    archive = work / ARCHIVE
    pack(site, archive, options.level)
    for old in out.glob(f"{ARCHIVE}.part*"):
        old.unlink()
    parts = split_file(archive, int(options.part_mb * 2**20), out)
    for old in out.glob("zstandard-*.whl"):
        old.unlink()
    helper = download({"zstandard": options.zstandard}, work / "helper")  # install's decompressor
    shutil.copy(helper[0], out)
    manifest = {"python": PYTHON_VERSION, "platform": PLATFORM, "requirements": requirements,
                "archive_sha256": sha256_file(archive), "parts": parts, "carried": chosen.carry,
                "dropped": chosen.dropped, "pruned": [path for path, _ in removed],
                "env": {"VLLM_USE_FLASHINFER_SAMPLER": "0"}}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    total = sum(p["size"] for p in parts)
    print(f"wrote {len(parts)} part(s), {total / 2**20:.1f} MiB, and {MANIFEST} to {out}")


# ---------------------------------------------------------------- install

LAUNCHER = """#!/bin/sh
# vLLM's command line from the bundle in {site}
export PYTHONPATH="{site}${{PYTHONPATH:+:$PYTHONPATH}}"
export VLLM_USE_FLASHINFER_SAMPLER="${{VLLM_USE_FLASHINFER_SAMPLER:-0}}"
exec {python} -c 'import sys; from vllm.entrypoints.cli.main import main; sys.argv[0] = "vllm"; sys.exit(main())' "$@"
"""


def install(options: argparse.Namespace) -> None:
    folders = [Path(f).expanduser() for f in options.parts]
    manifests = [f / MANIFEST for f in folders if (f / MANIFEST).is_file()]
    if not manifests:
        raise SystemExit(f"no {MANIFEST} in {', '.join(map(str, folders))}: copy it along with the parts")
    manifest = json.loads(manifests[0].read_text())
    parts = find_parts(manifest, folders)
    target = Path(options.target).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()

    class Hashing(io.RawIOBase):  # hash the joined archive while it is being unpacked
        def __init__(self, inner):
            self.inner = inner

        def readable(self):
            return True

        def readinto(self, buffer):
            count = self.inner.readinto(buffer)
            digest.update(memoryview(buffer)[:count])
            return count

    helpers = sorted(w for f in folders for w in f.glob("zstandard-*.whl"))
    with zstd_reader(io.BufferedReader(Hashing(open_joined(parts)), 1 << 20), helpers) as stream, \
            tarfile.open(fileobj=stream, mode="r|") as tar:
        tar.extractall(target, filter="data")
    if digest.hexdigest() != manifest["archive_sha256"]:
        raise SystemExit("the joined archive's sha256 differs from the manifest's: the parts are not from one build")
    site = target / "site"
    bin_dir = target / "bin"
    bin_dir.mkdir(exist_ok=True)
    launcher = bin_dir / "vllm"
    launcher.write_text(LAUNCHER.format(site=site, python=options.python or sys.executable))
    launcher.chmod(0o755)
    print(f"installed into {site}\nexport PYTHONPATH={site} PATH={bin_dir}:$PATH VLLM_USE_FLASHINFER_SAMPLER=0")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("build", help="resolve, download, prune and pack (needs PyPI)")
    b.add_argument("--out", required=True, help="folder for the parts and manifest.json")
    b.add_argument("--vllm", default="0.26.0", help="vLLM version (default %(default)s)")
    b.add_argument("--with", dest="with_", action="append", default=[], metavar="REQ",
                   help="another requirement to carry with its dependencies (repeatable)")
    b.add_argument("--wheel", action="append", default=[], help="a local wheel to add as it is (repeatable)")
    b.add_argument("--host-packages", help="the GPU host's `pip list --format=freeze` (or names, one a line)")
    b.add_argument("--keep", action="append", default=[], help="carry this package even if excluded or on the host")
    b.add_argument("--prune", action="append", default=[], metavar="PATTERN",
                   help="also delete these files from the site folder (fnmatch on relative paths; repeatable), "
                        "e.g. kernels the served model never loads")
    b.add_argument("--part-mb", type=float, default=60.0, help="largest part in MiB (default %(default)s)")
    b.add_argument("--work", help="scratch folder (default: a new temporary one)")
    b.add_argument("--reuse", action="store_true", help="pack the site folder already in --work again")
    b.add_argument("--zstandard", default="0.25.0", help="zstandard wheel carried for install (default %(default)s)")
    b.add_argument("--level", type=int, default=10, help="zstd level (default %(default)s)")
    i = commands.add_parser("install", help="check, join and unpack the parts (standard library only)")
    i.add_argument("parts", nargs="+", help="folder(s) holding manifest.json and the parts")
    i.add_argument("--target", required=True, help="folder to install into (site/ and bin/ go there)")
    i.add_argument("--python", help="interpreter the launcher runs (default: this one)")
    options = parser.parse_args(argv)
    build(options) if options.command == "build" else install(options)


if __name__ == "__main__":
    main()
