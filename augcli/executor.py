"""Hands items to workers and yields results in input order, with bounded in-flight work.

The executor knows nothing about images or labels: it calls `fn(item)` after
`initializer(*initargs)` in each worker. Keep this interface small so a distributed engine
can stand in for the local pool.

Stopping: `map` polls `should_stop()` between results. Once it returns True no new item is
handed out, items already in flight are finished and yielded, and `map` returns. A run
stopped this way leaves only complete outputs, each of them reported."""
from __future__ import annotations

import contextlib
import itertools
import multiprocessing as mp
import os
import signal
import threading
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable, Iterator, Protocol

Never = lambda: False  # noqa: E731  (default should_stop)


class Executor(Protocol):
    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], initializer: Callable[..., None],
            initargs: tuple, should_stop: Callable[[], bool] = Never) -> Iterator[tuple[Any, Any]]:
        """Yield (item, fn(item)) in the order of `items`."""
        ...


class InlineExecutor:
    """Everything in this process: one worker, no start-up cost, easiest to debug."""

    def map(self, fn, items, initializer, initargs, should_stop=Never):
        keep_freed_memory()
        # a worker initializer may ignore Ctrl-C (in a pool the parent decides); here the worker is
        # the caller's own process, whose Ctrl-C handling must stay as it was
        previous = signal.getsignal(signal.SIGINT)
        initializer(*initargs)
        if previous is not None and signal.getsignal(signal.SIGINT) is not previous \
                and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, previous)
        for item in items:
            if should_stop():
                return
            yield item, fn(item)


class WorkerCrashed(Exception):
    """The item's worker process died twice (killed, out of memory, a crash in native code)."""


class LocalExecutor:
    """A pool of worker processes with bounded in-flight work.

    Items go to workers in chunks, sized as the run goes so that a chunk is about
    CHUNK_SECONDS of work (1 item at first; up to MAX_CHUNK small ones): one round trip per
    chunk instead of per item keeps the parent's share of the CPU small (pickling, queues and
    futures cost it about 0.7 ms per round trip), which counts most when items are quick or
    workers many. At most `window` chunks are in flight. Results come back in input order.

    concurrent.futures is used rather than multiprocessing.Pool because it notices a worker
    that dies (BrokenProcessPool) instead of hanging. When one dies, every item in flight is
    suspect: each is run again alone in a fresh pool, so the innocent ones finish and the one
    that kills its worker again is yielded as WorkerCrashed; then normal work resumes.

    When the pool has one worker per CPU this process may use, each worker is pinned to its own
    CPU (see _Pinning)."""

    CHUNK_SECONDS = 0.05
    MAX_CHUNK = 16

    def __init__(self, workers: int, window: int | None = None):
        self.workers = max(1, workers)
        self.window = window or 4 * self.workers
        self.crashed = False  # a worker died during this run (its temporary files may be left)

    def _pool(self, initializer, initargs) -> ProcessPoolExecutor:
        start_worker_server()  # (already running: the caller started it early) with its environment
        return ProcessPoolExecutor(self.workers, mp_context=_context(), initializer=_set_up_worker,
                                   initargs=(initializer, initargs))

    def map(self, fn, items, initializer, initargs, should_stop=Never):
        pool = self._pool(initializer, initargs)
        pinning = _Pinning(self.workers)
        pending: deque[tuple[list, Future]] = deque()
        it = iter(items)
        pace = _Pace(self.workers, self.CHUNK_SECONDS, self.MAX_CHUNK)

        def refill() -> None:
            while len(pending) < self.window and not should_stop():
                chunk = list(itertools.islice(it, pace.chunk))
                if not chunk:
                    return
                try:
                    fut = pool.submit(_run_chunk, fn, chunk)
                except BrokenProcessPool as exc:  # the pool broke between two results
                    fut = Future()
                    fut.set_exception(exc)
                pending.append((chunk, fut))

        try:
            refill()
            pinning.pin(pool)  # the first refill started every worker (window >= workers)
            while pending:
                chunk, fut = pending.popleft()
                try:
                    results, error = fut.result()
                except BrokenProcessPool:
                    self.crashed = True
                    suspects = chunk + [i for c, _ in pending for i in c]
                    pending.clear()
                    pool.shutdown(wait=True, cancel_futures=True)
                    for suspect in suspects:
                        pool = self._pool(initializer, initargs)
                        try:
                            outcome = pool.submit(fn, suspect).result()
                        except BrokenProcessPool:
                            outcome = WorkerCrashed("its worker process died twice while processing it")
                        pool.shutdown(wait=True)
                        yield suspect, outcome
                    pool = self._pool(initializer, initargs)
                    pinning = _Pinning(self.workers)
                    refill()
                    pinning.pin(pool)
                    continue
                pace.done(len(results))
                refill()
                pinning.pin(pool)  # cheap once all are pinned; catches a worker started late
                yield from zip(chunk, results)
                if error is not None:
                    raise error
        except KeyboardInterrupt:  # a second Ctrl-C: do not wait for busy workers
            self.crashed = True  # killed mid-write, they leave temporary files for the caller to remove
            _terminate(pool)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


