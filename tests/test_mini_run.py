"""`atlas run agent=mini model=scripted` on the bundled tasks resolves what the bash scaffold resolves.

The scripted model replays the bash scaffold's recorded sessions in mini-swe-agent's reply
format (its fence and submit command), so the only difference from `agent=bash` is the
protocol: mini's prompts, parsing, observations and submission. Graded by the official harness.
"""

import json

import pytest

from tests.conftest import atlas, labeled_containers
from tests.test_scaffold_sweep import expected, statuses, verdicts

pytest.importorskip("minisweagent", reason="agent=mini needs mini-swe-agent: pip install -e '.[test]'")


@pytest.fixture(scope="module")
def mini_run(sample_images, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    done = atlas("run", "agent=mini", "model=scripted", f"run.root={root}", "run.name=mini", timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return root / "mini", [i.instance_id for i in sample_images]


def test_mini_resolves_what_the_bash_scaffold_resolves(mini_run):
    run_dir, ids = mini_run
    assert verdicts(run_dir) == expected("bash")
    for instance_id, status in statuses(run_dir, ids).items():
        assert status["status"] == "submitted" and status["submitted_patch"], instance_id
        patch = (run_dir / "instances" / instance_id / "patch.diff").read_text()
        assert patch.startswith("diff --git") and "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT" not in patch


def test_manifest_pins_the_mini_swe_agent_version_and_config(mini_run, docker_client):
    from importlib.metadata import version

    run_dir, _ = mini_run
    agent = json.loads((run_dir / "manifest.json").read_text())["agent"]
    mini = agent["mini_swe_agent"]
    assert mini["version"] == version("mini-swe-agent") and len(mini["config_sha256"]) == 64
    assert agent["template_sha256"] == {f"mini-swe-agent:{mini['config_file']}": mini["config_sha256"]}
    assert not labeled_containers(docker_client, run_dir)
