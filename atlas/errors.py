"""The exit codes of the `atlas` command, one place for the code, the help text and the README."""

from __future__ import annotations

OK = 0
UNEXPECTED = 1  # a bug or an unforeseen failure: the traceback is kept
BAD_INPUT = 2  # config, dataset or usage: the message names the file or key and the fix
INFRA_FAILURES = 3  # the run finished, but some instances ended in infrastructure failures
INTERRUPTED = 130  # Ctrl-C or SIGTERM; re-running the same command resumes

EXIT_CODES = {
    OK: "success",
    UNEXPECTED: "unexpected error (traceback kept)",
    BAD_INPUT: "bad input: config, dataset or usage (the message names the file or key and the fix)",
    INFRA_FAILURES: "the run finished, but some instances ended in infrastructure failures "
                    "(image missing, environment, model server, harness); retry them with run.rerun_errors=true",
    INTERRUPTED: "interrupted (Ctrl-C / SIGTERM); re-run the same command to resume",
}
