"""What the manifest records about the rows a run used: the dataset's revision and what was derived on load.

A classic row completed on load (atlas.datasets, with atlas.dataset_convert's rules) is graded with
columns ATLAS made, so the manifest says which columns were derived, for how many rows, and from
which command table (its path and sha256): a reader can rebuild the same rows, or see that two runs
did not grade with the same scripts.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from functools import cache
from typing import Any

from atlas.dataset_convert import SPECS_FILE
from atlas.datasets import Instance


@cache
def specs_sha256() -> str:
    return hashlib.sha256(SPECS_FILE.read_bytes()).hexdigest()


def derivation(instances: list[Instance]) -> dict[str, Any] | None:
    """Which columns were derived on load, for how many rows, from which table; None if no row needed any."""
    completed = [i for i in instances if i.derived]
    if not completed:
        return None
    counts = Counter(column for i in completed for column in i.derived)
    return {
        "rows": len(completed),
        "columns": dict(sorted(counts.items())),
        "instance_ids": sorted(i.instance_id for i in completed),
        "rules": "atlas dataset convert (atlas/dataset_convert.py), as swebench 4.x built eval scripts",
        "spec_table": f"atlas/data/{SPECS_FILE.name}",
        "spec_table_sha256": specs_sha256(),
    }


def dataset_record(instances: list[Instance]) -> dict[str, Any]:
    """The manifest's additions to `dataset`: `revision` (where known) and `derived` (where any)."""
    revisions = {i.revision for i in instances if i.revision}
    record: dict[str, Any] = {"revision": revisions.pop() if len(revisions) == 1 else None}
    derived = derivation(instances)
    if derived:
        record["derived"] = derived
    return record
