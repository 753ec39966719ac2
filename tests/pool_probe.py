"""Functions for tests that run in pool workers and must import nothing themselves (a test module
would bring its own imports into the worker)."""
import sys


def imported(name: str) -> bool:
    return name in sys.modules


def no_setup() -> None:
    pass


def affinity_after(seconds: float) -> tuple[int, tuple[int, ...]]:
    """(this worker's pid, the CPUs it may run on) after `seconds`: time for the parent to pin it."""
    import os
    import time

    time.sleep(seconds)
    return os.getpid(), tuple(sorted(os.sched_getaffinity(0)))


def warmed_up(_: object) -> dict[str, bool]:
    """Which modules this worker inherited from the fork server, before doing any work of its own."""
    import sys

    return {"families": "augcli.transforms.geometric" in sys.modules and "augcli.transforms.weather" in sys.modules,
            "formats": "augcli.formats.coco" in sys.modules and "augcli.formats.yolo" in sys.modules}


def broken_setup(*args) -> None:
    """A worker set-up that always fails, as when a worker cannot start at all."""
    raise RuntimeError("this worker cannot start")


def environment(name: str) -> str | None:
    """This worker's value of the environment variable `name`."""
    import os

    return os.environ.get(name)


def value_or_die(task: tuple[int, bool]) -> int:
    """(value, die): the value back, or this worker killed (SIGKILL) while running it."""
    import os
    import signal

    value, die = task
    if die:
        os.kill(os.getpid(), signal.SIGKILL)
    return value


def unpicklable_at(x: int):
    """x back, except for 3, whose result (a lambda) cannot be pickled back to the parent."""
    return (lambda: x) if x == 3 else x


def main_file(_: object) -> str | None:
    """The file of the main module this worker imported again from its parent (None: none)."""
    main = sys.modules.get("__mp_main__")
    return getattr(main, "__file__", None)
