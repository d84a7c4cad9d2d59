"""Exit codes of the `atlas` command, and the one place that turns known failures into them.

A script can trust the code: 0 the work was done; 1 an unexpected error (a bug: its
traceback is kept); 2 bad input, with a message naming the file or key at fault; 3 the run
finished, but some instances ended in infrastructure failures (retry them), or the machinery
(Docker, a model server) stopped the command; 130 interrupted.

This module imports nothing from ATLAS: the error classes every layer raises derive from the
two bases here, so `report_errors` needs no import of the layers (and no import cycle).
"""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator

from rich.console import Console
from rich.text import Text

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
                    "(image missing, environment, model server, harness); retry them with run.rerun_errors=true; "
                    "also a command the machinery stopped (no Docker engine, a failing model server)",
    INTERRUPTED: "interrupted (Ctrl-C / SIGTERM); re-run the same command to resume",
}

err = Console(stderr=True)


class BadInput(ValueError):
    """Input the user can fix (config, dataset, run directory, usage); the message names the file or key."""


class DatasetError(BadInput):
    """The dataset cannot be loaded or one of its rows is malformed."""


class InfrastructureError(RuntimeError):
    """The machinery failed (Docker, a model server), not the input and not ATLAS."""


def print_error(error: BaseException | str) -> None:
    """`error: <message>` on stderr, the message verbatim (never read as rich markup)."""
    err.print(Text.assemble(("error:", "bold red"), " ", str(error)), highlight=False, soft_wrap=True)


@contextlib.contextmanager
def report_errors() -> Iterator[None]:
    """Known failures end with one clear line, not a traceback: bad input exits 2, infrastructure 3.

    Anything else is a bug in ATLAS or a library and keeps its traceback (exit 1). The message
    is printed literally: text in square brackets (`atlas-swe[vllm]`, a row's id) is not markup.
    """
    try:
        yield
    except BadInput as e:
        print_error(e)
        sys.exit(BAD_INPUT)
    except InfrastructureError as e:
        print_error(e)
        sys.exit(INFRA_FAILURES)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted:[/] finished instances are saved; re-run the same command to resume")
        sys.exit(INTERRUPTED)
