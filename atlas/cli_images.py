"""`atlas images check` and `atlas images pull`: the selected instances' images, before a run needs them.

Both take the same Hydra overrides as `atlas run` (`dataset=verified run.slice=:20`,
`env=docker-epoch`, `run.instance_ids=[...]`), so they look at exactly the images that run would use.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from atlas import errors

USAGE = """usage: atlas images check [overrides]   which images of the selected instances are present, and their size
       atlas images pull [overrides]    pull the missing ones (progress; backs off on rate limits; failures per image)

overrides are those of `atlas run`, e.g. `atlas images check dataset=verified run.slice=:20`;
`env=docker-epoch` pulls from Epoch AI's registry. Exit code 3 when an image is missing (check)
or could not be pulled (pull).
"""


def _selection(overrides: list[str]):
    """The composed, validated config of these overrides and the instances `atlas run` would select."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from atlas.config import CONF_DIR, ConfigError, validate
    from atlas.datasets import load_instances, select

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        try:
            raw = OmegaConf.to_container(compose("config", overrides=overrides), resolve=True, throw_on_missing=True)
        except OmegaConfBaseException as e:
            raise ConfigError(f"config key {getattr(e, 'full_key', '') or '?'} must be set: {e}") from None
    config = validate(raw)
    return config, select(load_instances(config.dataset), config.run)


def check(overrides: list[str], console: Console) -> int:
    from atlas.environments import docker_client
    from atlas.image_store import fix_command, human_size, image_refs, inspect

    config, instances = _selection(overrides)
    states = inspect(docker_client(), image_refs(instances, config.env.images))
    table = Table(title=f"images of {len(states)} selected instance(s)", title_justify="left")
    for column in ("instance", "image", "state", "size"):
        table.add_column(column, justify="right" if column == "size" else "left", overflow="fold")
    for state in states:
        where = state.ref.local + (f"\n(pulled from {state.ref.source})" if state.ref.source != state.ref.local else "")
        table.add_row(state.ref.instance_id, escape(where), "present" if state.present else "[red]missing[/]",
                      human_size(state.size) if state.present else "-")
    present = [s for s in states if s.present]
    missing = [s for s in states if not s.present]
    table.caption = (f"{len(present)} present ({human_size(sum(s.size for s in present))} at most: layers shared "
                     f"between images count in each), {len(missing)} missing")
    console.print(table)
    if missing:
        ids = [s.ref.instance_id for s in missing]
        print(f"missing: {' '.join(s.ref.local for s in missing)}", file=sys.stderr)
        print(f"get them with: {fix_command(config.dataset, ids, config.env.images)}", file=sys.stderr)
        return errors.INFRA_FAILURES
    return errors.OK


def pull(overrides: list[str], console: Console) -> int:
    from atlas.environments import docker_client
    from atlas.image_store import fix_command, image_refs, pull_all

    config, instances = _selection(overrides)
    if config.dataset.source == "task_repo":
        print(f"a task repo's images are built, not pulled: {fix_command(config.dataset, [])}", file=sys.stderr)
        return errors.BAD_INPUT
    refs = image_refs(instances, config.env.images)
    failures = pull_all(docker_client(), refs, config.env.images, Console(stderr=True))
    for name, why in failures.items():
        console.print(f"[red]failed[/] {escape(name)}: {escape(why)}", soft_wrap=True, highlight=False)
    print(f"{len(refs) - len(failures)} of {len(refs)} image(s) present, {len(failures)} failed", file=sys.stderr)
    return errors.INFRA_FAILURES if failures else errors.OK


def main(args: list[str]) -> None:
    if not args or args[0] in ("-h", "--help") or any(a in ("-h", "--help") for a in args[1:]):
        print(USAGE)
        return
    action, overrides = args[0], args[1:]
    console = Console()  # piped output gets room for full image names rather than the 80-column default
    console = console if console.is_terminal else Console(width=max(console.width, 200))
    code = {"check": check, "pull": pull}[action](overrides, console)
    if code:
        sys.exit(code)
