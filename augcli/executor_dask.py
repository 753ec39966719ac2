"""The Executor contract (see augcli.executor) on a Dask cluster: a LocalCluster of worker
processes, or an existing scheduler reached by address.

Only this module imports dask/distributed, so augcli works without them. Workers read their
inputs and write their outputs themselves: the paths must mean the same on every worker (the
local disk for a LocalCluster, a shared filesystem for a remote one).

Per-worker set-up runs in a WorkerPlugin, not in the first task: the plugin's `setup` runs in
the worker's main thread (the initializer sets signal handlers, which only the main thread may)
and again in every worker that joins later, such as the one a nanny starts in place of a dead
one. A worker serves one augcli run at a time (the worker-side state is a module global)."""
from __future__ import annotations

import signal
import threading
import uuid
from collections import deque
from typing import Any, Callable

from distributed import Client, KilledWorker, LocalCluster, WorkerPlugin

from augcli.executor import Never, WorkerCrashed, _END, keep_freed_memory

_RUN: str | None = None  # the run this worker process is set up for (its plugin name)


class _SetUp(WorkerPlugin):
    """Calls `initializer(*initargs)` once in each worker process; restores SIGINT on teardown so
    a shared dask-worker still answers Ctrl-C after the run."""

    def __init__(self, run: str, initializer: Callable[..., None], initargs: tuple, tune_allocator: bool = False):
        self.run, self.initializer, self.initargs = run, initializer, initargs
        self.tune_allocator = tune_allocator  # only in workers of our own LocalCluster, not someone's cluster
        self._sigint: Any = None

    def setup(self, worker) -> None:
        global _RUN
        if threading.current_thread() is threading.main_thread():
            self._sigint = signal.getsignal(signal.SIGINT)
        if self.tune_allocator:
            keep_freed_memory()  # as the local pool's workers
        self.initializer(*self.initargs)
        _RUN = self.run

    def teardown(self, worker) -> None:
        global _RUN
        _RUN = None
        if self._sigint is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._sigint)


def _run(run: str, fn: Callable[[Any], Any], item: Any) -> Any:
    """The task: `fn(item)` in a worker the plugin has set up for this run."""
    if _RUN != run:  # another run took this worker over, or its plugin was never installed
        raise RuntimeError(f"dask worker is not set up for augcli run {run} (it serves {_RUN}); "
                           "use one cluster per augcli run")
    return fn(item)


class DaskExecutor:
    """Items run as Dask tasks, at most `window` in flight, yielded in input order.

    A task whose worker dies is run again elsewhere by Dask (distributed.scheduler.allowed-failures);
    one that keeps killing workers is yielded as WorkerCrashed. With `scheduler=None` a
    LocalCluster of `workers` single-threaded processes lives for the duration of `map`."""

    def __init__(self, workers: int, scheduler: str | None = None, window: int | None = None,
                 log: Callable[[str], None] | None = None):
        self.workers = max(1, workers)
        self.scheduler = scheduler
        self.window = window or 4 * self.workers
        self.log = log or (lambda line: None)
        self.crashed = False  # a worker died during this run (its temporary files may be left)

    def _connect(self) -> tuple[Client, LocalCluster | None]:
        if self.scheduler:
            return Client(self.scheduler), None
        cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
        return Client(cluster), cluster

    def map(self, fn, items, initializer, initargs, should_stop=Never):
        client, cluster = self._connect()
        run = f"augcli-{uuid.uuid4().hex}"
        pending: deque[tuple[Any, Any]] = deque()
        try:
            self.log(f"augcli: dask scheduler {client.scheduler.address}, dashboard {client.dashboard_link}")
            client.register_plugin(_SetUp(run, initializer, initargs, tune_allocator=cluster is not None), name=run)
            workers_seen = set(client.scheduler_info()["workers"])
            it = iter(items)
            index = 0

            def refill() -> None:
                nonlocal index
                while len(pending) < self.window and not should_stop():
                    nxt = next(it, _END)
                    if nxt is _END:
                        return
                    pending.append((nxt, client.submit(_run, run, fn, nxt, key=f"{run}-{index}", pure=False)))
                    index += 1

            refill()
            while pending:
                item, fut = pending.popleft()
                try:
                    result = fut.result()
                except KilledWorker as exc:
                    self.crashed = True
                    result = WorkerCrashed(f"its dask worker died {exc.allowed_failures + 1} times "
                                           "while processing it")
                fut.release()
                refill()
                yield item, result
            if not workers_seen <= set(client.scheduler_info()["workers"]):
                self.crashed = True  # a worker left mid-run: it may have been killed inside a write
        finally:
            if pending:
                client.cancel([f for _, f in pending])
            try:
                if self.scheduler:
                    client.unregister_worker_plugin(run)
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()
