"""Hands items to workers and yields results in input order, with bounded in-flight work.

The executor knows nothing about images or labels: it calls `fn(item)` after
`initializer(*initargs)` in each worker. Keep this interface small so a distributed engine
can stand in for the local pool.

Stopping: `map` polls `should_stop()` between results. Once it returns True no new item is
handed out, items already in flight are finished and yielded, and `map` returns. A run
stopped this way leaves only complete outputs, each of them reported."""
from __future__ import annotations

import contextlib
import functools
import multiprocessing as mp
import os
import pickle
import signal
import threading
import time
from collections import deque
from multiprocessing.connection import wait as mp_wait
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
    """A pool of worker processes, each fed through its own pipe, with bounded in-flight work.

    Items go to workers in chunks, sized as the run goes so that a chunk is about
    CHUNK_SECONDS of work (1 item at first; up to MAX_CHUNK small ones), and cut down again as
    the run nears its end (at most 1/(GUIDE x workers) of the items left), so the last chunks
    are single items and the workers finish together. Fewer, larger chunks spare the parent
    round trips, each of which also wakes it on a core a worker is using: with 0.2 s instead of
    0.05 s, a 2-worker run of the benchmark's standard recipe (300 items of ~28 ms) took the
    parent 0.06-0.07 s of CPU instead of 0.13-0.17, and the whole run 0.84-0.99x the wall time
    and 0.86-0.99x the CPU (4 alternating pairs; the workers are interrupted less too). Each
    worker holds at most QUEUED chunks (the one it runs and the next, so it never waits for the
    parent between two), and never more than `window` chunks are handed out and not yet yielded
    in all. Results come back in input order. New chunks go out right after results are yielded,
    so a caller that asks to stop on seeing a result (--on-error fail) has at most the chunks
    already queued run after it; a worker that ran out of work is given more at once.

    The parent does all of it in its own thread: it waits on the workers' pipes and hands the
    worker that answered its next chunk. concurrent.futures, which this replaced, spent about
    0.5 ms of the parent's CPU on a round trip in its manager and feeder threads (and woke
    threads up to hand results over); this takes about 0.3 ms less (a 2-worker run of the
    benchmark's standard recipe, 300 round trips: the parent's CPU 0.20-0.21 s against
    0.28-0.31 s). And each worker's pipe tells exactly which work it held when it died.

    A worker runs its chunks in order and answers each before starting the next, so when one
    dies (killed, out of memory, a crash in native code) the chunk at the head of its queue is
    the one it was running: each of its items is run again alone, in a chunk of its own on a
    fresh worker, and one that kills that worker too is yielded as WorkerCrashed. The dead
    worker's other chunks never started; they go to the workers again as they were. Work on
    the other workers goes on meanwhile.

    When the pool has one worker per CPU this process may use, each worker is pinned to its own
    CPU (see _cpus_to_pin)."""

    CHUNK_SECONDS = 0.2
    MAX_CHUNK = 16
    QUEUED = 2
    GUIDE = 2  # near the end, a chunk is at most 1/(GUIDE x workers) of the items left

    def __init__(self, workers: int, window: int | None = None):
        self.workers = max(1, workers)
        self.window = window or 4 * self.workers
        self.crashed = False  # a worker died during this run (its temporary files may be left)

    def map(self, fn, items, initializer, initargs, should_stop=Never):
        start_worker_server()  # (already running: the caller started it early) with its environment
        pool = _Pool(_context(), fn, initializer, initargs, self.workers)
        depth = max(1, min(self.QUEUED, self.window // self.workers))
        pending = _Ahead(items, self.GUIDE * self.workers * self.MAX_CHUNK)
        pace = _Pace(self.workers, self.CHUNK_SECONDS, self.MAX_CHUNK)
        order: deque[_Chunk] = deque()  # every chunk handed out and not yet yielded, in input order
        backlog: deque[_Chunk] = deque()  # chunks in `order` to hand out again (a worker died holding them)
        exhausted = False

        def hand_out(worker: _Worker) -> None:
            nonlocal exhausted
            while len(worker.queue) < depth:
                if backlog:
                    chunk = backlog.popleft()
                elif exhausted or len(order) >= self.window or should_stop():
                    return
                else:
                    items_ = pending.take(pace.chunk, self.GUIDE * self.workers)
                    if not items_:
                        exhausted = True
                        return
                    chunk = _Chunk(items_)
                    order.append(chunk)
                worker.give(chunk)

        def collect() -> None:
            """Wait until some worker answers or dies, and deal with it."""
            busy = [w for w in pool.workers if w.queue]
            waiting_on = {w.conn: w for w in busy}
            waiting_on.update({w.process.sentinel: w for w in busy})
            for ready in mp_wait(list(waiting_on)):
                worker = waiting_on[ready]
                if not worker.queue or worker.dead:  # dealt with already (its pipe and its sentinel both ready)
                    continue
                answer = worker.answer()
                if answer is not None:
                    chunk = worker.queue.popleft()
                    chunk.results, chunk.error = answer
                    chunk.done = True
                    pace.done(len(chunk.results))
                    if not worker.queue:  # else it has its next chunk, and gets more once these results are out
                        hand_out(worker)
                else:
                    self.crashed = True
                    died_in, *never_started = worker.queue
                    if died_in.retry:  # the second worker this item killed
                        died_in.results = [WorkerCrashed("its worker process died twice while processing it")]
                        died_in.done = True
                        alone = []
                    else:
                        alone = [_Chunk([item], retry=True) for item in died_in.items]
                        position = order.index(died_in)
                        order.remove(died_in)
                        for k, part in enumerate(alone):
                            order.insert(position + k, part)
                    backlog.extendleft(reversed(alone + never_started))
                    pool.replace(worker)
                    for other in pool.workers:  # the replacement among them; the backlog may need more than one
                        hand_out(other)

        try:
            for worker in pool.workers:
                hand_out(worker)
            while order:
                while not order[0].done:  # (a chunk whose worker died is replaced in `order` by its items alone)
                    collect()
                head = order.popleft()
                yield from zip(head.items, head.results)
                if head.error is not None:
                    raise head.error
                # new work only now that the caller has seen these results (and may have asked to stop)
                for worker in pool.workers:
                    hand_out(worker)
        except KeyboardInterrupt:  # a second Ctrl-C: do not wait for busy workers
            self.crashed = True  # killed mid-write, they leave temporary files for the caller to remove
            pool.terminate()
            raise
        finally:
            pool.close()


class _Chunk:
    """Items handed to one worker together, and what came back for them."""

    __slots__ = ("items", "retry", "results", "error", "done")

    def __init__(self, items: list, retry: bool = False):
        self.items = items
        self.retry = retry  # an item run again alone, after the worker running it died
        self.results: list = []
        self.error: BaseException | None = None
        self.done = False


class _Worker:
    """One worker process, the parent's end of its pipe, and the chunks it holds, oldest first."""

    def __init__(self, process: mp.process.BaseProcess, conn: Any):
        self.process, self.conn = process, conn
        self.queue: deque[_Chunk] = deque()
        self.dead = False

    def give(self, chunk: _Chunk) -> None:
        self.queue.append(chunk)
        if self.dead:
            return
        try:
            self.conn.send(chunk.items)
        except (BrokenPipeError, ConnectionResetError):  # it died: its sentinel tells the caller soon
            pass

    def answer(self) -> tuple[list, BaseException | None] | None:
        """The worker's answer for the chunk at the head of its queue, or None when it died first."""
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            self.dead = True
            return None


class _Pool:
    """The worker processes of one LocalExecutor.map, each started from the fork server with its
    own pipe; `replace` starts a new one in a dead one's place (and on its CPU)."""

    def __init__(self, ctx: mp.context.BaseContext, fn: Callable, initializer: Callable, initargs: tuple,
                 workers: int):
        self.ctx, self.args = ctx, (fn, initializer, initargs)
        self.cpus = _cpus_to_pin(workers)
        self.workers: list[_Worker] = []
        for slot in range(workers):
            self.workers.append(self._start(slot))

    def _start(self, slot: int) -> _Worker:
        here, there = self.ctx.Pipe()
        process = self.ctx.Process(target=_serve, args=(there, *self.args), daemon=True,
                                   name=f"augcli-worker-{slot + 1}")
        process.start()
        there.close()
        if self.cpus is not None:
            with contextlib.suppress(OSError):  # it may have exited already
                os.sched_setaffinity(process.pid, {self.cpus[slot % len(self.cpus)]})
        return _Worker(process, here)

    def replace(self, dead: _Worker) -> None:
        slot = self.workers.index(dead)
        dead.conn.close()
        dead.process.join()
        self.workers[slot] = self._start(slot)

    def terminate(self) -> None:
        """Stop now: workers are killed rather than waited for (a second Ctrl-C)."""
        for worker in self.workers:
            if worker.process.is_alive():
                worker.process.terminate()

    def close(self) -> None:
        """Ask every worker to finish what it holds and exit, and wait for them."""
        for worker in self.workers:
            if not worker.dead:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
        for worker in self.workers:
            worker.process.join()
            worker.conn.close()


def _serve(conn: Any, fn: Callable[[Any], Any], initializer: Callable[..., None], initargs: tuple) -> None:
    """A worker's life: set up, then run each chunk the parent sends and answer it, in order, until
    the parent sends None or goes away."""
    _set_up_worker(initializer, initargs)
    while True:
        try:
            chunk = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if chunk is None:
            return
        answer = _run_chunk(fn, chunk)
        try:
            conn.send(answer)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:  # something in it cannot travel
            conn.send(_sendable(answer, exc))


def _sendable(answer: tuple[list, BaseException | None], exc: Exception) -> tuple[list, BaseException]:
    """An answer that failed to pickle, cut at the first result that does not pickle (or with the
    error replaced by a description of it), ending in an error that says why."""
    results, error = answer
    for i, result in enumerate(results):
        try:
            pickle.dumps(result)
        except Exception as why:  # noqa: BLE001 - any failure to pickle
            return results[:i], RuntimeError(f"a worker's result could not be sent back: {why!r}")
    return results, RuntimeError(f"a worker's error could not be sent back ({exc!r}): {error!r}")


PIN_ENV = "AUGCLI_PIN_WORKERS"  # set to 0 to leave worker placement to the OS scheduler


def _cpus_to_pin(workers: int) -> list[int] | None:
    """The CPUs to give the pool's workers one each, in order, or None to leave them unpinned:
    only when there is one worker per CPU this process may run on (the default --workers; under
    `taskset` or a container's cpuset, those CPUs), on systems with sched_setaffinity (Linux),
    and unless AUGCLI_PIN_WORKERS is 0/no/false/off.

    Why pin: left to the scheduler, the workers of a CPU-bound pool still hop between CPUs: each
    time the parent wakes up to hand out work or collect a result, it preempts a worker, which
    may then be moved. A worker that moves leaves its caches behind, and augcli's items are
    image-sized buffers passed from one OpenCV call to the next: on the 2-core development VM,
    two 1-worker runs side by side took 10% longer unpinned than pinned with taskset, and a
    2-worker run of the benchmark's standard recipe 5% longer (the codec floor, whose items
    touch less memory, was unchanged). The parent stays unpinned, free to run wherever there is
    room. With fewer workers than CPUs nothing is pinned: two such runs at once would pile onto
    the same CPUs."""
    if workers < 2 or not hasattr(os, "sched_setaffinity"):
        return None
    if os.environ.get(PIN_ENV, "").strip().lower() in ("0", "no", "false", "off"):
        return None
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except OSError:
        return None
    return cpus if len(cpus) == workers else None


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


class _Ahead:
    """The items not handed out yet, read from the caller's iterable `reach` items ahead of need,
    so that the end of the run is seen coming: once the iterable is exhausted, the number left is
    known, and `take` cuts chunks down to share it out (guided self-scheduling)."""

    def __init__(self, items: Iterable, reach: int):
        self._it = iter(items)
        self._read: deque = deque()
        self._reach = reach
        self._exhausted = False

    def take(self, n: int, shares: int) -> list:
        """The next chunk: `n` items, or fewer when fewer than `shares` x `n` are left (then about
        1/`shares` of those left, at least one), so that the last chunks of a run are single items
        and the workers finish together instead of one running a long chunk while the others
        wait. Empty when none are left."""
        read = self._read
        while not self._exhausted and len(read) < n + self._reach:
            try:
                read.append(next(self._it))
            except StopIteration:
                self._exhausted = True
        if self._exhausted:
            n = min(n, max(1, -(-len(read) // shares)))
        return [read.popleft() for _ in range(min(n, len(read)))]


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
    tree = _script_syntax(path)
    if tree is None:
        return
    import ast

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


def _script_syntax(path: str):
    """The syntax tree of the script at `path` (an ast.Module), or None when it cannot be read or
    parsed. Parsed once per process and file version: a 2,000-line script takes some 40 ms to
    parse, which a script calling augcli.run again and again would otherwise pay every time."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _parse_script(path, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=4)
def _parse_script(path: str, mtime_ns: int, size: int):
    import ast

    try:
        with open(path, "rb") as f:
            return ast.parse(f.read(), path)
    except (OSError, SyntaxError, ValueError):
        return None


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
