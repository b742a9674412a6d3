"""Random sketch operators: Gaussian, SRHT, CountSketch and sparse sign embeddings."""

from __future__ import annotations

import numpy as np

from . import _core
from ._random import normalize_seed
from ._validation import (all_finite, as_float_array, check_int, is_sparse, normalize_axis,
                          resolve_n_threads)

__all__ = ["SketchOperator", "sketch", "SKETCH_KINDS"]

SKETCH_KINDS = ("gaussian", "srht", "countsketch", "sparse_sign")
_KIND_ID = {k: i for i, k in enumerate(SKETCH_KINDS)}


def _check_kind(kind) -> str:
    if not isinstance(kind, str) or kind not in _KIND_ID:
        raise ValueError(f"kind: expected one of {SKETCH_KINDS}, got {kind!r}")
    return kind


def _check_finite(x, name):
    data = x.data if is_sparse(x) else x
    if not all_finite(data):
        raise ValueError(f"{name}: contains NaN or Inf")


def _padded_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


class SketchOperator:
    r"""A random sketch operator :math:`S \in \mathbb{R}^{m \times n}` with
    :math:`\mathbb{E}[S^T S] = I_n`, defined by ``(kind, m, n, seed, zeta)``.

    ``S @ A`` applies it to a dense array or scipy.sparse matrix with ``n`` rows (a vector of
    length ``n`` gives a vector of length ``m``); ``A @ S.T`` applies it to the columns
    (``A`` with ``n`` columns). ``S.toarray()`` is the explicit matrix (small ``n`` only).

    Parameters
    ----------
    kind : {"sparse_sign", "countsketch", "srht", "gaussian"}
        - ``"gaussian"``: i.i.d. N(0, 1/m) entries; O(m n d) by blocked GEMM, S never stored.
        - ``"srht"``: subsampled randomized Hadamard transform ``P H D / sqrt(m)`` (random
          signs, the fast Walsh-Hadamard transform over ``n`` padded to a power of two, ``m``
          distinct sampled rows); O(n d log n). Requires ``m <= next_pow2(n)``.
        - ``"countsketch"``: one +-1 per column in a random row; O(nnz(A)).
        - ``"sparse_sign"``: ``zeta`` entries +-1/sqrt(zeta) per column in distinct random
          rows; O(zeta nnz(A)). The default: the embedding Epperly, Meier and Nakatsukasa
          recommend (arXiv 2406.03468) for sketch-and-precondition.
    m : int
        Sketch size (rows of S), >= 1.
    n : int
        Rows of the matrices it applies to, >= 1.
    seed : None, int or numpy.random.Generator
        The seed (``None``: fresh entropy). The seed used is ``self.seed``; the same seed gives
        the same S whatever the number of threads.
    zeta : int, default 8
        Nonzeros per column for ``"sparse_sign"`` (clipped to ``m``).

    Notes
    -----
    A sketch is an ``(1 +- eps)`` subspace embedding of a d-dimensional subspace with
    probability ``1 - delta`` when, up to constants: Gaussian ``m ~ (d + log(1/delta))/eps^2``;
    SRHT ``m ~ (d + log(n/delta)) log(d/delta) / eps^2`` (Tropp 2011); CountSketch
    ``m ~ d^2/(delta eps^2)`` (Nelson-Nguyen 2013); sparse sign ``m ~ d log d / eps^2`` with
    ``zeta ~ log d`` (Cohen 2016; zeta = 8 works in practice). For the l-infinity guarantee of
    sketch-and-solve regression dense sketches (Gaussian, SRHT) are needed (Song, Woodruff et
    al., "A nearly-optimal bound for fast regression with l-infinity guarantee").

    Examples
    --------
    >>> import numpy as np, sparsketch
    >>> A = np.random.default_rng(0).standard_normal((10000, 20))
    >>> S = sparsketch.SketchOperator("sparse_sign", 200, 10000, seed=1)
    >>> SA = S @ A
    >>> SA.shape
    (200, 20)
    >>> s = np.linalg.svd(SA, compute_uv=False) / np.linalg.svd(A, compute_uv=False)
    >>> bool(0.5 < s.min() and s.max() < 1.5)      # a subspace embedding of range(A)
    True
    """

    __array_ufunc__ = None  # ndarray operators defer to ours

    def __init__(self, kind: str, m: int, n: int, *, seed=None, zeta: int = 8):
        self.kind = _check_kind(kind)
        self.m = check_int(m, "m", minimum=1)
        self.n = check_int(n, "n", minimum=1)
        self.zeta = check_int(zeta, "zeta", minimum=1)
        if self.kind == "srht" and self.m > _padded_pow2(self.n):
            raise ValueError(f"m: an SRHT samples distinct rows of the transform padded to "
                             f"{_padded_pow2(self.n)} rows, so m <= {_padded_pow2(self.n)}; "
                             f"got {self.m}")
        self.seed = normalize_seed(seed)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.m, self.n)

    def __repr__(self) -> str:
        z = f", zeta={min(self.zeta, self.m)}" if self.kind == "sparse_sign" else ""
        return f"SketchOperator({self.kind!r}, m={self.m}, n={self.n}, seed={self.seed}{z})"

    def apply(self, A, *, n_threads=None) -> np.ndarray:
        """``S @ A`` for ``A`` with ``n`` rows: a dense array (1-D or 2-D, any layout) or a
        scipy.sparse matrix/array. Returns a dense ndarray of A's float dtype (float64 for
        integer input) and shape ``(m,)`` or ``(m, d)``."""
        return self._apply(A, resolve_n_threads(n_threads))

    def apply_rows(self, A, start: int, *, n_threads=None) -> np.ndarray:
        """``S[:, start : start + k] @ A`` for a block ``A`` of k consecutive rows (rows
        ``start .. start + k - 1`` of the matrix S applies to): the block's contribution to
        ``S @ A``, for data that arrive in pieces (out of core, Dask). Summed over the blocks
        of any partition of the rows it gives ``S @ A`` up to rounding (the sum is then split
        at the block boundaries); each block's product depends only on (seed, its rows).
        For ``"srht"``, ``start`` must be a multiple of k padded to a power of two.

        >>> import numpy as np, sparsketch
        >>> A = np.random.default_rng(0).standard_normal((1000, 3))
        >>> S = sparsketch.SketchOperator("gaussian", 40, 1000, seed=0)
        >>> parts = S.apply_rows(A[:600], 0) + S.apply_rows(A[600:], 600)
        >>> bool(np.allclose(parts, S @ A))
        True
        """
        start = check_int(start, "start", minimum=0)
        return self._apply(A, resolve_n_threads(n_threads), start=start)

    def _apply(self, A, nt: int, validated: bool = False, start=None) -> np.ndarray:
        """apply() with the thread count already resolved (0: OpenMP's default). ``validated``:
        the caller has already checked A for NaN/Inf (prepare_matrix), so skip that pass.
        ``start``: A is the row block start.. (see apply_rows); None: A has all n rows."""
        if is_sparse(A):
            return self._apply_sparse(A, nt, validated, start)
        return self._apply_dense(as_float_array(A, "A"), nt, validated, start)

    __matmul__ = apply

    def _apply_dense(self, A: np.ndarray, nt: int, validated: bool = False,
                     start=None) -> np.ndarray:
        if A.ndim not in (1, 2):
            raise ValueError(f"A: expected a 1-D or 2-D array, got {A.ndim}-D")
        vec = A.ndim == 1
        A2 = A[:, None] if vec else A
        block = self._check_rows(A2.shape[0], start)
        if not validated:
            _check_finite(A2, "A")
        if any(s < 0 for s in A2.strides):
            A2 = np.ascontiguousarray(A2)
        order = "F" if (A2.flags.f_contiguous and not A2.flags.c_contiguous) else "C"
        out = np.empty((self.m, A2.shape[1]), dtype=A2.dtype, order=order)
        if A2.shape[1]:
            _core.sketch_dense(_KIND_ID[self.kind], self.m, self.seed, self.zeta, A2, out, nt,
                               *block)
        return out[:, 0] if vec else out

    def _apply_dense_multi(self, arrays, nt: int, start=None) -> list:
        """[S @ X for X in arrays] for validated 2-D float arrays of one dtype with n rows (a
        row block at ``start``, see apply_rows), sharing the hash tables of a hash sketch
        (built once)."""
        block = self._check_rows(arrays[0].shape[0], start)
        outs, ins = [], []
        for X in arrays:
            if any(st < 0 for st in X.strides):
                X = np.ascontiguousarray(X)
            order = "F" if (X.flags.f_contiguous and not X.flags.c_contiguous) else "C"
            ins.append(X)
            outs.append(np.empty((self.m, X.shape[1]), dtype=X.dtype, order=order))
        _core.sketch_dense_multi(_KIND_ID[self.kind], self.m, self.seed, self.zeta, ins, outs, nt,
                                 *block)
        return outs

    def _check_rows(self, n_rows, start=None) -> tuple:
        """Checks A's row count; returns the kernels' (col0, n_total) arguments."""
        if start is None:
            if n_rows != self.n:
                raise ValueError(f"A: expected {self.n} rows (the operator is {self.m} x "
                                 f"{self.n}), got {n_rows}")
            return (0, 0)
        if n_rows < 1 or start + n_rows > self.n:
            raise ValueError(f"A: a block of {n_rows} rows at start={start} does not lie within "
                             f"the operator's {self.n} columns")
        return (start, self.n)

    def _apply_sparse(self, A, nt, validated: bool = False, start=None) -> np.ndarray:
        import scipy.sparse as sp
        if A.ndim != 2:
            raise ValueError("A: expected a 2-D sparse matrix")
        block = self._check_rows(A.shape[0], start)
        fmt = A.format
        if self.kind == "srht":  # the transform is dense anyway
            return self._apply_dense(A.toarray(), nt, validated, start)
        if fmt not in ("csr", "csc") or (fmt == "csc" and self.kind == "gaussian"):
            A = sp.csr_array(A) if fmt != "csr" else A
            fmt = "csr"
        values = as_float_array(A.data, "A.data")
        if not validated:
            _check_finite(values, "A")
        indices, indptr = A.indices, A.indptr
        if indices.dtype != indptr.dtype or indices.dtype not in (np.int32, np.int64):
            indices = indices.astype(np.int64)
            indptr = indptr.astype(np.int64)
        out = np.empty((self.m, A.shape[1]), dtype=values.dtype, order="C" if fmt == "csr" else "F")
        if A.shape[1]:
            _core.sketch_sparse(_KIND_ID[self.kind], self.m, self.seed, self.zeta, fmt == "csr",
                                np.ascontiguousarray(indptr), np.ascontiguousarray(indices),
                                np.ascontiguousarray(values), A.shape[0], A.shape[1], out, nt,
                                *block)
        return out

    @property
    def T(self) -> "_Transposed":
        """The transpose, for ``A @ S.T`` (sketching the columns of ``A``)."""
        return _Transposed(self)

    def toarray(self) -> np.ndarray:
        """The explicit m x n matrix (float64), built as ``S @ I``; for small ``n`` only."""
        if self.m * self.n > 50_000_000:
            raise MemoryError(f"toarray: a dense {self.m} x {self.n} matrix is too large")
        try:
            import scipy.sparse as sp
        except ImportError:  # pragma: no cover - scipy is optional
            sp = None
        out = np.empty((self.m, self.n))
        b = 512 if sp is not None else 64
        for j0 in range(0, self.n, b):  # S @ (columns j0.. of the identity), block by block
            w = min(b, self.n - j0)
            if sp is not None:
                E = sp.csc_array((np.ones(w), (np.arange(j0, j0 + w), np.arange(w))),
                                 shape=(self.n, w))
            else:
                E = np.zeros((self.n, w))
                E[np.arange(j0, j0 + w), np.arange(w)] = 1.0
            out[:, j0:j0 + w] = self.apply(E)
        return out


