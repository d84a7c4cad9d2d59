"""No key-shaped string is committed: every file git tracks is scanned for API keys and tokens.

Tests plant fake keys to prove they never leak; those are allowed only under tests/ and only when
the key itself says it is fake (contains `test`, `fake`, `not-a-real` or `EXAMPLE`), so a real key
pasted into a test still fails the scan.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import REPO_ROOT

KEY_SHAPES = {
    "Anthropic API key": re.compile(r"sk-ant-[A-Za-z0-9_-]{8,}"),
    "OpenAI API key": re.compile(r"\bsk-(?!ant-)(?:proj-)?[A-Za-z0-9_-]{20,}"),
    "HuggingFace token": re.compile(r"\bhf_[A-Za-z0-9]{30,}"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\b(?:ghp|gho|ghs|ghu)_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{30,}"),
}
FAKE_MARKERS = ("test", "fake", "not-a-real", "EXAMPLE")
PLANTED_FAKES_UNDER = ("tests/",)


def tracked_files(repo: Path) -> list[str]:
    done = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, check=True)
    return [name for name in done.stdout.decode().split("\0") if name]


def allowed(path: str, key: str) -> bool:
    """A planted fake: in a test file, and saying so in the key itself."""
    return path.startswith(PLANTED_FAKES_UNDER) and any(m in key for m in FAKE_MARKERS)


def findings(repo: Path) -> list[str]:
    """'path:line: <kind>' for every key-shaped string in a tracked file that is not an allowed fake."""
    found = []
    for name in tracked_files(repo):
        path = repo / name
        if not path.is_file() or path.is_symlink():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        for kind, shape in KEY_SHAPES.items():
            for match in shape.finditer(text):
                if not allowed(name, match.group()):
                    line = text.count("\n", 0, match.start()) + 1
                    found.append(f"{name}:{line}: {kind} ({match.group()[:8]}...)")
    return found


def test_no_key_is_committed():
    found = findings(REPO_ROOT)
    assert not found, "key-shaped strings in tracked files (remove and rotate them):\n" + "\n".join(found)


def test_the_scan_finds_a_planted_key_and_allows_only_labelled_fakes(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text('KEY = "sk-ant-test-not-a-real-key-0123"\n')
    (tmp_path / "config.py").write_text('TOKEN = "ghp_' + "a1B2" * 9 + '"\nAWS = "AKIA' + "Q" * 16 + '"\n')
    (tmp_path / "tests" / "leak.py").write_text('OPENAI = "sk-' + "Zx9" * 10 + '"\nHF = "hf_' + "k" * 34 + '"\n')
    subprocess.run(["git", "-C", str(tmp_path), "add", "."], check=True)
    found = findings(tmp_path)
    assert sorted(f.split(" (")[0] for f in found) == [
        "config.py:1: GitHub token", "config.py:2: AWS access key id",
        "tests/leak.py:1: OpenAI API key", "tests/leak.py:2: HuggingFace token"]
