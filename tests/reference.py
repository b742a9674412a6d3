"""Independent, naive references the tests compare against. Nothing here calls sparsketch."""

from __future__ import annotations

import numpy as np


def hadamard_matrix(n: int) -> np.ndarray:
    """Sylvester Hadamard matrix from the definition H[k, t] = (-1)^popcount(k & t)."""
    k = np.arange(n, dtype=np.uint64)
    kt = k[:, None] & k[None, :]
    parity = np.zeros_like(kt)
    while kt.any():
        parity ^= kt & np.uint64(1)
        kt >>= np.uint64(1)
    return np.where(parity == 1, -1.0, 1.0)


def fwht_kronecker(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """FWHT along `axis` in float64 by H_N = H_2 (x) ... (x) H_2: reshape the axis into log2(N)
    axes of length 2 and apply [[1, 1], [1, -1]] along each with einsum."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    shape = x.shape
    n = shape[-1]
    L = n.bit_length() - 1
    y = x.reshape(shape[:-1] + (2,) * L)
    h2 = np.array([[1.0, 1.0], [1.0, -1.0]])
    for k in range(L):
        y = np.moveaxis(np.tensordot(y, h2, axes=([y.ndim - L + k], [1])), -1, y.ndim - L + k)
    return np.moveaxis(y.reshape(shape), -1, axis)
