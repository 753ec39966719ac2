"""Hands items to workers and yields results in input order, with bounded in-flight work.

The executor knows nothing about images or labels: it calls `fn(item)` after
`initializer(*initargs)` in each worker. Keep this interface small so a distributed engine
can stand in for the local pool.

Stopping: `map` polls `should_stop()` between results. Once it returns True no new item is
handed out, items already in flight are finished and yielded, and `map` returns. A run
stopped this way leaves only complete outputs, each of them reported."""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
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
        initializer(*initargs)
        for item in items:
            if should_stop():
                return
            yield item, fn(item)


class LocalExecutor:
    """A pool of worker processes with at most `window` items in flight.

    concurrent.futures is used rather than multiprocessing.Pool because it notices a worker
    that dies (BrokenProcessPool) instead of hanging."""

    def __init__(self, workers: int, window: int | None = None):
        self.workers = max(1, workers)
        self.window = window or 4 * self.workers

    def map(self, fn, items, initializer, initargs, should_stop=Never):
        method = "fork" if sys.platform.startswith("linux") else "spawn"
        pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context(method),
                                   initializer=initializer, initargs=initargs)
        pending: deque[tuple[Any, Future]] = deque()
        it = iter(items)
        try:
            for item in it:
                pending.append((item, pool.submit(fn, item)))
                if len(pending) >= self.window:
                    break
            while pending:
                item, fut = pending.popleft()
                result = fut.result()
                if not should_stop():
                    nxt = next(it, None)
                    if nxt is not None:
                        pending.append((nxt, pool.submit(fn, nxt)))
                yield item, result
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class StopOnSignal:
    """Turns the first SIGINT / SIGTERM into a stop request; a second one stops at once.

    Installed explicitly because a process started in the background inherits SIGINT as
    ignored. Only possible in the main thread; elsewhere it does nothing."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __call__(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

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


def make_executor(workers: int) -> Executor:
    return InlineExecutor() if workers <= 1 else LocalExecutor(workers)
