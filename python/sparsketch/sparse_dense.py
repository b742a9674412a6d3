"""Sparse x dense kernels used by matrix completion, exposed for reuse: :func:`sddmm`
(sampled dense-dense product: ``U V^T`` evaluated on a sparsity pattern) and :func:`spmm`
(sparse x dense product). Multithreaded over rows; results are the same for any thread count.
"""

from __future__ import annotations

import numpy as np

from . import _core
from ._validation import as_float_array, as_float_matrix, is_sparse, prepare_matrix, resolve_n_threads

__all__ = ["sddmm", "spmm"]


def _csr_tuple(A, dtype):
    return (A.indptr, A.indices, np.ascontiguousarray(A.data, dtype=dtype), A.shape[0],
            A.shape[1])


def sddmm(S, U, V, *, n_threads=None):
    """Sampled dense-dense product: ``C[i, j] = S[i, j] * (U[i] . V[j])`` for the stored
    entries (i, j) of S, i.e. ``S * (U @ V.T)`` without forming ``U @ V.T``.

    Parameters
    ----------
    S : scipy.sparse matrix or array, shape (m, n)
        The pattern and scale factors (use ones for the plain sampled product). Duplicate
        entries are summed and indices sorted first (canonical form).
    U : array_like, shape (m, k)
    V : array_like, shape (n, k)
    n_threads : int or None

    Returns
    -------
    scipy.sparse csr_array (csr_matrix when S is a matrix), shape (m, n), S's pattern, dtype
    the common float type of S, U and V. Cost O(nnz(S) k).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, sparsketch
    >>> rng = np.random.default_rng(0)
    >>> S = sp.random_array((50, 40), density=0.1, random_state=0, format="csr")
    >>> U, V = rng.standard_normal((50, 4)), rng.standard_normal((40, 4))
    >>> C = sparsketch.sddmm(S, U, V)
    >>> bool(np.allclose(C.toarray(), S.toarray() * (U @ V.T)))
    True
    """
    import scipy.sparse as sp
    if not is_sparse(S):
        raise TypeError(f"S: expected a scipy.sparse matrix or array, got {type(S).__name__}")
    nt = resolve_n_threads(n_threads)
    A = prepare_matrix(S, "S")
    m, n = A.shape
    U = as_float_matrix(U, m, "U")
    V = as_float_matrix(V, n, "V")
    if U.shape[1] != V.shape[1]:
        raise ValueError(f"V: expected {U.shape[1]} columns (as U), got {V.shape[1]}")
    dt = np.result_type(A.dtype, U.dtype, V.dtype)
    Uc = np.ascontiguousarray(U, dtype=dt)
    Vc = np.ascontiguousarray(V, dtype=dt)
    out = np.empty(A.nnz, dtype=dt)
    if A.nnz:
        _core.sddmm(_csr_tuple(A, dt), True, Uc, Vc, out, nt)
    cls = sp.csr_matrix if isinstance(S, sp.spmatrix) else sp.csr_array
    return cls((out, A.indices.copy(), A.indptr.copy()), shape=(m, n))


def spmm(A, X, *, n_threads=None):
    """Sparse x dense product ``A @ X``, multithreaded over the rows of A.

    Parameters
    ----------
    A : scipy.sparse matrix or array, shape (m, n) (any format; canonicalized to CSR)
    X : array_like, shape (n,) or (n, c)
    n_threads : int or None

    Returns
    -------
    ndarray of shape (m,) or (m, c), dtype the common float type of A and X. Cost O(nnz(A) c);
    each output row is summed in A's (sorted) order, so the result does not depend on the
    thread count.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, sparsketch
    >>> A = sp.random_array((60, 30), density=0.2, random_state=1, format="csr")
    >>> X = np.arange(90.0).reshape(30, 3)
    >>> bool(np.allclose(sparsketch.spmm(A, X), A @ X))
    True
    """
    if not is_sparse(A):
        raise TypeError(f"A: expected a scipy.sparse matrix or array, got {type(A).__name__}")
    nt = resolve_n_threads(n_threads)
    B = prepare_matrix(A, "A")
    m, n = B.shape
    X = as_float_array(X, "X")
    vec = X.ndim == 1
    X2 = X[:, None] if vec else X
    X2 = as_float_matrix(X2, n, "X")
    dt = np.result_type(B.dtype, X2.dtype)
    Xc = np.ascontiguousarray(X2, dtype=dt)
    out = np.empty((m, Xc.shape[1]), dtype=dt)
    _core.spmm(_csr_tuple(B, dt), Xc, out, nt)
    return out[:, 0] if vec else out
