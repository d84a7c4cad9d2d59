"""The wheel works outside a checkout, on the lowest Python it claims.

The wheel is built from a copy of the source tree, installed without its dependencies into a
fresh virtual environment (which reaches the dependencies already installed for the tests
through a .pth file, so the test needs no network), and run from an empty folder:
`atlas plan` must find the bundled Hydra tree, and `atlas run model=gold` must grade every
bundled task resolved, with the run written under that folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "runs", "build", "dist", "__pycache__", "*.egg-info",
                                    ".pytest_cache")


def _run(argv: list, cwd: Path, timeout: int = 600, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert done.returncode == 0, f"{argv}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(the fresh venv's bin folder, the wheel)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO_ROOT, source, ignore=NOT_SOURCE)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", root / "dist", source], root)
    (wheel,) = (root / "dist").glob("atlas_swe-*.whl")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", venv], root)
    # the dependencies already installed for this interpreter, without ATLAS itself: a path in a
    # .pth file is added to sys.path, but the .pth files inside it (the editable install's) are not run
    site = Path(_run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     root).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "atlas_test_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    _run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], root)
    return venv / "bin", wheel


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def test_the_wheel_claims_the_python_it_is_tested_on(installed):
    bin_dir, wheel = installed
    metadata = zipfile.ZipFile(wheel).read(f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info/METADATA")
    claimed = re.search(r"^Requires-Python: >=(\d+)\.(\d+)$", metadata.decode(), re.M)
    assert claimed, "the wheel states no lower bound for Python"
    lowest = (int(claimed.group(1)), int(claimed.group(2)))
    running = tuple(json.loads(_run([bin_dir / "python", "-c", "import sys, json; print(json.dumps(sys.version_info[:2]))"],
                                    bin_dir).stdout))
    assert running >= lowest
    if running != lowest:  # the suite runs on a newer Python: at least compile every module with the lowest
        interpreter = shutil.which(f"python{lowest[0]}.{lowest[1]}")
        if interpreter is None:
            pytest.fail(f"the wheel claims Python >={lowest[0]}.{lowest[1]} but the tests run on {running} and "
                        f"python{lowest[0]}.{lowest[1]} is not installed to check it")
        sources = Path(_run([bin_dir / "python", "-c", "import atlas, os; print(os.path.dirname(atlas.__file__))"],
                            bin_dir).stdout.strip())
        _run([interpreter, "-m", "compileall", "-q", sources], bin_dir)


def test_installed_wheel_plans_and_runs_gold_from_an_empty_folder(installed, sample_images, tmp_path):
    bin_dir, _ = installed
    empty = tmp_path / "empty"
    empty.mkdir()
    where = _run([bin_dir / "python", "-c", "import atlas, atlas.config as c; print(atlas.__file__); print(c.CONF_DIR)"],
                 empty, env=_clean_env()).stdout.split()
    assert all(Path(p).is_relative_to(bin_dir.parent) for p in where), where  # ATLAS from the wheel, not the checkout

    plan_args = ["plan", "model=qwen2.5-coder-14b-awq", "gpu.vram_gb=24"]
    plan = _run([bin_dir / "atlas", *plan_args], empty, env=_clean_env())
    assert "vllm serve flags: --max-model-len" in plan.stdout
    assert plan.stdout == _run([sys.executable, "-m", "atlas.cli", *plan_args], REPO_ROOT).stdout  # same as the checkout

    _run([bin_dir / "atlas", "run", "model=gold"], empty, timeout=900, env=_clean_env())
    run_dir = empty / "runs" / "sample.gold.bash"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["sessions"][-1]["versions"]["source"]["commit"] is None  # not a git checkout
    verdicts = json.loads((run_dir / "results.json").read_text())["instances"]
    assert len(verdicts) == len(sample_images) == 10
    assert all(v["resolved"] for v in verdicts.values()), verdicts
