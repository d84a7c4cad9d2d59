"""The offline vLLM bundle: package lists, what travels, parts that round-trip, install from parts (no network)."""

import random
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from bench import gpu_kit
from bench.gpu_kit import (MANIFEST, find_parts, open_joined, parse_packages, prune, select, split_file,
                           unpack_wheel)

HOST_LIST = Path(__file__).resolve().parent.parent / "bench" / "hosts" / "lent-gpu-2026-11.txt"


def test_parse_packages_reads_freeze_list_and_prose_forms():
    text = """# comment
Package    Version
---------- -------
torch==2.11.0
Huggingface_Hub==1.33.0 ; python_version > "3"
-e git+https://example.invalid/x.git#egg=x
local @ file:///tmp/local
numpy      2.5.2
absl-py, accelerate, aiofiles
"""
    packages = parse_packages(text)
    assert packages["torch"] == "2.11.0" and packages["huggingface-hub"] == "1.33.0"
    assert packages["numpy"] == "2.5.2" and packages["local"] is None
    assert {"absl-py", "accelerate", "aiofiles"} <= set(packages) and packages["accelerate"] is None
    assert "package" not in packages and "x" not in packages


def test_select_keeps_the_hosts_packages_and_drops_the_torch_family():
    resolved = {"vllm": "0.26.0", "torch": "2.11.0", "nvidia-nccl-cu13": "2.28", "numpy": "2.3.5",
                "transformers": "5.24.0", "xgrammar": "0.2.7", "flashinfer-python": "0.6.14",
                "apache-tvm-ffi": "0.1.10", "pydantic": "2.14.4"}
    host = {"numpy": "2.5.2", "transformers": None, "pydantic": "2.14.4"}
    chosen = select(resolved, host)
    assert set(chosen.carry) == {"vllm", "xgrammar", "apache-tvm-ffi"}
    assert "excluded" in chosen.dropped["torch"] and "excluded" in chosen.dropped["nvidia-nccl-cu13"]
    assert "excluded" in chosen.dropped["flashinfer-python"]
    assert "on the host in 2.5.2, resolved 2.3.5" in chosen.dropped["numpy"]
    assert chosen.dropped["pydantic"] == "on the host (2.14.4)"
    forced = select(resolved, host, keep=["numpy", "flashinfer-python"])
    assert forced.carry["numpy"] == "2.3.5" and "flashinfer-python" in forced.carry


def test_the_recorded_host_list_has_what_vllm_must_not_carry():
    host = parse_packages(HOST_LIST.read_text())
    assert host["torch"] == "2.11.0" and "transformers" in host and "zstandard" not in host
    chosen = select({"torch": "2.11.0", "transformers": "5.24.0", "blake3": "1.0.11"}, host)
    assert set(chosen.carry) == {"blake3"}


def test_parts_round_trip(tmp_path):
    data = bytes(range(256)) * 5000 + b"tail"
    source = tmp_path / "bundle.bin"
    source.write_bytes(data)
    out = tmp_path / "parts"
    out.mkdir()
    parts = split_file(source, 100_000, out)
    assert len(parts) == 13 and all(p["size"] <= 100_000 for p in parts)
    # parts carried in separate trips land in different folders: found in any of them
    elsewhere = tmp_path / "second-trip"
    elsewhere.mkdir()
    for part in parts[5:]:
        shutil.move(out / part["name"], elsewhere / part["name"])
    found = find_parts({"parts": parts}, [out, elsewhere])
    with open_joined(found) as joined:
        assert joined.read() == data
    (elsewhere / parts[7]["name"]).write_bytes(b"x" * parts[7]["size"])
    (out / parts[0]["name"]).unlink()
    with pytest.raises(SystemExit) as failure:
        find_parts({"parts": parts}, [out, elsewhere])
    assert "part000: missing" in str(failure.value) and "part007: size or sha256 differs" in str(failure.value)


