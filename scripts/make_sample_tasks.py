"""Regenerate the bundled sample tasks (atlas/sample_tasks/, a swebench 5.x task repo).

The tasks are authored under scripts/sample_task_sources/, one folder per codebase:

    <codebase>/codebase.yaml     version, author, and the commits that replay base/ as a history
    <codebase>/base/             the codebase at the tasks' base commit, with its passing tests
    <codebase>/tasks/<n>/
        task.yaml                summary, difficulty, created_at
        problem_statement.md     the issue, as a user would file it
        fix/                     source files as the reference fix leaves them  -> gold.patch
        tests/                   test files as the grading tests leave them     -> test.patch
        scripted.yaml            expected_resolved and the turns of the `scripted` model

For each task this writes tasks/<instance_id>/ (task.yaml, tests.json, problem_statement.md,
gold.patch, test.patch, eval.sh, Dockerfile, repo.bundle, testbed.tar.gz) and
scripted/<instance_id>.yaml. Git dates, names and tar metadata are fixed, so a rerun
reproduces every file byte for byte. FAIL_TO_PASS and PASS_TO_PASS come from running
the tests: in the atlas-base image through Docker (the interpreter the tasks run on), or
with the local python3 under --local.

The images cannot clone repo.bundle at build time: their Dockerfiles have no RUN step,
so they build on an engine without networking (see docker/README.md). testbed.tar.gz is
/testbed as `git clone repo.bundle` leaves it, checked out at the base commit; ADD unpacks it.

    python scripts/make_sample_tasks.py [--local] [--out atlas/sample_tasks]
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from datetime import datetime
from pathlib import Path

import yaml
from swebench.harness.log_parsers.python import parse_log_pytest
from swebench.task.checks import check_task_repo, errors, expected_image
from swebench.task.repo import dump_tests, dump_yaml

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "scripts" / "sample_task_sources"
DEFAULT_OUT = ROOT / "atlas" / "sample_tasks"
DATASET = "atlas/sample-tasks"
BASE_IMAGE = "atlas-base:bookworm"
HEREDOC = "EOF_114329324912"
PYTEST = ["python3", "-m", "pytest", "-rA", "-p", "no:cacheprovider"]
# whoever runs git in an image (an agent's `git stash`, say) needs an identity
TESTBED_USER = ("ATLAS", "atlas@localhost")

DOCKERFILE = """FROM {base_image}
# testbed.tar.gz is /testbed as `git clone repo.bundle && git checkout {base_commit}` leaves it,
# made by scripts/make_sample_tasks.py. ADD instead of cloning in a RUN step, so that the image
# builds on an engine without networking.
ADD testbed.tar.gz /
WORKDIR /testbed
"""

README = """# Sample tasks

A swebench 5.x task repo of small SWE-style tasks over codebases written for ATLAS.
**Generated** by `scripts/make_sample_tasks.py` from `scripts/sample_task_sources/`: edit the
sources and rerun it, do not edit these files by hand. `scripted/` holds the `scripted` model's
turns for the bash scaffold; `expected_resolved` says whether its patch should resolve the task.
`scripted_tools/` and `scripted_agentless/` (kept by hand, not generated) hold its answers for the
`tools` and `agentless` scaffolds, with their own `expected_resolved`.

