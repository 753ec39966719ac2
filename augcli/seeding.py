"""Per-output random generators, keyed by (seed, input key, copy index).

The key is the input's path relative to the input root, so an output's randomness does
not depend on worker count, processing order, or which other files are in the folder."""
from __future__ import annotations

import hashlib

import numpy as np


def output_rng(seed: int, key: str, copy: int) -> np.random.Generator:
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    entropy = [seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, *words, int(copy)]
    return np.random.default_rng(np.random.SeedSequence(entropy))
