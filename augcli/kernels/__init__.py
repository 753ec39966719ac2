"""Pure numpy/OpenCV functions on arrays: no randomness, no I/O, no label types."""
from __future__ import annotations

import numpy as np


def into(result: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """`out` holding `result`, for an OpenCV call given dst=out (None: `result` as it is). OpenCV
    writes into a dst of the right shape and type; should it allocate instead, this copies."""
    if out is None or result is out:
        return result
    if not np.shares_memory(result, out):
        out[...] = result
    return out
