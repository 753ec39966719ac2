"""Functions for tests that run in pool workers and must import nothing themselves (a test module
would bring its own imports into the worker)."""
import sys


def imported(name: str) -> bool:
    return name in sys.modules


def no_setup() -> None:
    pass
