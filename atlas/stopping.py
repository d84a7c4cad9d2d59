"""How a run stops: the first Ctrl-C or SIGTERM cancels what is in flight and unwinds; a second exits at once.

The first signal calls the runner's `on_stop` (set the session's cancel event, cancel the model's
in-flight requests: quick calls that never block) and raises KeyboardInterrupt in the main thread,
where the runner removes the session's containers, keeps finished instances and exits with 130.
Workers waiting on a model answer return at once (atlas.models.metering); those in a container
command return when their container is removed. A second signal while that cleanup runs ends the
process immediately: containers left then end with their lifetime (atlas.environments.docker) and
the next session of the run, or `atlas clean`, removes them. The command then exits without the
interpreter's teardown (`exit_at_once_when_interrupted`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Callable, Iterator

from atlas.errors import INTERRUPTED

SIGNALS = (signal.SIGINT, signal.SIGTERM)
FORCED_MESSAGE = (b"\ninterrupted again: exiting now; containers still running end with their lifetime, "
                  b"`atlas clean` removes them sooner\n")


@contextlib.contextmanager
def exit_at_once_when_interrupted() -> Iterator[None]:
    """A command ending with 130 (its cleanup done, its files written) leaves without the interpreter's teardown,
    which spends seconds collecting the modules of numpy, pyarrow and the datasets library on a busy machine."""
    try:
        yield
    except SystemExit as e:
        if e.code == INTERRUPTED:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(INTERRUPTED)
        raise


@contextlib.contextmanager
def stop_on_signals(on_stop: Callable[[], None]) -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM stop the run as described above (main thread only; elsewhere a no-op).

    Afterwards SIGINT's previous handler is back and SIGTERM keeps raising KeyboardInterrupt, so a
    SIGTERM during grading still ends the command with 130.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = threading.Event()

    def handle(signum, frame) -> None:
        if stopping.is_set():
            os.write(2, FORCED_MESSAGE)
            os._exit(INTERRUPTED)
        stopping.set()
        on_stop()
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handle) for sig in SIGNALS}
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous[signal.SIGINT])
        term = previous[signal.SIGTERM]
        signal.signal(signal.SIGTERM, signal.default_int_handler if term in (signal.SIG_DFL, None) else term)