def make_wheel(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return path


def test_unpack_wheel_and_prune(tmp_path):
    wheel = make_wheel(tmp_path / "demo-1.0-py3-none-any.whl", {
        "demo/__init__.py": b"VALUE = 1\n", "demo-1.0.dist-info/METADATA": b"Name: demo\n",
        "demo-1.0.data/purelib/demo_extra.py": b"X = 2\n", "demo-1.0.data/scripts/demo": b"#!/bin/sh\n"})
    site = tmp_path / "site"
    unpack_wheel(wheel, site)
    assert (site / "demo" / "__init__.py").is_file() and (site / "demo_extra.py").is_file()
    assert not (site / "demo").with_name("demo-1.0.data").exists()
    make_wheel(tmp_path / "vllm.whl", {"vllm/vllm_flash_attn/_vllm_fa2_C.abi3.so": b"0" * 100,
                                       "vllm/vllm_flash_attn/_vllm_fa3_C.abi3.so": b"1" * 100,
                                       "vllm/third_party/fmha_sm100/cutlass/a.h": b"h",
                                       "vllm/third_party/fmha_sm100/api.py": b"",
                                       "vllm/third_party/deep_gemm/_C.cpython-311-x86_64-linux-gnu.so": b"s",
                                       "vllm/third_party/deep_gemm/_C.cpython-312-x86_64-linux-gnu.so": b"s"})
    unpack_wheel(tmp_path / "vllm.whl", site)
    removed = {path for path, _ in prune(site)}
    assert removed == {"vllm/vllm_flash_attn/_vllm_fa2_C.abi3.so", "vllm/third_party/fmha_sm100/cutlass/a.h",
                       "vllm/third_party/deep_gemm/_C.cpython-311-x86_64-linux-gnu.so"}
    assert (site / "vllm/vllm_flash_attn/_vllm_fa3_C.abi3.so").is_file()
    assert (site / "vllm/third_party/deep_gemm/_C.cpython-312-x86_64-linux-gnu.so").is_file()
    assert not (site / "vllm/third_party/fmha_sm100/cutlass").exists()  # emptied folders go too
    # a build's --prune patterns: a whole vendored package leaves no folder behind to import as a namespace
    removed = {path for path, _ in prune(site, ["vllm/third_party/deep_gemm/*"])}
    assert removed == {"vllm/third_party/deep_gemm/_C.cpython-312-x86_64-linux-gnu.so"}
    assert not (site / "vllm/third_party/deep_gemm").exists() and (site / "vllm/third_party/fmha_sm100/api.py").is_file()


@pytest.mark.skipif(shutil.which("zstd") is None, reason="packing needs the zstd program (apt-get install zstd)")
def test_pack_split_and_install_from_parts(tmp_path):
    site = tmp_path / "work" / "site"
    (site / "fakevllm").mkdir(parents=True)
    payload = random.Random(0).randbytes(1_280_000)  # incompressible, so the archive needs several parts
    (site / "fakevllm" / "__init__.py").write_text("VERSION = '0.0.1'\n")
    (site / "fakevllm" / "blob.bin").write_bytes(payload)
    archive = tmp_path / "work" / gpu_kit.ARCHIVE
    gpu_kit.pack(site, archive, level=3)
    out = tmp_path / "kit"
    out.mkdir()
    parts = split_file(archive, 300_000, out)
    assert len(parts) >= 2
    (out / MANIFEST).write_text(json.dumps({"parts": parts, "archive_sha256": gpu_kit.sha256_file(archive)}))
    target = tmp_path / "env"
    gpu_kit.main(["install", str(out), "--target", str(target), "--python", "/usr/bin/env python3"])
    assert (target / "site" / "fakevllm" / "blob.bin").read_bytes() == payload
    launcher = (target / "bin" / "vllm").read_text()
    assert str(target / "site") in launcher and "VLLM_USE_FLASHINFER_SAMPLER" in launcher
    # a part from another build is refused before anything is unpacked
    (out / parts[-1]["name"]).write_bytes(b"\0" * parts[-1]["size"])
    with pytest.raises(SystemExit, match="size or sha256 differs"):
        gpu_kit.main(["install", str(out), "--target", str(tmp_path / "env2")])
