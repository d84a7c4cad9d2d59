"""Context management and the limits every scaffold shares: the budget, its policies, the meter.

The loop-level tests drive the bash scaffold with a stand-in environment (only the
loop is under test here; the container is covered by the scaffold tests) and, for the
cost limit, the Anthropic backend against its local stand-in, so cost comes from real
usage accounting.
"""

import copy
import json
import time

import pytest
import yaml

from atlas.interfaces import Deadline
from atlas.agents.bash.agent import BashAgent
from atlas.agents.context import ELIDED, ContextSettings, ContextWindow
from atlas.agents.conversation import Conversation, ScaffoldSettings
from atlas.agents.limits import LimitSettings, Meter
from atlas.config import CONF_DIR
from atlas.environments import ExecResult
from atlas.models import ContextLimitError, Model, ModelResponse, Usage, make_model
from atlas.models.deterministic import SUBMIT, turn
from atlas.records import Status
from atlas.trajectory import Trajectory
from tests.conftest import read_jsonl
from tests.fake_anthropic import FakeAnthropic

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")


def history(observations: int, size: int = 400) -> list[dict]:
    messages = [{"role": "system", "content": "s" * 400}, {"role": "user", "content": "task " * 80}]
    for i in range(observations):
        messages += [{"role": "assistant", "content": f"command {i}"}, {"role": "user", "content": str(i) * size}]
    return messages


def window(budget=None, policy="stop", target=0.6) -> ContextWindow:
    return ContextWindow(ContextSettings(context_budget=budget, context_policy=policy, elide_target=target))


def test_without_a_budget_nothing_changes():
    messages = history(50)
    before = copy.deepcopy(messages)
    assert window().fit(messages, 2) == [] and messages == before


def test_stop_policy_ends_with_a_context_limit():
    messages = history(10)  # about 1200 tokens
    with pytest.raises(ContextLimitError, match="context_budget=500"):
        window(500).fit(messages, 2)


def test_elide_cuts_the_oldest_observations_in_one_block():
    messages = history(10)
    w = window(1000, "elide", target=0.6)
    assert w.estimate(messages) > 1000
    observations = [i for i, m in enumerate(messages) if i >= 2 and m["role"] == "user"]
    elided = w.fit(messages, 2)
    assert elided and elided == observations[:len(elided)]  # the oldest ones, in order, in one call
    assert all(messages[i]["content"] == ELIDED for i in elided)
    assert messages[0]["content"] == "s" * 400 and messages[1]["content"].startswith("task")  # never the task
    assert messages[-1]["content"] == "9" * 400  # never what answers the latest turn
    assert all(m["content"].startswith("command") for m in messages if m["role"] == "assistant")
    assert w.estimate(messages) <= 600


def test_elision_is_rare_and_the_prefix_is_stable_between_elisions():
    """What a prefix cache needs: between two elisions the history only grows at its end."""
    w = window(2000, "elide", target=0.5)
    messages, elisions, previous = history(0), 0, None
    for i in range(60):
        messages += [{"role": "assistant", "content": f"command {i}"}, {"role": "user", "content": "x" * 400}]
        if w.fit(messages, 2):
            elisions += 1
        elif previous is not None:
            assert messages[:len(previous)] == previous  # append-only: the cached prefix stays valid
        previous = copy.deepcopy(messages)
    assert 1 <= elisions <= 60 // 8


def test_elide_that_cannot_fit_is_a_context_limit():
    messages = history(2, size=8000)  # the latest observation alone is over the budget
    with pytest.raises(ContextLimitError, match="1 observations elided"):
        window(1000, "elide").fit(messages, 2)


def test_a_server_count_rescales_the_estimate():
    messages = history(4)
    w = window()
    raw = w.raw_estimate(messages)
    w.calibrate(raw, Usage(prompt_tokens=2 * raw))
    assert w.estimate(messages) == 2 * raw
    w.calibrate(raw, Usage(prompt_tokens=5 * raw, estimated=True))  # a local estimate teaches nothing
    assert w.estimate(messages) == 2 * raw