| instance | difficulty | scripted resolves | bug |
| --- | --- | --- | --- |
{rows}
"""


# MARK: git


def git(repo: Path, *args: str, env: dict | None = None, text: bool = True) -> str:
    base_env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "LC_ALL": "C",
        "TZ": "UTC",
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        env={**base_env, **(env or {})},
        capture_output=True,
        text=text,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def author_env(author: str, date: str) -> dict:
    name, email = author.rsplit(" <", 1)
    email = email.rstrip(">")
    return {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
        "GIT_COMMITTER_DATE": date,
    }


def files_under(folder: Path) -> list[Path]:
    """Relative paths of the files under `folder`, sorted, skipping bytecode caches."""
    return sorted(
        p.relative_to(folder)
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and ".pytest_cache" not in p.parts
    )


def overlay(src: Path, dest: Path, only: list[str] | None = None) -> None:
    """Copy the files under `src` (or only those under the `only` prefixes) into `dest`."""
    for rel in files_under(src):
        if only is None or any(rel == Path(p) or Path(p) in rel.parents for p in only):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((src / rel).read_bytes())


def build_history(codebase: Path, meta: dict, repo: Path) -> str:
    """Replay base/ as the commits codebase.yaml lists; return the last (the base commit)."""
    git(repo, "init", "-q", "-b", "main")
    for commit in meta["commits"]:
        overlay(codebase / "base", repo, commit["paths"])
        git(repo, "add", "-A")
        env = author_env(meta["author"], commit["date"])
        git(repo, "commit", "-q", "--no-gpg-sign", "-m", commit["message"], env=env)
    committed = set(git(repo, "ls-files").split())
    missing = {str(p) for p in files_under(codebase / "base")} - committed
    if missing:
        raise ValueError(f"{codebase.name}: no commit adds {' '.join(sorted(missing))}")
    return git(repo, "rev-parse", "HEAD").strip()


def diff_with(repo: Path, base: str, changes: Path) -> str:
    """The `git diff` of base plus the files under `changes`; leaves the repo at base."""
    overlay(changes, repo)
    git(repo, "add", "-A")
    patch = git(repo, "diff", "--cached", "--no-color", "--no-ext-diff", base)
    git(repo, "reset", "-q", "--hard", base)
    git(repo, "clean", "-fdxq")
    return patch


# MARK: running the tests


def tree_tar(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for rel in files_under(folder):
            if ".git" not in rel.parts:
                tar.add(folder / rel, arcname=str(rel))
    return buffer.getvalue()


def run_pytest(folder: Path, test_files: list[str], local: bool) -> str:
    """pytest's -rA output for `test_files` in `folder`."""
    if local:
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        done = subprocess.run([*PYTEST, *test_files], cwd=folder, env=env, capture_output=True, text=True)
        return done.stdout + done.stderr
    script = "mkdir -p /testbed && cd /testbed && tar -x && exec " + " ".join([*PYTEST, *test_files])
    command = ["docker", "run", "--rm", "-i", "--network", "none", BASE_IMAGE, "bash", "-c", script]
    done = subprocess.run(command, input=tree_tar(folder), capture_output=True)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"pytest could not run ({done.returncode}):\n{done.stderr.decode()}")
    return done.stdout.decode() + done.stderr.decode()


def test_statuses(repo: Path, overlays: list[Path], test_files: list[str], local: bool) -> dict:
    for changes in overlays:
        overlay(changes, repo)
    try:
        output = run_pytest(repo, test_files, local)
        # the log parser splits on whitespace, so an id with a space in it would be cut short
        spaced = [line for line in output.splitlines() if line.startswith("PASSED ") and len(line.split()) > 2]
        if spaced:
            raise ValueError(f"test ids with whitespace (give them ids=): {spaced}")
        return parse_log_pytest(output, None)
    finally:
        git(repo, "reset", "-q", "--hard")
        git(repo, "clean", "-fdxq")


def grading_tests(name: str, before: dict, after: dict) -> dict:
    """FAIL_TO_PASS and PASS_TO_PASS from the statuses without and with the fix."""
    broken = sorted(t for t, status in after.items() if status != "PASSED")
    if broken:
        raise ValueError(f"{name}: tests fail with the reference fix: {broken}")
    f2p = [t for t in after if before.get(t) != "PASSED"]
    p2p = [t for t in after if before.get(t) == "PASSED"]
    if not f2p:
        raise ValueError(f"{name}: no test fails before the fix")
    return {"FAIL_TO_PASS": f2p, "PASS_TO_PASS": p2p}


# MARK: task files


