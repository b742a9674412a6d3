"""Seed normalisation: every randomized kernel takes ``seed=None | int | numpy.random.Generator``
and hands the C++ Philox generator one 64-bit key.

- ``None`` draws fresh entropy from the operating system; the seed used is reported in the
  result so the run can be replayed.
- an ``int`` in [0, 2**64) is used as is.
- a ``numpy.random.Generator`` (or ``RandomState``) gives one 64-bit draw, advancing it.
"""

from __future__ import annotations

import operator
import secrets

import numpy as np

__all__ = ["normalize_seed"]

_MAX = 2**64


def normalize_seed(seed, name: str = "seed") -> int:
    if type(seed) is int and 0 <= seed < _MAX:  # the common case, fast
        return seed
    if seed is None:
        return secrets.randbits(64)
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, _MAX, dtype=np.uint64))
    if isinstance(seed, np.random.RandomState):
        return int(seed.randint(0, _MAX, dtype=np.uint64))
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"{name}: expected None, an int or a numpy.random.Generator, got bool")
    try:
        s = operator.index(seed)
    except TypeError:
        raise TypeError(f"{name}: expected None, an int or a numpy.random.Generator, "
                        f"got {type(seed).__name__}") from None
    if not 0 <= s < _MAX:
        raise ValueError(f"{name}: must be in [0, 2**64), got {s}")
    return s


def derive_seed(seed: int, i: int) -> int:
    """The i-th child seed of ``seed``: 64 bits of Philox4x32-10 (key = seed, counter =
    (i, 0x5EED)). Independent streams for the several random objects of one call."""
    from . import _core
    ctr = [i & 0xFFFFFFFF, (i >> 32) & 0xFFFFFFFF, 0x5EED, 0]
    key = [seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF]
    out = _core._philox4x32_10(ctr, key)
    return int(out[0]) | (int(out[1]) << 32)
