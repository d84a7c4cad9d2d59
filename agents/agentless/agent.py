"""An Agentless-style pipeline: localize, sample candidate edits, validate them with tests, vote.

Stages (each call a fresh single-shot prompt; every one is recorded in the trajectory):
1. localize files from the issue and the repository's tracked Python files;
2. (`localize_functions`) classes and functions, from the files' skeletons;
3. (`localize_lines`) edit locations, from the code of those definitions;
4. (`reproduction`) a reproduction script, kept only if it fails on the original code;
5. `candidates` repair samples as SEARCH/REPLACE edits, each applied in the container and
   turned into a diff with git; edits that do not apply, change nothing or break the
   syntax are discarded. The first sample uses the model's own temperature, the others
   `temperature` where the backend has that setting (recorded per sample);
6. (`regression`) `test_command` on the test files about the edited modules (or on the
   whole suite: `test_scope: all`, or when none is near) must not fail beyond what
   already fails on the original code; among those, candidates that make the
   reproduction pass are preferred;
7. majority vote over the surviving patches, whitespace-normalized; the winner is left
   applied for the runner's `git diff`, and the outcome is SUBMITTED. With no survivor
   the repository is left clean: SUBMITTED with an empty patch, the reason in `message`.
"""

from __future__ import annotations

import base64
import copy
import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from atlas.agents.agentless import repository as repo
from atlas.agents.agentless.answers import (Edit, Location, normalize, parse_edits, parse_files, parse_locations,
                                      parse_script, vote)
from atlas.agents.base import Scaffold
from atlas.agents.conversation import Conversation, ScaffoldSettings
from atlas.agents.observation import record_action, run_action
from atlas.agents.replies import NO_ACTION, WRONG_FENCE_LANGUAGE, fenced_blocks
from atlas.agents.workspace import Workspace
from atlas.datasets import Instance
from atlas.environments import EnvError
from atlas.environments.docker import truncate
from atlas.interfaces import AgentOutcome, Deadline, Environment, ExecResult
from atlas.models import Model
from atlas.records import Status
from atlas.trajectory import Trajectory

TEMPLATES = Path(__file__).parent / "templates"
REPRODUCTION = "/tmp/.atlas_reproduce.py"  # outside the repository: never part of the patch
TEST_LOG = "/tmp/.atlas_tests.log"
RESET_TIMEOUT = 120  # a reset also runs after the deadline, to leave no half-tested candidate behind


class AgentlessConfig(ScaffoldSettings):
    name: str = "agentless"
    max_files: int = Field(3, ge=1, description="Files kept from the file localization.")
    localize_functions: bool = True
    localize_lines: bool = True
    context_lines: int = Field(10, ge=0, description="Lines shown around a `line: N` location.")
    max_file_chars: int = Field(20_000, gt=100, description="Cap on one file's skeleton or code in a prompt.")
    candidates: int = Field(4, ge=1, description="Repair samples (N).")
    temperature: float = Field(0.8, ge=0, description="Sampling temperature of the samples after the first.")
    reproduction: bool = True
    regression: bool = True
    test_command: str = "python3 -m pytest -q -x"
    test_scope: Literal["near", "all"] = Field("near", description="near: test files about the edited modules.")
    templates: str = Field(str(TEMPLATES), description="Folder of the pipeline's .j2 prompts.")


class Ended(Exception):
    """The pipeline stopped early; the meter's outcome says why."""


@dataclass
class Candidate:
    sample: int
    diff: str
    files: list[str]


@dataclass
class SuiteRun:
    exit_code: int
    failed: frozenset[str]

    def no_worse_than(self, baseline: SuiteRun) -> bool:
        return self.exit_code == 0 or (self.exit_code == baseline.exit_code and self.failed <= baseline.failed)


def with_temperature(model: Model, temperature: float) -> tuple[Model, bool]:
    """A shallow copy of the backend sampling at `temperature`, and whether the backend has such a setting.

    A copy rather than a change of the shared backend: other workers' instances use it at
    the same time. Deterministic backends have no settings and ignore it.
    """
    settings = getattr(model, "settings", None)
    if settings is None or "temperature" not in type(settings).model_fields:
        return model, False
    clone = copy.copy(model)
    clone.settings = settings.model_copy(update={"temperature": temperature})
    return clone, True


