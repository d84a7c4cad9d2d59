"""Every local model preset planned for one card: what `atlas plan gpu.vram_gb=N` lists.

For each preset with an `architecture` section (conf/model/*.yaml) the VRAM planner gives its
agent context, workers and KV dtype on the card; where the GPU traffic bench measured that
preset on that card at those workers (bench/results/*/traffic*.jsonl, in a checkout), the
instances per hour it replayed are shown beside it. A preset that misses the card only by the
utilization share is given the share that would fit it (up to MAX_UTILIZATION).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atlas.planner import Architecture, GpuConfig, Plan, plan

RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results"
MAX_UTILIZATION = 0.95  # above this a desktop card's display and driver leave too little


@dataclass
class PresetPlan:
    name: str
    kv_cache_dtype: str
    plan: Plan
    instances_per_hour: float | None = None  # measured by the traffic bench at this card and worker count
    measured_in: str = ""  # the results file it came from
    fits_at_utilization: float | None = None  # for a preset that does not fit: the share that would
    plan_at_utilization: Plan | None = None  # and its plan at that share (a small card may leave a short context)

    def summary(self) -> dict[str, Any]:
        at = self.plan_at_utilization and self.plan_at_utilization.summary()
        return {"preset": self.name, "kv_cache_dtype": self.kv_cache_dtype, **self.plan.summary(),
                "instances_per_hour": self.instances_per_hour, "measured_in": self.measured_in,
                "fits_at_utilization": self.fits_at_utilization,
                "at_utilization": at and {k: at[k] for k in ("kv_tokens", "workers", "agent_context")}}


def preset_names(conf_dir: Path) -> list[str]:
    """Every model preset that carries an architecture section, itself or through its defaults (the ones the planner can size)."""
    import yaml

    def sized(name: str) -> bool:
        path = conf_dir / "model" / f"{name}.yaml"
        data = (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}
        return bool(data.get("architecture")) or any(sized(d) for d in data.get("defaults", []) if d != "_self_")

    return [path.stem for path in sorted((conf_dir / "model").glob("*.yaml")) if sized(path.stem)]


def plan_model(model: dict[str, Any], gpu: GpuConfig) -> Plan:
    """The plan of one composed model section on the card."""
    dtype = (model.get("server") or {}).get("kv_cache_dtype", "auto")
    return plan(Architecture.model_validate(model["architecture"]), gpu, dtype)


def utilization_that_fits(model: dict[str, Any], gpu: GpuConfig) -> tuple[float, Plan] | None:
    """The smallest utilization share, in steps of 0.01 up to MAX_UTILIZATION, at which the preset fits, and its plan there."""
    share = round(gpu.gpu_memory_utilization + 0.01, 2)
    while share <= MAX_UTILIZATION + 1e-9:
        if (planned := plan_model(model, gpu.model_copy(update={"gpu_memory_utilization": share}))).fits:
            return share, planned
        share = round(share + 0.01, 2)
    return None


def measured_instances_per_hour(preset: str, card_gib: float, workers: int,
                                results: Path = RESULTS) -> tuple[float | None, str]:
    """The latest traffic-bench figure for this preset, card and worker count, with commands taking time.

    Only windows whose agents waited for commands (command_s > 0) count: a window without
    commands measures the server alone, not an agent's pace.
    """
    found: tuple[str, float, str] | None = None
    for path in sorted(results.glob("*/traffic*.jsonl")) if results.is_dir() else []:
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if (row.get("part") == "agent-traffic" and row.get("preset") == preset and row.get("workers") == workers
                    and float(row.get("card_gib", 0)) == float(card_gib) and row.get("command_s", 0) > 0
                    and "instances_per_hour" in row and (found is None or row["date"] >= found[0])):
                found = (row["date"], row["instances_per_hour"], str(path.relative_to(results.parent.parent)))
    return (found[1], found[2]) if found else (None, "")


def plan_presets(models: dict[str, dict[str, Any]], gpu: GpuConfig, results: Path = RESULTS) -> list[PresetPlan]:
    """Each composed model section (by preset name) planned on the card, the ones that fit first, best context first."""
    planned = []
    for name, model in models.items():
        result = plan_model(model, gpu)
        entry = PresetPlan(name, (model.get("server") or {}).get("kv_cache_dtype", "auto"), result)
        if result.fits:
            entry.instances_per_hour, entry.measured_in = measured_instances_per_hour(name, gpu.vram_gb,
                                                                                      result.workers, results)
        else:
            if found := utilization_that_fits(model, gpu):
                entry.fits_at_utilization, entry.plan_at_utilization = found
        planned.append(entry)
    return sorted(planned, key=lambda p: (not p.plan.fits, -p.plan.agent_context, -p.plan.workers, p.name))
