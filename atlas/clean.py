"""`atlas clean`: remove the containers ATLAS left behind, found by ATLAS's label and never any other.

Every container ATLAS starts carries the label `atlas` and labels naming its run directory and
owning process (atlas.environments.docker). A run removes its own containers when it ends, and its
next session removes those a killed session left; `atlas clean` is for the rest (runs killed and
never resumed, before their containers' lifetime ends them). A container without ATLAS's label is
never listed, let alone removed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from atlas.environments.docker import docker_client, labeled_containers, owner_alive, remove_container
from atlas.errors import err


def leftovers(client, orphans_only: bool, run_dir: Path | None) -> list:
    """ATLAS's containers, of one run directory if given; with `orphans_only`, those whose owning process is
    provably gone (a live owner, or one that cannot be checked, keeps its containers)."""
    labels = {"atlas.run_dir": str(run_dir.resolve())} if run_dir else {}
    found = labeled_containers(client, **labels)
    if orphans_only:
        found = [c for c in found if owner_alive(c.labels) is False]
    return found


def clean_command(args: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="atlas clean", description="Remove containers ATLAS left behind "
                                     "(by ATLAS's label only; other containers are never touched).")
    parser.add_argument("--orphans", action="store_true",
                        help="only those whose owning atlas process on this host is gone (safe while runs are going)")
    parser.add_argument("--run-dir", type=Path, help="only the containers of this run directory")
    parser.add_argument("--dry-run", action="store_true", help="list them, remove nothing")
    options = parser.parse_args(args)
    client = docker_client()
    found = leftovers(client, options.orphans, options.run_dir)
    removed = 0
    for container in found:
        owner = f"pid {container.labels.get('atlas.pid', '?')}, run {container.labels.get('atlas.run_dir', '?')}"
        if not options.dry_run:
            removed += remove_container(container)
        err.print(f"{'would remove' if options.dry_run else 'removed'} {container.name} ({owner})",
                  highlight=False, soft_wrap=True)
    what = "container(s) to remove" if options.dry_run else "container(s) removed"
    err.print(f"{len(found) if options.dry_run else removed} {what}", highlight=False)