class AgentlessAgent(Scaffold):
    name = "agentless"

    settings_schema = AgentlessConfig

    def describe(self) -> dict[str, Any]:
        return {**super().describe(),
                "temperature_note": "applied per sample where the backend has a temperature setting; "
                                    "each repair record in the trajectory says whether it was"}

    def run(
        self, model: Model, env: Environment, instance: Instance, trajectory: Trajectory, deadline: Deadline
    ) -> AgentOutcome:
        return Pipeline(self, model, env, instance, Conversation(self.settings, trajectory, deadline)).run()


class Pipeline:
    """One instance's pass through the stages."""

    def __init__(self, agent: AgentlessAgent, model: Model, env: Environment, instance: Instance,
                 chat: Conversation):
        self.settings, self.templates = agent.settings, agent.templates
        self.model, self.env, self.instance, self.chat = model, env, instance, chat
        self.workspace = Workspace(env)
        self.texts: dict[str, str] = {}
        self.outlines: dict[str, repo.Outline | None] = {}

    def run(self) -> AgentOutcome:
        try:
            self.workspace.install(self.chat.meter.command_timeout())
            files = self.read("structure", "git ls-files -- '*.py'").split()
            located = self.localize(files)
            context = self.code(located, numbered=False)
            reproduction = self.reproduce(context) if self.settings.reproduction else False
            candidates = self.sample(context)
            survivors = self.validate(candidates, files, reproduction)
            return self.submit(candidates, survivors)
        except Ended:
            self.workspace.reset(RESET_TIMEOUT)
            return self.chat.meter.outcome

    # -- stages ---------------------------------------------------------------------------------

    def localize(self, files: list[str]) -> dict[str, list[Location]]:
        """Files, then (optionally) definitions, then (optionally) edit locations: path -> locations."""
        answer = self.ask("localize_files", structure=repo.tree(files), max_files=self.settings.max_files)
        chosen = parse_files(answer, files, self.settings.max_files)
        if not chosen:
            self.malformed("localize_files", "the answer names no file of the repository")
            self.stop(Status.SUBMITTED, "no candidate: the file localization named no file of the repository")
        located: dict[str, list[Location]] = {path: [] for path in chosen}
        if self.settings.localize_functions:
            cap = self.settings.max_file_chars
            skeletons = "\n\n".join(truncate(repo.skeleton(p, self.outline(p)), cap)[0] for p in chosen)
            located = self.narrow("localize_functions", located, skeletons=skeletons)
        if self.settings.localize_lines and any(located.values()):
            located = self.narrow("localize_lines", located, code=self.code(located, numbered=True))
        return located

    def narrow(self, stage: str, located: dict[str, list[Location]], **prompt: Any) -> dict[str, list[Location]]:
        """Keep the files and locations the answer names; an answer naming none changes nothing."""
        narrowed: dict[str, list[Location]] = {}
        for location in parse_locations(self.ask(stage, **prompt), list(located)):
            lines = len(self.text(location.path).splitlines())
            for found in repo.resolve(location, self.outline(location.path), lines):
                narrowed.setdefault(found.path, []).append(found)
        found = [f"{loc.path}: {loc.kind} {loc.name or loc.line}" for locs in narrowed.values() for loc in locs]
        self.note(stage, locations=found)
        if not narrowed:
            self.malformed(stage, "the answer names no known class, function or line of the localized files")
            return located
        return narrowed

    def reproduce(self, context: str) -> bool:
        """Whether a reproduction script now sits at REPRODUCTION and fails on the original code."""
        answer = self.ask("reproduce", context=context)
        script = parse_script(answer)
        if script is None:
            # a script in another fence (```bash, untagged) is a different failure than no script at all
            kind = WRONG_FENCE_LANGUAGE if fenced_blocks(answer) else NO_ACTION
            self.malformed("reproduce", "the answer holds no ```python block", kind)
            return False
        encoded = base64.b64encode(script.encode()).decode()
        self.execute("reproduce", f"echo {encoded} | base64 -d > {REPRODUCTION}", label=f"write {REPRODUCTION}")
        original = self.run_reproduction("reproduce")
        reproduces = original.exit_code != 0 and not original.timed_out  # else it cannot tell a fix apart
        self.note("reproduce", reproduces=reproduces)
        return reproduces

    def sample(self, context: str) -> list[Candidate]:
        candidates = []
        for sample in range(self.settings.candidates):
            model, meta = self.model, {"sample": sample}
            if sample > 0:  # the first sample keeps the model's own (usually greedy) setting
                model, applied = with_temperature(self.model, self.settings.temperature)
                meta.update(temperature=self.settings.temperature, temperature_applied=applied)
            answer = self.ask("repair", model=model, meta=meta, context=context)
            candidate = self.candidate(sample, answer)
            if candidate is not None:
                candidates.append(candidate)
        return candidates

    def candidate(self, sample: int, answer: str) -> Candidate | None:
        """Apply one sample's edits to the clean repository and take its diff; None if it is not a valid patch."""
        edits = parse_edits(answer)
        if not edits:
            self.malformed("repair", f"sample {sample} holds no SEARCH/REPLACE edit")
            return None
        diff, problem = "", self.apply_edits(edits)
        if problem is None:
            diff = self.env.diff(self.instance.base_commit)  # the runner's own patch extraction
            problem = "the edits change nothing" if not diff.strip() else self.syntax_errors(edits)
        self.workspace.reset(RESET_TIMEOUT)
        self.note("repair", sample=sample, valid=problem is None, problem=problem, diff=diff)
        return Candidate(sample, diff, sorted({e.path for e in edits})) if problem is None else None

    def validate(self, candidates: list[Candidate], files: list[str], reproduction: bool) -> list[Candidate]:
        """Distinct candidates that pass the regression tests, narrowed to those passing the reproduction if any do."""
        distinct: dict[str, Candidate] = {}
        for candidate in candidates:
            distinct.setdefault(normalize(candidate.diff), candidate)
        baselines: dict[str, SuiteRun] = {}
        if self.settings.regression:
            for command in {self.test_command(c, files) for c in distinct.values()}:
                baselines[command] = self.run_tests(command)
        passing, reproduced = [], []
        for candidate in distinct.values():
            self.check_time()
            if self.workspace.apply(candidate.diff, self.chat.meter.command_timeout()).exit_code != 0:
                raise EnvError(f"candidate {candidate.sample} applied once but not a second time")
            command = self.test_command(candidate, files)
            regression = self.run_tests(command).no_worse_than(baselines[command]) if self.settings.regression else True
            fixed = regression and reproduction and self.run_reproduction("validate").exit_code == 0
            self.workspace.reset(RESET_TIMEOUT)
            self.note("validate", sample=candidate.sample, regression=regression, reproduction=fixed)
            passing += [candidate] if regression else []
            reproduced += [candidate] if fixed else []
        return reproduced or passing

    def submit(self, candidates: list[Candidate], survivors: list[Candidate]) -> AgentOutcome:
        if not survivors:
            reason = "no valid candidate" if not candidates else "no candidate passed the regression tests"
            return self.chat.meter.end(Status.SUBMITTED, f"no candidate survived: {reason}")
        keys = {normalize(c.diff) for c in survivors}
        pool = [c for c in candidates if normalize(c.diff) in keys]  # every sample votes, duplicates included
        chosen = pool[vote([c.diff for c in pool])]
        votes = sum(normalize(c.diff) == normalize(chosen.diff) for c in pool)
        self.note("vote", chosen=chosen.sample, votes=votes, samples=len(candidates))
        if self.workspace.apply(chosen.diff, RESET_TIMEOUT).exit_code != 0:
            raise EnvError(f"the chosen candidate {chosen.sample} no longer applies")
        return self.chat.meter.end(Status.SUBMITTED)

    # -- the model ------------------------------------------------------------------------------

    def ask(self, stage: str, model: Model | None = None, meta: dict[str, Any] | None = None, **prompt: Any) -> str:
        self.chat.start(self.templates.render("system"), self.templates.render(stage, instance=self.instance, **prompt))
        response = self.chat.ask(model or self.model, stage=stage, **(meta or {}))
        if response is None:
            raise Ended
        return response.content

    def malformed(self, stage: str, problem: str, kind: str = NO_ACTION) -> None:
        self.chat.trajectory.record("format_error", stage=stage, error=problem, format_error_kind=kind)
        if self.chat.meter.format_error(kind):
            self.stop(Status.FORMAT_ERROR_LIMIT, f"{stage}: {problem}")

    def stop(self, status: Status, message: str) -> None:
        self.chat.meter.end(status, message)
        raise Ended

    def check_time(self) -> None:
        if self.chat.meter.deadline.expired():
            self.stop(Status.TIMEOUT, "the instance's wall-clock limit passed during validation")

    def note(self, stage: str, **data: Any) -> None:
        self.chat.trajectory.record("pipeline", stage=stage, **data)

    # -- the container --------------------------------------------------------------------------

    def execute(self, stage: str, command: str, label: str | None = None) -> ExecResult:
        action = run_action(self.env, self.chat.meter, command)
        record_action(self.chat.trajectory, self.chat.meter.outcome.steps, action.result, label or command, stage=stage)
        return action.result

    def capture(self, stage: str, command: str, label: str) -> tuple[str, int]:
        """The whole output of a command (a file list, a file, an outline), recorded cut like any output."""
        started = time.monotonic()
        text, exit_code = self.workspace.capture(command, self.chat.meter.command_timeout())
        shown, cut = truncate(text, self.env.config.max_output_chars)
        record_action(self.chat.trajectory, self.chat.meter.outcome.steps,
                      ExecResult(shown, exit_code, time.monotonic() - started, truncated=cut), label, stage=stage)
        return text, exit_code

    def read(self, stage: str, command: str) -> str:
        text, exit_code = self.capture(stage, command, command)
        if exit_code != 0:
            raise EnvError(f"`{command}` failed in the container (exit {exit_code}): {text[-500:]}")
        return text

    def text(self, path: str) -> str:
        if path not in self.texts:
            self.texts[path] = self.read("read", f"cat -- {shlex.quote(path)}")
        return self.texts[path]

    def outline(self, path: str) -> repo.Outline | None:
        """Classes and functions of a file, or None when it does not parse (it is then shown whole)."""
        if path not in self.outlines:
            command = self.workspace.helper_command("outline", {"path": path})
            text, exit_code = self.capture("localize_functions", command, f"outline {path}")
            self.outlines[path] = json.loads(text) if exit_code == 0 else None
        return self.outlines[path]

    def code(self, located: dict[str, list[Location]], numbered: bool) -> str:
        parts = []
        for path, locations in located.items():
            text = self.text(path)
            ranges = repo.spans(locations, self.outline(path), len(text.splitlines()), self.settings.context_lines)
            parts.append(truncate(repo.excerpt(path, text, ranges, numbered), self.settings.max_file_chars)[0])
        return "\n\n".join(parts)

    def apply_edits(self, edits: list[Edit]) -> str | None:
        """Apply the edits in order; the first failure's message, or None."""
        for edit in edits:
            op, args = (("create", {"path": edit.path, "file_text": edit.replace + "\n"}) if not edit.search
                        else ("str_replace", {"path": edit.path, "old_str": edit.search, "new_str": edit.replace}))
            result = self.execute("repair", self.workspace.helper_command(op, args), label=f"{op} {edit.path}")
            if result.exit_code != 0:
                return result.output.strip()
        return None

    def syntax_errors(self, edits: list[Edit]) -> str | None:
        python = sorted({e.path for e in edits if e.path.endswith(".py")})
        if not python:
            return None
        result = self.execute("repair", self.workspace.helper_command("compiles", {"paths": python}),
                              label=f"compile {' '.join(python)}")
        return result.output.strip() if result.exit_code != 0 else None

    def test_command(self, candidate: Candidate, files: list[str]) -> str:
        tests = repo.nearby_tests(candidate.files, files) if self.settings.test_scope == "near" else []
        return " ".join([self.settings.test_command, *map(shlex.quote, tests)])

    def run_reproduction(self, stage: str) -> ExecResult:
        # from stdin, so that the repository root (the working directory) is on sys.path
        return self.execute(stage, f"python3 - < {REPRODUCTION}")

    def run_tests(self, command: str) -> SuiteRun:
        """Run a test command; keep its exit code and the FAILED/ERROR lines pytest prints."""
        wrapped = (f"PYTHONDONTWRITEBYTECODE=1 {command} > {TEST_LOG} 2>&1; code=$?; "
                   f"grep -E '^(FAILED|ERROR) ' {TEST_LOG} | cut -c1-300; tail -n 1 {TEST_LOG}; exit $code")
        result = self.execute("validate", wrapped, label=command)
        failed = frozenset(line.split()[1] for line in result.output.splitlines()
                           if line.startswith(("FAILED ", "ERROR ")) and len(line.split()) > 1)
        return SuiteRun(result.exit_code, failed)
