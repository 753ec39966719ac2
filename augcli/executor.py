"""Hands items to workers and yields results in input order, with bounded in-flight work.

The executor knows nothing about images or labels: it calls `fn(item)` after
`initializer(*initargs)` in each worker. Keep this interface small so a distributed engine
can stand in for the local pool."""
from __future__ import annotations

import multiprocessing as mp
import os
import sys
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Callable, Iterable, Iterator, Protocol


class Interrupted(Exception):
    """The run was stopped (Ctrl-C / SIGTERM); `completed` holds results that finished anyway."""

    def __init__(self, completed: list[tuple[Any, Any]]):
        super().__init__("interrupted")
        self.completed = completed


class Executor(Protocol):
    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], initializer: Callable[..., None],
            initargs: tuple) -> Iterator[tuple[Any, Any]]:
        """Yield (item, fn(item)) in the order of `items`."""
        ...


class InlineExecutor:
    """Everything in this process: one worker, no start-up cost, easiest to debug."""

    def map(self, fn, items, initializer, initargs):
        initializer(*initargs)
        for item in items:
            yield item, fn(item)


class LocalExecutor:
    """A pool of worker processes with at most `window` items in flight."""

    def __init__(self, workers: int, window: int | None = None):
        self.workers = max(1, workers)
        self.window = window or 4 * self.workers

    def map(self, fn, items, initializer, initargs):
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
                nxt = next(it, None)
                if nxt is not None:
                    pending.append((nxt, pool.submit(fn, nxt)))
                yield item, result
        except KeyboardInterrupt:
            for _, fut in pending:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            done = [(i, f.result()) for i, f in pending if f.done() and not f.cancelled() and f.exception() is None]
            raise Interrupted(done) from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def make_executor(workers: int) -> Executor:
    return InlineExecutor() if workers <= 1 else LocalExecutor(workers)
