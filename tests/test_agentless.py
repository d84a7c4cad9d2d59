"""The Agentless-style pipeline: answer parsing, the vote, repository views, and the pipeline in a real container."""

import pytest

from atlas.agents.agentless import repository as repo
from atlas.agents.agentless.agent import AgentlessAgent, with_temperature
from atlas.agents.agentless.answers import (Edit, Location, normalize, parse_edits, parse_files, parse_locations,
                                      parse_script, vote)
from atlas.interfaces import Deadline
from atlas.agents.workspace import Workspace
from atlas.config import ConfigError, EnvConfig
from atlas.environments import DockerEnvironment
from atlas.models import make_model
from atlas.models.deterministic import gold_agentless_answer
from atlas.records import Status
from atlas.trajectory import Trajectory
from tests.conftest import read_jsonl

FILES = ["pkg/__init__.py", "pkg/core.py", "pkg/util.py", "tests/test_core.py", "tests/test_util.py", "setup.py"]


def test_parse_files_keeps_known_paths_in_order():
    answer = "Look at:\n```\n1. pkg/util.py\n- `pkg/core.py`\n* ./pkg/util.py\nsrc/missing.py\nsetup.py\n```"
    assert parse_files(answer, FILES, limit=2) == ["pkg/util.py", "pkg/core.py"]
    assert parse_files("nothing useful", FILES, limit=3) == []


def test_parse_locations_reads_each_files_entries():
    answer = ("function: stray\npkg/core.py\nclass: Engine\nmethod: Engine.run()\nline: 42\nline: forty\n"
              "pkg/util.py\n- function: helper\npkg/core.py\nclass: Engine")
    assert parse_locations(answer, ["pkg/core.py", "pkg/util.py"]) == [
        Location("pkg/core.py", "class", name="Engine"), Location("pkg/core.py", "function", name="Engine.run"),
        Location("pkg/core.py", "line", line=42), Location("pkg/util.py", "function", name="helper")]


def test_parse_edits_and_script():
    answer = ("```python\n### pkg/core.py\n<<<<<<< SEARCH\n    a = 1\n\n    b = 2\n=======\n    a = 2\n"
              ">>>>>>> REPLACE\n```\n"
              "### pkg/new.py\n<<<<<<< SEARCH\n=======\nVALUE = 1\n>>>>>>> REPLACE\n"
              "```python\nassert run() == 2\n```\n")
    assert parse_edits(answer) == [Edit("pkg/core.py", "    a = 1\n\n    b = 2", "    a = 2"),
                                   Edit("pkg/new.py", "", "VALUE = 1")]
    assert parse_script(answer) == "assert run() == 2\n"
    assert parse_script("```python\n### a.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n```") is None
    assert parse_edits("no edits here") == []


def test_vote_counts_whitespace_equal_patches_together_and_breaks_ties_early():
    a = "diff --git a/x b/x\nindex 1..2\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-x = 1\n+x = 2\n"
    a_spaced = a.replace("index 1..2", "index 1..3").replace("+x = 2", "+x  =  2   ")
    b = a.replace("+x = 2", "+x = 3")
    assert normalize(a) == normalize(a_spaced) != normalize(b)
    assert vote([b, a, a_spaced]) == 1
    assert vote([b, a]) == 0


def test_repository_views():
    assert repo.tree(["pkg/core.py", "pkg/sub/deep.py", "setup.py"]) == \
        "pkg/\n    core.py\n    sub/\n        deep.py\nsetup.py"
    outline = [{"kind": "class", "name": "Engine", "start": 3, "end": 9, "header": "class Engine:"},
               {"kind": "function", "name": "Engine.run", "start": 5, "end": 9, "header": "def run(self):"}]
    assert repo.skeleton("pkg/core.py", outline) == "### pkg/core.py\n3: class Engine:\n    5: def run(self):"
    assert repo.resolve(Location("pkg/core.py", "function", name="run"), outline, 20) == \
        [Location("pkg/core.py", "function", name="Engine.run")]
    assert repo.resolve(Location("pkg/core.py", "class", name="run"), outline, 20) == []
    assert repo.resolve(Location("pkg/core.py", "line", line=21), outline, 20) == []
    located = [Location("pkg/core.py", "function", name="Engine.run"), Location("pkg/core.py", "line", line=12)]
    assert repo.spans(located, outline, 30, context=2) == [(5, 14)]
    assert repo.spans([], outline, 30, context=2) == [(1, 30)]
    text = "\n".join(f"line {n}" for n in range(1, 8))
    assert repo.excerpt("a.py", text, [(2, 3)], numbered=False) == "### a.py\n...\nline 2\nline 3\n..."
    assert repo.excerpt("a.py", text, [(6, 7)], numbered=True) == "### a.py\n...\n     6\tline 6\n     7\tline 7"
    assert repo.nearby_tests(["pkg/core.py"], FILES) == ["tests/test_core.py"]
    assert repo.nearby_tests(["setup.py"], FILES) == []


