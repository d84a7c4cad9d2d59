"""Regenerate atlas/data/swebench_eval_specs.json from swebench 4.x's harness/constants/python.py.

usage: python scripts/make_eval_specs.py PATH/TO/swebench/harness/constants/python.py
Keeps, per repo and version, only what an eval script is made of: test_cmd, install, eval_commands.
"""

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "atlas" / "data" / "swebench_eval_specs.json"


def main(constants: str) -> None:
    namespace: dict = {}
    exec(compile(Path(constants).read_text(), constants, "exec"), namespace)  # noqa: S102 (swebench 4.x's own table, given by the maintainer)
    table: dict = {}
    for repo, versions in sorted(namespace["MAP_REPO_VERSION_TO_SPECS_PY"].items()):
        for version, spec in sorted(versions.items()):
            if "test_cmd" not in spec:  # no test command: the harness could not grade it either
                continue
            table.setdefault(repo, {})[version] = {k: spec[k] for k in ("test_cmd", "install", "eval_commands") if k in spec}
    OUT.write_text(json.dumps(table, indent=1, sort_keys=True))
    print(f"wrote {OUT}: {len(table)} repos, {sum(len(v) for v in table.values())} versions")


if __name__ == "__main__":
    main(sys.argv[1])
