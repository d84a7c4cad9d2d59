"""Exit codes of the `atlas` command, and the one place that turns known failures into them.

A script can trust the code: 0 the work was done; 1 an unexpected error (a bug: its
traceback is kept); 2 bad input, with a message naming the file or key at fault; 3 the run
finished, but some instances ended in infrastructure failures (retry them); 130 interrupted.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator

from rich.console import Console

OK = 0
UNEXPECTED = 1
BAD_INPUT = 2
INFRA_FAILURES = 3
INTERRUPTED = 130

# what each code means: `atlas run --help` and the README list the same (a test checks)
EXIT_CODES = {
    OK: "success",
    UNEXPECTED: "unexpected error (traceback kept)",
    BAD_INPUT: "bad input: config, dataset or usage (the message names the file or key and the fix)",
    INFRA_FAILURES: "the run finished, but some instances ended in infrastructure failures "
                    "(image missing, environment, model server, harness); retry them with run.rerun_errors=true",
    INTERRUPTED: "interrupted (Ctrl-C / SIGTERM); re-run the same command to resume",
}

err = Console(stderr=True)


@contextlib.contextmanager
def report_errors() -> Iterator[None]:
    """Known failures end with one clear line and exit code 2, not a traceback."""
    from atlas.config import ConfigError
    from atlas.datasets import DatasetError
    from atlas.environments import EnvError
    from atlas.manifest import ConfigDrift
    from atlas.models import ModelError
    from atlas.rundir import RunLocked

    try:
        yield
    except (ConfigError, DatasetError, EnvError, ModelError, ConfigDrift, RunLocked, ValueError) as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(BAD_INPUT)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted:[/] finished instances are saved; re-run the same command to resume")
        sys.exit(INTERRUPTED)