def eval_script(base: str, test_patch: str, existing: list[str], test_files: list[str]) -> str:
    reset = f"git checkout {base} -- {' '.join(existing)}" if existing else ""
    lines = [
        "#!/bin/bash",
        "set -uxo pipefail",
        "cd /testbed",
        reset,
        f"git apply --verbose - <<'{HEREDOC}'",
        test_patch.rstrip("\n"),
        HEREDOC,
        ": '>>>>> Start Test Output'",
        " ".join([*PYTEST, *test_files]),
        ": '>>>>> End Test Output'",
        reset,
    ]
    return "\n".join(line for line in lines if line) + "\n"


def write_bundle(repo: Path, dest: Path) -> None:
    git(repo, "-c", "pack.threads=1", "bundle", "create", "-q", str(dest), "HEAD", "main")


def deterministic_tar(folder: Path, arcname: str, dest: Path, mtime: int) -> None:
    """A gzipped tar of `folder` as `arcname`/, with fixed order, owners, modes and times."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        paths = [folder, *sorted(folder.rglob("*"))]
        for path in paths:
            info = tar.gettarinfo(str(path), arcname=str(Path(arcname) / path.relative_to(folder)))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = mtime
            executable = path.is_dir() or os.access(path, os.X_OK)
            info.mode = 0o755 if executable else 0o644
            if path.is_file():
                with open(path, "rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
    with open(dest, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(buffer.getvalue())


def write_testbed(bundle: Path, base: str, dest: Path, mtime: int) -> None:
    """testbed.tar.gz: a clone of the bundle at `base`, with no clock- or host-dependent files."""
    with tempfile.TemporaryDirectory(prefix="testbed-") as tmp:
        testbed = Path(tmp) / "testbed"
        git(Path(tmp), "clone", "-q", str(bundle), "testbed")
        git(testbed, "checkout", "-q", base)
        git(testbed, "remote", "remove", "origin")
        git(testbed, "config", "user.name", TESTBED_USER[0])
        git(testbed, "config", "user.email", TESTBED_USER[1])
        for name in ("hooks", "logs", "description", "FETCH_HEAD", "ORIG_HEAD", "index"):
            target = testbed / ".git" / name
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        # an index with no stat data, rather than one recording this machine's inodes and times
        git(testbed, "read-tree", "HEAD")
        if git(testbed, "rev-parse", "HEAD").strip() != base:
            raise RuntimeError(f"{bundle}: HEAD is not {base}")
        deterministic_tar(testbed, "testbed", dest, mtime)


def added_lines(patch: str) -> list[str]:
    return [
        line[1:]
        for line in patch.splitlines()
        if line.startswith("+") and not line.startswith("+++") and len(line.strip()) > 12
    ]


def check_no_leak(name: str, base_dir: Path, gold: str, tests: str) -> None:
    """The base tree must not already hold the fix's lines or the new tests."""
    text = "\n".join((base_dir / p).read_text() for p in files_under(base_dir) if p.suffix == ".py")
    leaked = [line for line in added_lines(gold) if line in text]
    leaked += [line for line in added_lines(tests) if line.startswith("def test_") and line in text]
    if leaked:
        raise ValueError(f"{name}: the base tree already contains {leaked}")


# MARK: one task