def test_tool_calls_count_towards_the_estimate():
    arguments = json.dumps({"command": "x" * 4000})
    call = {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": arguments}}
    assert window().raw_estimate([{"role": "assistant", "content": "", "tool_calls": [call]}]) > 1000


def meter(deadline_s=60.0, **limits) -> Meter:
    return Meter(LimitSettings(**limits), Deadline(deadline_s))


def test_meter_reports_the_limit_that_ends_the_instance():
    m = meter(step_limit=2, cost_limit=1.0)
    assert m.exhausted() is None
    m.charge(ModelResponse(content="", cost_usd=0.4, latency_s=0.5, usage=Usage(prompt_tokens=10)))
    assert m.exhausted() is None and m.outcome.usage.prompt_tokens == 10 and m.outcome.model_seconds == 0.5
    m.charge(ModelResponse(content="", cost_usd=0.7))
    assert m.exhausted() is Status.STEP_LIMIT  # steps are checked first
    m.limits.step_limit = 10
    assert m.exhausted() is Status.COST_LIMIT and m.outcome.cost_usd == pytest.approx(1.1)
    assert meter(deadline_s=0).exhausted() is Status.TIMEOUT


def test_meter_counts_format_errors_and_cuts_command_timeouts_to_the_deadline():
    m = meter(format_error_limit=1, command_timeout=120, deadline_s=2.2)
    assert m.format_error() is False and m.format_error() is True
    assert m.command_timeout() == 3  # rounded up: a command cut by the deadline ends after it
    assert meter(command_timeout=5).command_timeout() == 5
    assert meter(deadline_s=-5).command_timeout() == 1


def test_format_errors_end_the_instance_only_when_consecutive():
    m = meter(format_error_limit=1)
    assert m.format_error() is False
    assert m.act("ls") is None  # a well-formed action starts the count again
    assert m.format_error() is False and m.format_error() is True
    assert m.outcome.format_errors == 3  # the total is still reported


def test_the_same_command_n_times_in_a_row_is_a_repetition_loop():
    m = meter(repetition_limit=3)
    assert [m.act(c) for c in ("ls", "ls", "cat a", "ls", "ls")] == [None] * 5
    assert m.act("ls") is Status.REPETITION and m.repeats == 3
    never = meter(repetition_limit=0)
    assert all(never.act("ls") is None for _ in range(50))


class StandInEnv:
    """Only the loop is under test: commands echo a fixed output; `echo ATLAS_SUBMIT` submits."""

    def __init__(self, output: str = "ok"):
        self.output = output
        self.commands: list[str] = []

    def execute(self, command: str, timeout: float) -> ExecResult:
        self.commands.append(command)
        return ExecResult("ATLAS_SUBMIT\n" if command == SUBMIT else self.output, 0, 0.01)


class Recorder(Model):
    """Answers from a list and keeps a copy of every request, as the backend saw it."""

    def __init__(self, answers: list[str]):
        super().__init__({"name": "recorder", "backend": "test"})
        self.answers, self.requests = list(answers), []

    def query(self, messages, tools=None):
        self.requests.append(copy.deepcopy(messages))
        return ModelResponse(content=self.answers.pop(0), usage=Usage(prompt_tokens=1, estimated=True))


class Task:
    repo = "acme/widgets"
    problem_statement = "It breaks."


def drive(model, env, tmp_path, **agent):
    trajectory = Trajectory(tmp_path / "trajectory.jsonl")
    outcome = BashAgent({"name": "bash", **agent}).run(model, env, Task(), trajectory, Deadline(60))
    trajectory.close()
    return outcome, read_jsonl(tmp_path / "trajectory.jsonl")


def test_bash_loop_elides_old_outputs_and_finishes(tmp_path):
    model = Recorder([turn("look", f"cat part{i}") for i in range(12)] + [turn("done", SUBMIT)])
    outcome, entries = drive(model, StandInEnv("y" * 2000), tmp_path, context_budget=3000,
                                          context_policy="elide")
    assert outcome.status is Status.SUBMITTED and outcome.steps == 13
    assert [e for e in entries if e["kind"] == "context"], "the history outgrew the budget: something was elided"
    last = model.requests[-1]
    assert any(m["content"] == ELIDED for m in last) and last[-1]["content"].count("y") == 2000
    assert all(ContextWindow(ContextSettings()).raw_estimate(r) <= 3000 for r in model.requests)


def test_bash_loop_stops_at_the_budget_with_the_stop_policy(tmp_path):
    model = Recorder([turn("look", f"cat part{i}") for i in range(12)])
    outcome, _ = drive(model, StandInEnv("y" * 2000), tmp_path, context_budget=3000)
    assert outcome.status is Status.CONTEXT_LIMIT and "context_budget=3000" in outcome.message
    assert outcome.steps == len(model.requests) < 12


def test_a_backend_context_error_ends_the_instance_as_context_limit(tmp_path):
    class TooLong(Recorder):
        def query(self, messages, tools=None):
            raise ContextLimitError("prompt is too long: 250000 tokens > 200000 maximum")

    outcome, _ = drive(TooLong([]), StandInEnv(), tmp_path)
    assert outcome.status is Status.CONTEXT_LIMIT and "prompt is too long" in outcome.message


def test_conversation_records_every_message_and_its_accounting(tmp_path):
    trajectory = Trajectory(tmp_path / "t.jsonl")
    chat = Conversation(ScaffoldSettings(name="x"), trajectory, Deadline(60))
    chat.start("system", "task")
    response = chat.ask(Recorder(["answer"]))
    trajectory.close()
    assert response.content == "answer" and chat.meter.outcome.steps == 1
    entries = read_jsonl(tmp_path / "t.jsonl")
    assert [(e["role"], e["content"]) for e in entries] == [("system", "system"), ("user", "task"),
                                                            ("assistant", "answer")]
    assert entries[-1]["step"] == 1 and "usage" in entries[-1]


@pytest.fixture
def claude(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-real-key")
    preset = yaml.safe_load((CONF_DIR / "model" / "claude-sonnet-4.yaml").read_text())
    with FakeAnthropic() as server:
        yield server, make_model({**preset, "base_url": server.url, "retries": 1})


def test_cost_limit_ends_the_loop_with_status_cost_limit(claude, tmp_path):
    server, model = claude
    for i in range(5):  # 300k fresh input tokens at $3 per million: $0.90 a turn
        server.reply(turn("look", f"ls {i}"), input_tokens=300_000, output_tokens=10)
    outcome, _ = drive(model, StandInEnv(), tmp_path, cost_limit=2.0)
    assert outcome.status is Status.COST_LIMIT and outcome.steps == 3
    assert outcome.cost_usd == pytest.approx(3 * (0.9 + 10 * 15 / 1e6))
    assert len(server.requests) == 3  # the call that would pass the limit is never made


def test_wall_clock_limit_is_checked_before_each_call(tmp_path):
    class Slow(Recorder):
        def query(self, messages, tools=None):
            time.sleep(0.3)
            return super().query(messages, tools)

    model = Slow([turn("look", "ls")] * 20)
    trajectory = Trajectory(tmp_path / "t.jsonl")
    outcome = BashAgent({"name": "bash"}).run(model, StandInEnv(), Task(), trajectory, Deadline(1))
    assert outcome.status is Status.TIMEOUT and 2 <= outcome.steps <= 5
