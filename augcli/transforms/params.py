"""Parameter specs: the single place where a transform's parameter types, bounds and defaults live.

`parse(value)` returns the normalised value or raises ValueError with a sentence that says
what was expected and what was given; the recipe loader adds file, line and key path."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _number(value: Any, integer: bool) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, got {_show(value)}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int too large for a float
        finite = False
    if not finite:
        raise ValueError(f"expected a finite number, got {_show(value)[:40]}")
    if integer:
        if float(value) != int(value):
            raise ValueError(f"expected a whole number, got {value}")
        return int(value)
    return float(value)


@dataclass(frozen=True)
class Param:
    default: Any
    help: str = ""

    def parse(self, value: Any) -> Any:
        return value

    def kind(self) -> str:
        return "value"

    def to_plain(self, value: Any) -> Any:
        """The value as YAML/JSON would hold it (tuples become lists)."""
        return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class Number(Param):
    lo: float = -math.inf
    hi: float = math.inf
    integer: bool = False

    def parse(self, value: Any) -> Any:
        if value is None and self.default is None:  # an optional number (MixUp's alpha): null = not given
            return None
        v = _number(value, self.integer)
        if not self.lo <= v <= self.hi:
            raise ValueError(f"expected a number in [{_fmt(self.lo)}, {_fmt(self.hi)}], got {_show(value)}")
        return v

    def kind(self) -> str:
        return f"{'int' if self.integer else 'float'} in [{_fmt(self.lo)}, {_fmt(self.hi)}]"


@dataclass(frozen=True)
class Range(Param):
    """A closed interval sampled uniformly: `[lo, hi]`, or a scalar meaning that fixed value."""

    lo: float = -math.inf
    hi: float = math.inf
    integer: bool = False

    def parse(self, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ValueError(f"expected [lo, hi] with lo <= hi, got {_show(value)}")
            a, b = (_number(v, self.integer) for v in value)
        else:
            a = b = _number(value, self.integer)
        if a > b:
            raise ValueError(f"expected [lo, hi] with lo <= hi, got {_show(value)}")
        if a < self.lo or b > self.hi:
            raise ValueError(f"expected values within [{_fmt(self.lo)}, {_fmt(self.hi)}], got {_show(value)}")
        return (a, b)

    def kind(self) -> str:
        return f"range of {'int' if self.integer else 'float'} within [{_fmt(self.lo)}, {_fmt(self.hi)}]"


@dataclass(frozen=True)
class Choice(Param):
    options: tuple[str, ...] = ()

    def parse(self, value: Any) -> Any:
        if value not in self.options:
            raise ValueError(f"expected one of {', '.join(self.options)}, got {_show(value)}")
        return value

    def kind(self) -> str:
        return " | ".join(self.options)


@dataclass(frozen=True)
class Flag(Param):
    def parse(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {_show(value)}")
        return value

    def kind(self) -> str:
        return "bool"


@dataclass(frozen=True)
class Size(Param):
    """[height, width] in pixels."""

    def parse(self, value: Any) -> Any:
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ValueError(f"expected [height, width] in pixels, got {_show(value)}")
        h, w = (_number(v, True) for v in value)
        if not (1 <= h <= 65536 and 1 <= w <= 65536):
            raise ValueError(f"expected [height, width] between 1 and 65536 pixels, got {_show(value)}")
        return (h, w)

    def kind(self) -> str:
        return "[height, width] pixels"


@dataclass(frozen=True)
class Color(Param):
    """A grey level 0-255, or [b, g, r]."""

    def parse(self, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            if len(value) != 3:
                raise ValueError(f"expected a grey level or [b, g, r], got {_show(value)}")
            vals = tuple(_number(v, True) for v in value)
        else:
            vals = (_number(value, True),)
        if any(not 0 <= v <= 255 for v in vals):
            raise ValueError(f"expected levels in [0, 255], got {_show(value)}")
        return vals[0] if len(vals) == 1 else vals

    def kind(self) -> str:
        return "grey 0-255 or [b, g, r]"


@dataclass(frozen=True)
class Weights(Param):
    """Optional list of non-negative numbers, one per child transform."""

    def parse(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"expected a list of non-negative numbers, got {_show(value)}")
        vals = tuple(_number(v, False) for v in value)
        if any(v < 0 for v in vals) or not 0 < sum(vals) < math.inf:  # 1e308 twice: the sum overflows
            raise ValueError(f"expected non-negative weights with a positive sum, got {_show(value)}")
        return vals

    def kind(self) -> str:
        return "list of weights, one per child"


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:g}"


PROBABILITY = Number(default=1.0, lo=0.0, hi=1.0, help="probability of applying the transform")
