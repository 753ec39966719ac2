"""Per-output random generators, keyed by (seed, input key, copy index).

The key is the input's path relative to the input root, so an output's randomness does
not depend on worker count, processing order, or which other files are in the folder."""
from __future__ import annotations

import hashlib

import numpy as np


def output_rng(seed: int, key: str, copy: int) -> np.random.Generator:
    """The generator of copy `copy` of the input (or sequence) `key`. `seed` is taken as 64 bits,
    so one outside [0, 2**64) is refused rather than wrapped onto another seed's outputs."""
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be a whole number in [0, 2**64), got {seed!r}")
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    entropy = [seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, *words, int(copy)]
    if 0 <= entropy[-1] < 2**32:
        # every value one 32-bit word: as an array, SeedSequence takes the same words without
        # converting each int in Python (about 6 of 16 us a copy); the same generator either way
        return np.random.default_rng(np.random.SeedSequence(np.array(entropy, np.uint32)))
    return np.random.default_rng(np.random.SeedSequence(entropy))
