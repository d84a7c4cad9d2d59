"""ATLAS: run coding agents on SWE-bench tasks in Docker and score them with the official harness."""

__version__ = "0.1.0"