class _Transposed:
    """``S.T``: supports ``A @ S.T == (S @ A.T).T``."""

    __array_ufunc__ = None  # make ndarray @ S.T defer to __rmatmul__

    def __init__(self, op: SketchOperator):
        self.op = op

    @property
    def shape(self):
        return (self.op.n, self.op.m)

    def __rmatmul__(self, A):
        if not is_sparse(A):
            A = as_float_array(A, "A")
            if A.ndim == 1:
                return self.op.apply(A)
        return self.op.apply(A.T).T

    def __repr__(self) -> str:
        return f"{self.op!r}.T"


def sketch(A, m, kind="sparse_sign", *, seed=None, axis=0, zeta=8, n_threads=None,
           return_operator=False):
    r"""Sketch the rows (``axis=0``: ``S @ A``) or columns (``axis=1``: ``A @ S.T``) of ``A``.

    Parameters
    ----------
    A : array_like or scipy.sparse matrix/array, shape (n, d) (or (d, n) with ``axis=1``)
        float32 stays float32, float64 stays float64, integers become float64. NaN/Inf raise.
    m : int
        Sketch size.
    kind : {"sparse_sign", "countsketch", "srht", "gaussian"}, default "sparse_sign"
        See :class:`SketchOperator` for costs and guarantees.
    seed : None, int or numpy.random.Generator
        Same seed, same sketch, whatever the number of threads.
    axis : {0, 1}
        0 sketches the n rows of A, 1 its n columns.
    zeta : int, default 8
        Nonzeros per column of a ``"sparse_sign"`` sketch.
    n_threads : int, optional
        Threads; default :func:`sparsketch.get_num_threads`.
    return_operator : bool, default False
        Also return the :class:`SketchOperator` (whose ``.seed`` replays the sketch).

    Returns
    -------
    SA : ndarray of shape (m, d) (or (d, m) with ``axis=1``); dense, of A's float dtype.
    op : SketchOperator, only with ``return_operator=True``.

    Examples
    --------
    >>> import numpy as np, sparsketch
    >>> A = np.random.default_rng(0).standard_normal((4096, 8))
    >>> sparsketch.sketch(A, 64, "srht", seed=0).shape
    (64, 8)
    >>> sparsketch.sketch(A.T, 64, "countsketch", seed=0, axis=1).shape
    (8, 64)
    """
    if not is_sparse(A):
        A = as_float_array(A, "A")
        if A.ndim != 2:
            raise ValueError(f"A: expected a 2-D array, got {A.ndim}-D")
    ax = normalize_axis(axis, 2)
    n = A.shape[ax]
    if n < 1:
        raise ValueError(f"A: nothing to sketch along axis {axis} (length 0)")
    op = SketchOperator(kind, m, n, seed=seed, zeta=zeta)
    SA = op.apply(A if ax == 0 else A.T, n_threads=n_threads)
    if ax == 1:
        SA = SA.T
    return (SA, op) if return_operator else SA