PIN_ENV = "AUGCLI_PIN_WORKERS"  # set to 0 to leave worker placement to the OS scheduler


def _cpus_to_pin(workers: int) -> list[int] | None:
    """The CPUs to give the pool's workers one each, in order, or None to leave them unpinned:
    only when there is one worker per CPU this process may run on (the default --workers; under
    `taskset` or a container's cpuset, those CPUs), on systems with sched_setaffinity (Linux),
    and unless AUGCLI_PIN_WORKERS is 0/no/false/off."""
    if workers < 2 or not hasattr(os, "sched_setaffinity"):
        return None
    if os.environ.get(PIN_ENV, "").strip().lower() in ("0", "no", "false", "off"):
        return None
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except OSError:
        return None
    return cpus if len(cpus) == workers else None


class _Pinning:
    """Pins each worker of a pool to its own CPU, when _cpus_to_pin allows.

    Left to the scheduler, the workers of a CPU-bound pool still hop between CPUs: each time the
    parent wakes up to hand out work or collect a result, it preempts a worker, which may then be
    moved. A worker that moves leaves its caches behind, and augcli's items are image-sized
    buffers passed from one OpenCV call to the next: on the 2-core development VM, two 1-worker
    runs side by side took 10% longer unpinned than pinned with taskset, and a 2-worker run of
    the benchmark's standard recipe 5% longer (the codec floor, whose items touch less memory,
    was unchanged). The parent stays unpinned, free to run wherever there is room. With fewer
    workers than CPUs nothing is pinned: two such runs at once would pile onto the same CPUs."""

    def __init__(self, workers: int):
        self.cpus = _cpus_to_pin(workers)
        self.pinned: set[int] = set()  # pids

    def pin(self, pool: ProcessPoolExecutor) -> None:
        if self.cpus is None or len(self.pinned) >= len(self.cpus):
            return
        for proc in list((getattr(pool, "_processes", None) or {}).values()):  # in the order they started
            if proc.pid is None or proc.pid in self.pinned:
                continue
            with contextlib.suppress(OSError):  # it may have exited already
                os.sched_setaffinity(proc.pid, {self.cpus[len(self.pinned) % len(self.cpus)]})
            self.pinned.add(proc.pid)


def _run_chunk(fn: Callable[[Any], Any], chunk: list) -> tuple[list, BaseException | None]:
    """In a worker: fn over a chunk. An exception ends the chunk and travels back after the
    results before it, so the caller sees those first, as it would one item at a time."""
    results = []
    for item in chunk:
        try:
            results.append(fn(item))
        except Exception as exc:
            return results, exc
    return results, None


class _Pace:
    """The chunk size: about `seconds` of one worker's work, from the run's throughput so far."""

    def __init__(self, workers: int, seconds: float, largest: int):
        self.workers, self.seconds, self.largest = workers, seconds, largest
        self.start = time.monotonic()
        self.items = 0
        self.chunk = 1

    def done(self, n: int) -> None:
        self.items += n
        if not self.items:  # a chunk whose first item failed
            return
        per_item = (time.monotonic() - self.start) * self.workers / self.items  # one worker's seconds per item
        self.chunk = max(1, min(self.largest, int(self.seconds / max(per_item, 1e-6))))


_END = object()

# glibc malloc options (malloc.h): M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's largest allowed value on 64-bit
_TRIM_THRESHOLD_BYTES = 64 << 20


