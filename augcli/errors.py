"""Exceptions augcli raises on purpose. Each carries a message a user can act on."""
from __future__ import annotations

from dataclasses import dataclass


class AugcliError(Exception):
    """Base class: a problem augcli understands and can explain in one sentence."""


@dataclass(frozen=True)
class RecipeIssue:
    """One problem in a recipe: where it is (file, line, key path) and what was expected."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class RecipeError(AugcliError):
    """A recipe failed validation; `issues` lists every problem found, not just the first."""

    def __init__(self, issues: list[RecipeIssue]):
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


class ParamError(ValueError):
    """Invalid transform parameters: `problems` maps a parameter name ('' = the whole transform) to a message."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{k}: {m}" if k else m for k, m in problems))


class UsageError(AugcliError):
    """The command line or the folders given cannot work (exit code 2)."""


class InputError(AugcliError):
    """One input item is unusable; the run skips it and goes on.

    `reason` is a short stable code used for counting (e.g. 'bad-label', 'unreadable-image');
    `path` and `line` name the offending file and 1-based line when known.
    """

    def __init__(self, reason: str, path: str, message: str, line: int | None = None):
        self.reason = reason
        self.path = path
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


class OutputError(AugcliError):
    """Writing the output failed (disk full, read-only, the output folder removed): the run stops."""