def test_gold_answer_serves_every_stage():
    patch = ("diff --git a/pkg/core.py b/pkg/core.py\n--- a/pkg/core.py\n+++ b/pkg/core.py\n"
             "@@ -10,4 +10,4 @@ def f():\n"
             " a\n b\n-c\n+C\n d\n"
             "diff --git a/pkg/new.py b/pkg/new.py\nnew file mode 100644\n--- /dev/null\n+++ b/pkg/new.py\n"
             "@@ -0,0 +1,2 @@\n"
             "+x = 1\n+y = 2\n")
    answer = gold_agentless_answer(patch)
    assert parse_files(answer, FILES, limit=3) == ["pkg/core.py"]
    assert parse_locations(answer, ["pkg/core.py"]) == [Location("pkg/core.py", "line", line=12)]
    assert parse_edits(answer) == [Edit("pkg/core.py", "a\nb\nc\nd", "a\nb\nC\nd"),
                                   Edit("pkg/new.py", "", "x = 1\ny = 2")]
    assert parse_script(answer) is not None


def test_temperature_is_a_per_call_copy_where_the_backend_has_one():
    served = make_model({"name": "m", "backend": "openai", "model": "m", "temperature": 0.0})
    hotter, applied = with_temperature(served, 0.8)
    assert applied and hotter.settings.temperature == 0.8 and served.settings.temperature == 0.0
    scripted = make_model({"name": "s", "backend": "scripted"})
    assert with_temperature(scripted, 0.8) == (scripted, False)


def test_config_and_describe():
    described = AgentlessAgent({"name": "agentless"}).describe()
    assert set(described["template_sha256"]) == {"system.j2", "localize_files.j2", "localize_functions.j2",
                                                 "localize_lines.j2", "reproduce.j2", "repair.j2"}
    assert described["candidates"] == 4 and described["test_command"] == "python3 -m pytest -q -x"
    with pytest.raises(ConfigError, match="agent.test_scope"):
        AgentlessAgent({"name": "agentless", "test_scope": "nearby"})


@pytest.fixture
def instance(sample_images):
    return next(i for i in sample_images if i.instance_id == "atlas-samples__minicsv-2")


def drive(docker_client, instance, tmp_path, model, seconds=600, **agent):
    trajectory = Trajectory(tmp_path / "trajectory.jsonl")
    with DockerEnvironment(instance.image_name(), EnvConfig(), {"atlas.run_dir": str(tmp_path)}, docker_client) as env:
        agentless = AgentlessAgent({"name": "agentless", **agent})
        outcome = agentless.run(model, env, instance, trajectory, Deadline(seconds))
        patch = env.diff(instance.base_commit)
    trajectory.close()
    return outcome, read_jsonl(tmp_path / "trajectory.jsonl"), patch


def bound(backend, instance, **config):
    return make_model({"name": backend, "backend": backend, **config}, scaffold="agentless").for_instance(instance)


@pytest.mark.parametrize("stages, calls", [
    ({}, 8),
    ({"localize_functions": False, "localize_lines": False, "reproduction": False, "regression": False,
      "candidates": 2}, 3),
])
def test_gold_patch_is_chosen_whatever_the_stages(docker_client, instance, tmp_path, stages, calls):
    outcome, entries, patch = drive(docker_client, instance, tmp_path, bound("gold", instance), **stages)
    assert outcome.status is Status.SUBMITTED and outcome.steps == calls and patch == instance.patch
    samples = [e for e in entries if e["kind"] == "message" and e.get("stage") == "repair"]
    assert samples[1]["temperature"] == 0.8 and samples[1]["temperature_applied"] is False
    vote_record = next(e for e in entries if e.get("stage") == "vote")
    assert vote_record["votes"] == len(samples)
    actions = [e for e in entries if e["kind"] == "action"]
    assert all({"command", "output", "exit_code", "duration_s", "stage"} <= set(a) for a in actions)
    ran_tests = any(a["stage"] == "validate" and "pytest" in a["command"] for a in actions)
    assert ran_tests is stages.get("regression", True)


def test_answers_that_name_no_file_end_with_an_empty_patch_and_the_reason(docker_client, instance, tmp_path):
    outcome, _, patch = drive(docker_client, instance, tmp_path, bound("empty", instance))
    assert (outcome.status, outcome.format_errors, patch) == (Status.SUBMITTED, 1, "")
    assert "named no file" in outcome.message and outcome.format_error_kinds == {"no_action": 1}
    outcome, _, _ = drive(docker_client, instance, tmp_path, bound("empty", instance), format_error_limit=0)
    assert outcome.status is Status.FORMAT_ERROR_LIMIT


def test_limits_end_the_pipeline_with_a_clean_repository(docker_client, instance, tmp_path):
    outcome, _, patch = drive(docker_client, instance, tmp_path, bound("gold", instance), step_limit=6)
    assert (outcome.status, outcome.steps, patch) == (Status.STEP_LIMIT, 6, "")
    outcome, _, patch = drive(docker_client, instance, tmp_path, bound("gold", instance), context_budget=50)
    assert (outcome.status, outcome.steps, patch) == (Status.CONTEXT_LIMIT, 0, "")


def test_capture_reads_outputs_past_the_environment_cap(docker_client, instance, tmp_path):
    config = EnvConfig(max_output_chars=2000)
    with DockerEnvironment(instance.image_name(), config, {"atlas.run_dir": str(tmp_path)}, docker_client) as env:
        text, exit_code = Workspace(env).capture("seq 1 3000; printf 'caf\\xc3\\xa9'; exit 3", timeout=60)
    assert exit_code == 3 and text == "".join(f"{n}\n" for n in range(1, 3001)) + "café"
