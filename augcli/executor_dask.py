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

import contextlib
import signal
import threading
import time
import uuid
from collections import deque
from concurrent.futures import CancelledError
from typing import Any, Callable

from distributed import Client, KilledWorker, LocalCluster, WorkerPlugin

from augcli.errors import OutputError, UsageError
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


class SchedulerLost(OutputError):
    """The connection to the Dask scheduler was lost mid-run (it stopped, the network failed): the run
    stops as on any fatal error (exit code 3), with what was finished recorded for --resume."""


def _run(run: str, fn: Callable[[Any], Any], item: Any) -> Any:
    """The task: `fn(item)` in a worker the plugin has set up for this run."""
    if _RUN != run:  # another run took this worker over, or its plugin was never installed
        raise RuntimeError(f"dask worker is not set up for augcli run {run} (it serves {_RUN}); "
                           "use one cluster per augcli run")
    return fn(item)


class DaskExecutor:
    """Items run as Dask tasks, at most `window` in flight, yielded in input order.

    Unless `window` is given, it is 4 tasks per thread of the cluster (looked at again every
    WINDOW_SECONDS, as workers join an adaptive cluster), at least 4 per `workers`: with
    `scheduler`, `workers` is this machine's CPU count, which says nothing of the cluster's size.

    A task whose worker dies is run again elsewhere by Dask (distributed.scheduler.allowed-failures);
    one that keeps killing workers is yielded as WorkerCrashed. With `scheduler=None` a
    LocalCluster of `workers` single-threaded processes lives for the duration of `map`."""

    def __init__(self, workers: int, scheduler: str | None = None, window: int | None = None,
                 log: Callable[[str], None] | None = None):
        self.workers = max(1, workers)
        self.scheduler = scheduler
        self.window = window or 4 * self.workers
        self._fixed_window = window is not None
        self.log = log or (lambda line: None)
        self.crashed = False  # a worker died during this run (its temporary files may be left)
        # reached now, before the run writes anything: a wrong address is a usage error, not a run that
        # stops after creating its output folder (and then blames that folder for the failure)
        self._client = self._reach(scheduler) if scheduler else None

    @staticmethod
    def _reach(address: str) -> Client:
        try:
            return Client(address)
        except (OSError, ValueError, TypeError) as exc:  # unreachable or timed out; a malformed address
            raise UsageError(f"cannot reach the dask scheduler {address}: {exc}") from None

    WINDOW_SECONDS = 5.0

    def _window(self, client: Client) -> int:
        if self._fixed_window:
            return self.window
        try:
            threads = sum(client.nthreads().values())
        except (OSError, CancelledError):  # the scheduler is gone: the next result says so
            return self.window
        return max(self.window, 4 * threads)

    def _connect(self) -> tuple[Client, LocalCluster | None]:
        if self.scheduler:
            client, self._client = self._client or self._reach(self.scheduler), None
            return client, None
        cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
        return Client(cluster), cluster

    def map(self, fn, items, initializer, initargs, should_stop=Never):
        client, cluster = self._connect()
        run = f"augcli-{uuid.uuid4().hex}"
        pending: deque[tuple[Any, Any]] = deque()
        address = client.scheduler.address
        try:
            self.log(f"augcli: dask scheduler {address}, dashboard {client.dashboard_link}")
            client.register_plugin(_SetUp(run, initializer, initargs, tune_allocator=cluster is not None), name=run)
            workers_seen = set(client.scheduler_info()["workers"])
            it = iter(items)
            index = 0
            window, sized = self._window(client), time.monotonic()

            def refill() -> None:
                nonlocal index, window, sized
                if time.monotonic() - sized > self.WINDOW_SECONDS:
                    window, sized = self._window(client), time.monotonic()
                while len(pending) < window and not should_stop():
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
                except (CancelledError, OSError) as exc:
                    if fut.status == "error":  # the task's own error (a failed write): the caller's to judge
                        raise
                    # cancelled under us: the client lost the scheduler and gave up reconnecting
                    self.crashed = True
                    why = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
                    raise SchedulerLost(f"lost the dask scheduler {address} ({why}); stopped: run the same "
                                        "command with --resume once it is back") from None
                fut.release()
                refill()
                yield item, result
            if not workers_seen <= set(client.scheduler_info()["workers"]):
                self.crashed = True  # a worker left mid-run: it may have been killed inside a write
        finally:
            # best effort: with the scheduler gone these fail too, and must not hide why the run ended
            with contextlib.suppress(OSError, CancelledError):
                if pending:
                    client.cancel([f for _, f in pending])
                if self.scheduler and client.status == "running":
                    client.unregister_worker_plugin(run)
            try:
                client.close()
            finally:
                if cluster is not None:
                    cluster.close()