def keep_freed_memory() -> bool:
    """Let this process reuse the memory of freed large buffers instead of handing it back to the
    OS and faulting fresh zeroed pages in for the next one.

    A worker allocates and frees a few image-sized buffers per item (decoded image, each
    transform's output, encoded bytes). By default glibc serves buffers of a few MB with mmap and
    unmaps them on free, so every item pays about 1,400 page faults per 1280x720 image (2-3 ms
    on the development VM, some 20% of the codec's own time). With these thresholds they come from the heap
    and are reused; up to _TRIM_THRESHOLD_BYTES of free heap is kept. Peak RSS does not change.
    Only glibc (Linux) has mallopt: elsewhere this does nothing and returns False."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this Python runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES))


def _set_up_worker(initializer: Callable[..., None], initargs: tuple) -> None:
    """Runs first in every pool process: allocator tuning, then the caller's initializer."""
    keep_freed_memory()
    initializer(*initargs)


def _context() -> mp.context.BaseContext:
    """Workers start from a clean single-threaded server ('forkserver') that has augcli's modules
    loaded, not by forking this process: a plain fork copies the state of OpenCV's thread pool
    in a process that already used OpenCV (a notebook, a test) and the children deadlock; and
    forked children hold the parent's pipes open, so they never notice the parent dying."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        # numpy.random too, which augcli.job leaves to first use: else every worker imports it;
        # augcli.preload does the rest of every worker's start-up work once, in the server
        ctx.set_forkserver_preload(["augcli.job", "numpy.random", "augcli.preload"])
        return ctx
    return mp.get_context("spawn")


def starts_a_pool(workers: int | None, executor: str = "local", dry_run: bool = False) -> bool:
    """Whether a run with these settings works in a local pool of processes (and so wants its fork
    server early): the local executor, more than one worker (None: the default count), not a dry run."""
    return executor == "local" and not dry_run and (workers or default_workers()) > 1


MAIN_GUARD_HELP = ("a script that runs augcli with worker processes must call it under `if __name__ == "
                   "\"__main__\":`, because every worker process imports the script again (Python's "
                   "multiprocessing): without that guard each worker starts the whole run anew and dies. "
                   "Put the call under the guard, or pass workers=1")


def check_main_guard() -> None:
    """Refuse, before any work, a pool started from a script's top-level code outside an
    `if __name__ == "__main__":` block: the workers (forkserver or spawn) import the script again
    and would run it, and so start a run of their own, instead of working; every input would be
    skipped as worker-crashed, which hides the cause. Raises UsageError with MAIN_GUARD_HELP.

    Two cases are caught: this process is itself such a worker importing the script (multiprocessing
    marks it as `_inheriting`), and a script's module-level code calling outside the guard (found from
    the script's syntax tree: the top-level statement running now is not inside an `if` on __name__).
    Anything that cannot be told for sure (no script file, unreadable source, a notebook,
    `python -c`, `python -m pkg` whose children do not re-import it) is let through."""
    from augcli.errors import UsageError

    if getattr(mp.current_process(), "_inheriting", False):
        raise UsageError(MAIN_GUARD_HELP)
    if not isinstance(_context(), (mp.context.ForkServerContext, mp.context.SpawnContext)):
        return  # (the pool's own context, whatever mp.set_start_method says)
    import sys

    main = sys.modules.get("__main__")
    spec_name = getattr(getattr(main, "__spec__", None), "name", None)
    path = getattr(main, "__file__", None)
    if main is None or not path or (spec_name or "").endswith("__main__") \
            or os.path.splitext(os.path.basename(path))[0] == "ipython":
        return  # the workers do not import it again (see multiprocessing.spawn.get_preparation_data)
    frame = sys._getframe(1)
    while frame is not None and not (frame.f_globals is vars(main) and frame.f_code.co_name == "<module>"):
        frame = frame.f_back
    if frame is None:  # not called from the script's top-level code as it runs
        return
    try:
        import ast

        with open(path, "rb") as f:
            tree = ast.parse(f.read(), path)
    except (OSError, SyntaxError, ValueError):
        return
    line = frame.f_lineno

    def guarded(nodes) -> bool | None:  # None: no statement here holds the line
        for node in nodes:
            if not node.lineno <= line <= (node.end_lineno or node.lineno):
                continue
            if isinstance(node, ast.If) and any(isinstance(n, ast.Name) and n.id == "__name__"
                                                for n in ast.walk(node.test)):
                return True
            inner = [c for field in ("body", "orelse", "finalbody", "handlers") for c in getattr(node, field, [])
                     if isinstance(c, (ast.stmt, ast.excepthandler))]
            return bool(guarded(inner))
        return None

    if guarded(tree.body) is False:
        raise UsageError(MAIN_GUARD_HELP)


def start_worker_server() -> None:
    """Start the fork server now, before the pool needs it: it takes some 0.3 s to import augcli,
    OpenCV and numpy, which then overlaps the caller's own start-up (the command line calls this
    before importing augcli.api; api.run before scanning the input) instead of delaying the first
    worker. Nothing to do where there is no fork server."""
    if isinstance(_context(), mp.context.ForkServerContext):
        from multiprocessing import forkserver

        with single_threaded_blas():  # the server's environment is every worker's
            forkserver.ensure_running()


BLAS_THREADS_ENV = "OPENBLAS_NUM_THREADS"


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """While inside, processes started get OPENBLAS_NUM_THREADS=1, unless it is set already.

    numpy's OpenBLAS starts a thread per CPU when numpy is imported, and those threads spin for a
    while before they sleep: about 0.1 s of CPU in every process that imports numpy, and more on
    the other cores while a run starts (a 10-image run took 0.9 s instead of 0.7 s on the 2-core
    development VM). augcli never gives BLAS work worth a thread (3x3 matrices); its processes
    are the parallelism. The command line sets it for its own process too (augcli.cli.main)."""
    if BLAS_THREADS_ENV in os.environ:
        yield
        return
    os.environ[BLAS_THREADS_ENV] = "1"
    try:
        yield
    finally:
        os.environ.pop(BLAS_THREADS_ENV, None)


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: workers are killed rather than waited for (a second Ctrl-C, a fatal error)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public way to reach them
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    for proc in processes:
        proc.join(timeout=5)
    pool.shutdown(wait=True, cancel_futures=True)  # the pool notices its dead workers and winds down


class StopOnSignal:
    """Turns the first SIGINT / SIGTERM into a stop request; a second one stops at once.

    Installed explicitly because a process started in the background inherits SIGINT as
    ignored. Only possible in the main thread; elsewhere it does nothing."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self.reason: str | None = None
        self._previous: dict[int, Any] = {}
        self._depth = 0  # inside critical() sections
        self._deferred = False  # a second signal arrived inside one: stop when it ends

    def __call__(self) -> bool:
        return self.reason is not None

    def request(self, reason: str) -> None:
        """Ask for the same clean stop from code (e.g. --on-error fail)."""
        self.reason = self.reason or reason

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            if self._depth:
                self._deferred = True
                return
            raise KeyboardInterrupt
        self.signum = signum
        self.reason = signal.Signals(signum).name

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """A stretch the second signal must not cut in two (recording one item's results in the
        manifest and spool: cut between its records, a later --resume would take the item as
        done with outputs missing from its records). The signal's KeyboardInterrupt is raised
        when the stretch ends instead."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if self._deferred and not self._depth:  # only on a normal exit: never masks another exception
            self._deferred = False
            raise KeyboardInterrupt

    def __enter__(self) -> "StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def make_executor(workers: int, executor: str = "local", scheduler: str | None = None,
                  log: Callable[[str], None] | None = None) -> Executor:
    """'local': a process pool (in-process for one worker); 'dask': a LocalCluster of `workers`
    processes, or the cluster at `scheduler` (an address such as tcp://host:8786)."""
    if executor == "dask":
        try:
            from augcli.executor_dask import DaskExecutor
        except ImportError:
            from augcli.errors import UsageError
            raise UsageError("--executor dask needs dask and distributed: pip install 'augcli[dask]'") from None
        return DaskExecutor(workers, scheduler=scheduler, log=log)
    if executor != "local":
        from augcli.errors import UsageError
        raise UsageError(f"unknown executor {executor!r}: choose local or dask")
    if scheduler:
        from augcli.errors import UsageError
        raise UsageError("--scheduler needs --executor dask")
    return InlineExecutor() if workers <= 1 else LocalExecutor(workers)
