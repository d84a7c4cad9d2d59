"""The `atlas` command: `run` (Hydra), `evaluate`, `images`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from atlas.errors import BAD_INPUT, INFRA_FAILURES, BadInput, err, print_error, report_errors

USAGE = """usage: atlas <command> [options]

commands:
  run [overrides]        run a model + scaffold over SWE-bench instances in Docker, grading each as it finishes
                         (Hydra: `atlas run --help` lists config groups; `-m` runs a sweep)
  evaluate RUN_DIR       grade a run's preds.jsonl with the official swebench harness and print the table
  report DIR             resolved rate with 95% CIs, breakdowns, cost; writes report.json/.html, methodology.md
  compare DIR [DIR ...] [--published SOURCE:ENTRY]  runs (or published results) on their shared instances:
                         McNemar test, paired interval, discordant ids, comparability verdict
  power --effect D       instances and repeats needed to detect D points, or the smallest difference n instances detect
  images build           build the offline base image and the bundled sample-task images
                         (--dataset FILE: stand-in images of real SWE-bench rows, from local git mirrors)
  images check [overrides]  which images of the selected instances are present / missing, and their size
  images pull [overrides]   pull the missing ones (progress, backs off on rate limits, failures per image)
  dataset convert IN OUT complete classic SWE-bench rows (image, log_parser, eval_type, eval_script)
                         into a new .jsonl file the installed harness can grade
  clean [--orphans]      remove containers ATLAS left behind (by its label only; --orphans: owner process gone)
  plan [overrides]       weights, KV cache, each agent's context and the workers that fit a preset on a GPU
                         (`atlas plan model=qwen2.5-coder-14b-awq gpu.vram_gb=16`); without model=, every
                         preset that fits the card (`atlas plan gpu.vram_gb=16`); --json for scripts

