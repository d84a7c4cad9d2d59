"""Where instances run: on threads of this process (`local`), or as Ray tasks across a cluster (`ray`).

Both hand back futures of finished InstanceResults written into the one run directory,
so resume, predictions and reports do not know which ran them. A Ray task runs the same
`solve` on its node, in a scratch run directory there, against that node's Docker engine,
and returns the instance's files; the driver writes them into the run directory, status
last, exactly as a local worker would have.
"""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

from atlas.config import ConfigError
from atlas.datasets import Instance
from atlas.environments.docker import remove_labeled
from atlas.records import InstanceResult
from atlas.rundir import atomic_write_text


class LocalExecutor:
    """`run.workers` threads in this process, each calling `solve(session, instance)`."""

    def __init__(self, session, solve: Callable):
        self.session, self.solve = session, solve
        self.pool = ThreadPoolExecutor(max_workers=session.config.run.workers, thread_name_prefix="atlas-worker")

    def submit(self, instance: Instance) -> Future:
        return self.pool.submit(self.solve, self.session, instance)

    def collect(self, future: Future) -> InstanceResult:
        return future.result()

    def cancel(self) -> None:
        remove_labeled(self.session.client, **{"atlas.session": self.session.id})

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """One Ray task per instance (`run.ray_address`: a cluster to join; none starts a local one).

    `node_task(config, instance, run_dir, session_id, make_scaffold)` runs on the node and returns the
    instance's files.
    """

    def __init__(self, session, node_task: Callable):
        try:
            import ray
        except ImportError:
            raise ConfigError("run.executor=ray needs Ray: pip install 'atlas-swe[ray]'") from None
        self.ray, self.session = ray, session
        address = session.config.run.ray_address
        # a Ray started here for this run stays on loopback; a cluster's address is used as given
        local = {"_node_ip_address": "127.0.0.1"} if address is None else {}
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, include_dashboard=False, **local)
        self.task = ray.remote(num_cpus=1, max_retries=0)(node_task)
        self.config = session.config.model_dump(mode="json")
        self.refs: list = []

    def submit(self, instance: Instance) -> Future:
        ref = self.task.remote(self.config, instance.model_dump(), str(self.session.run_dir.path), self.session.id,
                               self.session.make_scaffold)
        self.refs.append(ref)
        return ref.future()

    def collect(self, future: Future) -> InstanceResult:
        files = future.result()
        result = InstanceResult.model_validate(json.loads(files["status.json"]))
        folder = self.session.run_dir.instance_dir(result.instance_id)
        for stale in folder.glob("trajectory*.jsonl"):
            stale.unlink()
        for name, text in files.items():
            if name.startswith("trajectory"):
                atomic_write_text(folder / name, text)
        self.session.run_dir.write_result(result, files["patch.diff"])  # patch, then status: the commit point
        return result

    def cancel(self) -> None:
        for ref in self.refs:
            self.ray.cancel(ref, force=True)
        remove_labeled(self.session.client, **{"atlas.session": self.session.id})

    def shutdown(self) -> None:
        self.ray.shutdown()


def make_executor(session, solve: Callable, node_task: Callable):
    """Threads here (`solve` per instance), or Ray tasks (`node_task` per instance) for run.executor=ray."""
    if session.config.run.executor == "ray":
        return RayExecutor(session, node_task)
    return LocalExecutor(session, solve)