def load_yaml_file(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def task_meta(instance_id: str, codebase: Path, meta: dict, task: dict, base: str) -> dict:
    return {
        "instance_id": instance_id,
        "repo": f"atlas-samples/{codebase.name}",
        "version": str(meta["version"]),
        "base_commit": base,
        "environment_setup_commit": base,
        "created_at": str(task["created_at"]),
        "split": "test",
        "datasets": [DATASET],
        "image": expected_image(instance_id),
        "log_parser": "parse_log_pytest",
        "eval_type": "pass_and_fail",
        "difficulty": task["difficulty"],
    }


def make_task(codebase: Path, meta: dict, task_dir: Path, repo: Path, base: str, out: Path, local: bool) -> dict:
    instance_id = f"atlas-samples__{codebase.name}-{task_dir.name}"
    task = load_yaml_file(task_dir / "task.yaml")
    gold = diff_with(repo, base, task_dir / "fix")
    tests = diff_with(repo, base, task_dir / "tests")
    check_no_leak(instance_id, codebase / "base", gold, tests)
    test_files = [str(p) for p in files_under(task_dir / "tests")]
    existing = [f for f in test_files if (codebase / "base" / f).is_file()]
    before = test_statuses(repo, [task_dir / "tests"], test_files, local)
    after = test_statuses(repo, [task_dir / "tests", task_dir / "fix"], test_files, local)
    graded = grading_tests(instance_id, before, after)

    dest = out / "tasks" / instance_id
    dest.mkdir(parents=True)
    (dest / "task.yaml").write_text(dump_yaml(task_meta(instance_id, codebase, meta, task, base)))
    (dest / "tests.json").write_text(dump_tests(graded))
    shutil.copyfile(task_dir / "problem_statement.md", dest / "problem_statement.md")
    (dest / "gold.patch").write_text(gold)
    (dest / "test.patch").write_text(tests)
    (dest / "eval.sh").write_text(eval_script(base, tests, existing, test_files))
    (dest / "Dockerfile").write_text(DOCKERFILE.format(base_image=BASE_IMAGE, base_commit=base))
    write_bundle(repo, dest / "repo.bundle")
    mtime = int(datetime.fromisoformat(meta["commits"][-1]["date"]).timestamp())
    write_testbed(dest / "repo.bundle", base, dest / "testbed.tar.gz", mtime)
    write_scripted(instance_id, task_dir / "scripted.yaml", out)
    print(f"{instance_id}: {len(graded['FAIL_TO_PASS'])} FAIL_TO_PASS, {len(graded['PASS_TO_PASS'])} PASS_TO_PASS")
    return {"instance_id": instance_id, **task, "expected_resolved": load_yaml_file(task_dir / "scripted.yaml")["expected_resolved"]}


def write_scripted(instance_id: str, source: Path, out: Path) -> None:
    script = load_yaml_file(source)
    turns = script["turns"]
    if not turns or "echo ATLAS_SUBMIT" not in turns[-1]:
        raise ValueError(f"{source}: the last turn must submit")
    data = {"instance_id": instance_id, "expected_resolved": bool(script["expected_resolved"]), "turns": turns}
    (out / "scripted").mkdir(exist_ok=True)
    (out / "scripted" / f"{instance_id}.yaml").write_text(dump_yaml(data))


# MARK: the whole repo


def make_codebase(codebase: Path, out: Path, local: bool) -> list[dict]:
    meta = load_yaml_file(codebase / "codebase.yaml")
    with tempfile.TemporaryDirectory(prefix=f"{codebase.name}-") as tmp:
        repo = Path(tmp)
        base = build_history(codebase, meta, repo)
        task_dirs = sorted((codebase / "tasks").iterdir(), key=lambda p: int(p.name))
        return [make_task(codebase, meta, t, repo, base, out, local) for t in task_dirs]


def write_repo_files(out: Path, made: list[dict]) -> None:
    (out / "sweb.yaml").write_text(dump_yaml({"datasets": [DATASET], "splits": ["test"]}))
    rows = "\n".join(
        f"| `{t['instance_id']}` | {t['difficulty']} | {'yes' if t['expected_resolved'] else 'no'} | "
        f"{t['summary'].replace('|', chr(92) + '|')} |"
        for t in made
    )
    (out / "README.md").write_text(README.format(rows=rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the task repo to (re)write")
    parser.add_argument("--local", action="store_true", help="run the tests with the local python3, not in Docker")
    args = parser.parse_args(argv)
    for generated in ("tasks", "scripted"):
        shutil.rmtree(args.out / generated, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    made = []
    for codebase in sorted(p for p in SOURCES.iterdir() if (p / "codebase.yaml").is_file()):
        made.extend(make_codebase(codebase, args.out, args.local))
    write_repo_files(args.out, made)
    problems = errors(check_task_repo(args.out))
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