`atlas <command> --help` describes each command.
"""


def evaluate_command(args: list[str]) -> None:
    from pydantic import ValidationError

    from atlas.app import grade_and_report
    from atlas.config import AtlasConfig
    from atlas.manifest import read_manifest

    parser = argparse.ArgumentParser(prog="atlas evaluate", description="Grade a run directory with the official harness.")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--workers", type=int, help="harness workers (default: the run's harness.workers)")
    parser.add_argument("--timeout", type=int, help="seconds per instance's tests (default: the run's harness.timeout)")
    options = parser.parse_args(args)
    manifest_path = options.run_dir / "manifest.json"
    manifest = read_manifest(manifest_path)
    try:
        config = AtlasConfig.model_validate(manifest["config"])
        instance_ids = manifest["dataset"]["instance_ids"]
    except (KeyError, TypeError, ValidationError) as e:
        raise BadInput(f"{manifest_path} lacks a valid config or dataset.instance_ids ({e}); "
                       "it was not written by this version of `atlas run`") from None
    config.run.evaluate = config.harness.enabled = True
    if options.workers:
        config.harness.workers = options.workers
    if options.timeout:
        config.harness.timeout = options.timeout
    from atlas.datasets import load_instances, resolve_path
    from atlas.gradable import check_gradable

    selected = set(instance_ids)
    check_gradable([i for i in load_instances(config.dataset) if i.instance_id in selected], resolve_path(config.dataset))
    figures = grade_and_report(config, options.run_dir.resolve(), instance_ids)
    if figures["infra"]:  # not scored: exit as `atlas run` does (atlas.errors)
        err.print(f"{len(figures['infra'])} instance(s) are infrastructure failures, not scored: "
                  f"{', '.join(sorted(figures['infra']))}", highlight=False, soft_wrap=True)
        sys.exit(INFRA_FAILURES)


def report_command(args: list[str]) -> None:
    from atlas.harness.commands import report_path
    from atlas.harness.console import make_console

    parser = argparse.ArgumentParser(prog="atlas report", description="Report a graded run directory, or every "
                                     "member of a sweep directory, with 95%% confidence intervals.")
    parser.add_argument("path", type=Path, help="a run directory, or a sweep directory of run directories")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0: reports reproduce)")
    parser.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    options = parser.parse_args(args)
    report_path(options.path, make_console(), options.seed, options.resamples)


def compare_command(args: list[str]) -> None:
    from atlas.harness.commands import run_compare
    from atlas.harness.console import make_console

    parser = argparse.ArgumentParser(prog="atlas compare", description="Compare runs on the instances they share.")
    parser.add_argument("paths", type=Path, nargs="+", metavar="DIR",
                        help="run dirs, sweep dirs, or published results dirs (results/results.json, metadata.yaml)")
    parser.add_argument("--published", action="append", default=[], metavar="SOURCE:ENTRY",
                        help="a published per-instance result to pair with: a leaderboards.json (path or URL) and "
                             "an entry's name or folder, e.g. leaderboards.json:'Claude 4.5 Sonnet'; or an "
                             "experiments-repo folder (repeatable)")
    parser.add_argument("--html", type=Path, help="also write the comparison, with plots, to this HTML file")
    parser.add_argument("--json", type=Path, help="also write the comparison to this JSON file")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    options = parser.parse_args(args)
    run_compare(options.paths, make_console(), options.html, options.json, options.seed, options.resamples,
                options.published)


def power_command(args: list[str]) -> None:
    from atlas.harness.power import ALPHA, CORRELATION, ICC, POWER, RATE, Design
    from atlas.harness.table import to_rich
    from atlas.harness.tables import power_table

    parser = argparse.ArgumentParser(prog="atlas power", description="Power analysis for a comparison of two arms' "
                                     "resolved rates (see atlas.harness.power for the approximation).")
    parser.add_argument("--effect", type=float, help="difference to detect, in points (5 = five percentage points)")
    parser.add_argument("--instances", type=int, help="instances available: print the smallest detectable difference")
    parser.add_argument("--repeats", type=int, default=1, help="repeats per instance and arm (default 1)")
    parser.add_argument("--rate", type=float, default=100 * RATE, help=f"expected resolved rate in %% (default {100 * RATE:g}, the worst case)")
    parser.add_argument("--icc", type=float, default=ICC, help=f"share of one attempt's variance between instances (default {ICC})")
    parser.add_argument("--correlation", type=float, default=CORRELATION,
                        help=f"paired arms: correlation of per-instance success (default {CORRELATION})")
    parser.add_argument("--unpaired", action="store_true", help="independent instance samples (correlation 0)")
    parser.add_argument("--alpha", type=float, default=ALPHA, help=f"two-sided test level (default {ALPHA})")
    parser.add_argument("--power", type=float, default=POWER, help=f"power (default {POWER})")
    options = parser.parse_args(args)
    if options.effect is None and options.instances is None:
        raise BadInput("atlas power needs --effect POINTS (instances needed) or --instances N (detectable difference)")
    try:
        design = Design(rate=options.rate / 100, repeats=options.repeats, icc=options.icc,
                        correlation=0.0 if options.unpaired else options.correlation, alpha=options.alpha,
                        power=options.power)
        effect = None if options.effect is None else options.effect / 100
        table = power_table(design, effect, options.instances)
    except ValueError as e:  # a value outside its range: the message names it
        raise BadInput(f"atlas power: {e}") from None
    Console().print(to_rich(table))


def images_command(args: list[str]) -> None:
    if args and args[0] in ("check", "pull"):
        from atlas.cli_images import main as images_main

        return images_main(args)
    from atlas.config import DatasetConfig
    from atlas.datasets import load_instances, resolve_path
    from atlas.environments import docker_client
    from atlas.images import BASE_IMAGE, build_base_image, build_task_images

    parser = argparse.ArgumentParser(prog="atlas images", description="Build images offline "
                                     "(`atlas images check|pull --help`: the selected instances' images).")
    parser.add_argument("action", choices=["build"])
    parser.add_argument("--base-only", action="store_true", help=f"only build {BASE_IMAGE}")
    parser.add_argument("--force", action="store_true", help="rebuild even if present")
    parser.add_argument("--task-repo", default="bundled", help="task repo whose images to build (default: the sample tasks)")
    parser.add_argument("--log-dir", type=Path, default=Path("runs/_images"))
    parser.add_argument("--dataset", metavar="FILE", help="build stand-ins of the real SWE-bench rows in this "
                        ".json/.jsonl file ('bundled-real': the rows shipped with ATLAS) instead of task images")
    options = parser.parse_args(args)
    client = docker_client()
    if options.dataset:
        from atlas.real_images import build_standin_images

        instances = load_instances(DatasetConfig(name="standins", source="file", path=options.dataset))
        built = build_standin_images(client, instances, force=options.force, log=err.print)
        err.print(f"stand-in images: {len(built)} built, {len(instances) - len(built)} already present")
        return
    err.print(f"base image {BASE_IMAGE}: building with debootstrap if missing (about 2 minutes)...")
    image_id = build_base_image(client, force=options.force)
    err.print(f"base image {BASE_IMAGE}: {image_id}")
    if options.base_only:
        return
    dataset = DatasetConfig(name="images", source="task_repo", path=options.task_repo)
    instances = load_instances(dataset)
    built = build_task_images(client, resolve_path(dataset), instances, options.log_dir, force=options.force)
    err.print(f"task images: {len(built)} built, {len(instances) - len(built)} already present")


def dataset_command(args: list[str]) -> None:
    from atlas.dataset_convert import convert_file

    parser = argparse.ArgumentParser(prog="atlas dataset", description="Work on dataset files.")
    sub = parser.add_subparsers(dest="action", required=True)
    convert = sub.add_parser("convert", help="complete classic SWE-bench rows into rows the installed harness grades")
    convert.add_argument("source", metavar="IN", help="a .json/.jsonl/.parquet file or a HuggingFace dataset name")
    convert.add_argument("out", metavar="OUT", type=Path, help="the new .jsonl file to write (never overwritten)")
    convert.add_argument("--split", default="test", help="split of a HuggingFace dataset (default: test)")
    options = parser.parse_args(args)
    filled = convert_file(options.source, options.out, options.split)
    counts: dict[str, int] = {}
    for columns in filled.values():
        for column in columns:
            counts[column] = counts.get(column, 0) + 1
    summary = ", ".join(f"{c} ({n})" for c, n in counts.items()) or "nothing: every row was complete"
    err.print(f"wrote {len(filled)} row(s) to {options.out}; filled in {summary}")


def plan_command(args: list[str]) -> None:
    """One preset on a card (`model=NAME`), or every preset that fits it; `--json` for scripts."""
    import json

    from atlas.app import resolve
    from atlas.config import CONF_DIR, ConfigError
    from atlas.overrides import compose_config
    from atlas.preset_plans import plan_model, plan_presets, preset_names

    if any(a in ("-h", "--help") for a in args):
        print("usage: atlas plan [model=<preset>] [gpu.vram_gb=N] [model.server.kv_cache_dtype=fp8] [agent=...] [--json]\n"
              "without model=, every preset is planned for the card and those that fit are listed")
        return
    as_json = "--json" in args
    overrides = [a for a in args if a != "--json"]
    if not any(a.startswith("model=") for a in overrides):
        models = {name: resolve(compose_config([*overrides, f"model={name}"])) for name in preset_names(CONF_DIR)}
        gpu = next(iter(models.values())).gpu
        listed = plan_presets({name: config.model.model_dump() for name, config in models.items()}, gpu)
        if as_json:
            print(json.dumps([entry.summary() for entry in listed], indent=1))
        else:
            print_preset_list(listed, gpu)
        return
    config = resolve(compose_config(overrides))
    model = config.model.model_dump()
    if not model.get("architecture"):
        raise ConfigError(f"model {config.model.name!r} has no architecture section to plan with; "
                          "`atlas plan gpu.vram_gb=N` lists the presets that have one")
    result = plan_model(model, config.gpu)
    if as_json:
        print(json.dumps({"preset": config.model.name, **result.summary()}, indent=1))
    else:
        print_plan(config.model.name, model, result, config.gpu)
    if not result.fits:
        sys.exit(BAD_INPUT)


def print_plan(name: str, model: dict, result, gpu) -> None:
    from rich.table import Table

    kv_dtype = (model.get("server") or {}).get("kv_cache_dtype", "auto")
    table = Table(title=f"{name} on {gpu.vram_gb} GiB", title_justify="left", show_header=False)
    rows = [("weights", f"{result.weights_gib:.2f} GiB"), ("KV cache per token", f"{result.kv_bytes_per_token:,} bytes ({kv_dtype})"),
            ("overhead", f"{result.overhead_gib} GiB"), ("KV cache budget", f"{result.kv_budget_gib:.2f} GiB"),
            ("server holds", f"{result.footprint_gib:.2f} GiB"),
            ("KV cache", f"{result.kv_tokens:,} tokens (largest single context {result.max_context:,})"),
            ("agent context", f"{result.agent_context:,} tokens (an agent needs {result.agent_needs:,})"),
            ("workers", f"{result.workers}"), ("verdict", result.reason)]
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    print(result.explanation)
    if result.fits:
        print(f"vllm serve flags: --max-model-len {result.agent_context} --gpu-memory-utilization "
              f"{result.gpu_memory_utilization} --kv-cache-memory-bytes {result.kv_cache_memory_bytes} "
              f"--max-num-seqs {result.workers} --max-num-batched-tokens {result.max_num_batched_tokens}")
        print(f"run.workers={result.workers}: the agents whose contexts fit the KV cache together")


def print_preset_list(listed, gpu) -> None:
    from rich.table import Table

    table = Table(title=f"presets on {gpu.vram_gb:g} GiB (gpu_memory_utilization {gpu.gpu_memory_utilization})",
                  title_justify="left")
    for column in ("preset", "fits", "agent context", "workers", "KV tokens", "KV dtype", "instances/h (bench)"):
        table.add_column(column, justify="left" if column in ("preset", "fits", "KV dtype") else "right")
    for entry in listed:
        p = entry.plan
        if p.fits:
            rate = f"{entry.instances_per_hour:g}" if entry.instances_per_hour is not None else "not measured"
            table.add_row(entry.name, "yes", f"{p.agent_context:,}", str(p.workers), f"{p.kv_tokens:,}",
                          entry.kv_cache_dtype, rate)
        elif (at := entry.plan_at_utilization) is not None:  # the figures it would get at that share, in brackets
            table.add_row(entry.name, f"no (yes at gpu.gpu_memory_utilization={entry.fits_at_utilization})",
                          f"({at.agent_context:,})", f"({at.workers})", f"({at.kv_tokens:,})", entry.kv_cache_dtype, "")
        else:
            table.add_row(entry.name, "no", "", "", "", entry.kv_cache_dtype, "")
    Console(width=None if sys.stdout.isatty() else 150).print(table)  # a pipe gets whole rows, not 80 columns
    fitting = [e.name for e in listed if e.plan.fits]
    print(f"{len(fitting)} preset(s) fit {gpu.vram_gb:g} GiB; `atlas plan model=NAME gpu.vram_gb={gpu.vram_gb:g}` "
          "explains one")


def clean_command(args: list[str]) -> None:
    from atlas.clean import clean_command as clean

    clean(args)


def main(argv: list[str] | None = None) -> None:
    from atlas.console_redaction import redact_console
    from atlas.redaction import learn_environment
    from atlas.stopping import exit_at_once_when_interrupted

    learn_environment()  # inherited secret-named variables (ANTHROPIC_API_KEY, HF_TOKEN ...) are masked from here on
    redact_console()
    with exit_at_once_when_interrupted():
        dispatch(sys.argv[1:] if argv is None else argv)


def dispatch(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return
    command, rest = argv[0], argv[1:]
    if command == "run":
        from atlas.app import main as run_main

        with report_errors():
            run_main(rest)
        return
    handlers = {"evaluate": evaluate_command, "images": images_command, "plan": plan_command, "dataset": dataset_command,
                "report": report_command, "compare": compare_command, "power": power_command, "clean": clean_command}
    if command not in handlers:
        print_error(f"unknown command {command!r}\n{USAGE}")
        sys.exit(BAD_INPUT)
    with report_errors():
        handlers[command](rest)


if __name__ == "__main__":
    main()
