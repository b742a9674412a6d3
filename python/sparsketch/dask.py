"""Scale-out on Dask: sketches, least squares, leverage scores, row sampling and l_p regression
of tall matrices held as Dask arrays chunked by rows.

Install with ``pip install "sparsketch[dask]"`` (``import sparsketch`` itself never needs
Dask). Each function takes a :class:`dask.array.Array` of shape (n, d) chunked along the rows,
with dense (NumPy) or scipy.sparse chunks, and runs the same C++ kernels as the in-memory
functions on the workers: each pass over A sends one small task per chunk, and only small
results (d x d Gram matrices, m x d sketches, or one number per row) come back. The
computation runs on whatever Dask scheduler is active: a ``dask.distributed.Client``, the
threaded scheduler by default, or ``dask.config.set(scheduler="synchronous")``.

Reproducibility
---------------
The random numbers that touch row i depend only on (seed, i) (the counter-based generators of
:class:`sparsketch.SketchOperator` and :func:`sparsketch.sample_rows`), and every sum over
rows is taken in one fixed order: the rows are cut into tiles of ``ROW_TILE`` = 65536 rows at
fixed positions (0, 65536, 131072, ...), each tile's partial result is computed on its own,
and the partial results are added along a fixed binary tree over the tile indices. So **the
result is bitwise identical for any chunking and any number of workers or threads**, and
repeated runs agree exactly.

Chunks whose boundaries are not multiples of ``ROW_TILE`` still work: a task then also reads
the end of the previous chunk (its rows up to the next tile boundary), which moves those rows
between workers on every pass; chunk sizes that are multiples of ``ROW_TILE`` avoid that. An
array chunked along the columns is re-chunked to one column chunk (whole rows per chunk),
which moves data once per pass; chunk by rows only to avoid it.

Equality with the in-memory functions: with at most ``ROW_TILE`` rows the passes are the
in-memory passes, bitwise. With more rows the in-memory kernels add the rows in another order,
so :func:`sketch` equals :func:`sparsketch.sketch` to rounding (relative differences of order
``sqrt(n) eps``), and the scores, weights and solutions derived from it agree to rounding as
well (random decisions such as a row sample are then the same unless a probability lies within
rounding of its uniform draw). :func:`lstsq` uses its own few-pass scheme (below) and agrees
with :func:`sparsketch.lstsq` and LAPACK to their accuracy.

Vectors of length n (scores, probabilities, weights) are returned as NumPy arrays on the
client: 8 n bytes, d times less than A.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ._random import normalize_seed
from ._validation import (as_float_array, check_int, is_sparse, prepare_matrix,
                          resolve_n_threads)

__all__ = ["ROW_TILE", "sketch", "lstsq", "leverage_scores", "sample_rows", "lp_regression",
           "take_rows"]

ROW_TILE = 1 << 16
_FAN_IN = 8  # unit results merged per task of the reduction tree


def _dask_array():
    try:
        import dask.array as da
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("sparsketch.dask needs Dask: pip install 'sparsketch[dask]'") from e
    return da


def is_dask_array(x) -> bool:
    """Whether x is a dask.array.Array (without importing Dask when it is not loaded)."""
    import sys
    mod = sys.modules.get("dask.array")
    return mod is not None and isinstance(x, mod.Array)


# --------------------------------------------------------------------------------------------
# The fixed reduction tree. Tile t covers rows [t ROW_TILE, (t + 1) ROW_TILE). Node (l, k)
# covers tiles [k 2^l, (k + 1) 2^l) and its value is left child + right child, or the left
# child alone when the right one covers no tile (k 2^l + 2^(l-1) >= n_tiles). Values are tuples
# whose entries are combined by "add" or "max" (None stays None).


def _combine(a, b, ops):
    out = []
    for x, y, op in zip(a, b, ops):
        if x is None:
            out.append(None)
        elif op == "add":
            out.append(x + y)
        else:
            out.append(np.maximum(x, y) if isinstance(x, np.ndarray) else max(x, y))
    return tuple(out)


def _merge(nodes: dict, n_tiles: int, ops) -> dict:
    """Combines sibling nodes as far as the ones present allow (in place; returns nodes)."""
    level = 0
    while (1 << level) < n_tiles:
        for k in sorted(k for (lv, k) in nodes if lv == level and k % 2 == 0):
            left = nodes[(level, k)]
            if (level, k + 1) in nodes:
                value = _combine(left, nodes.pop((level, k + 1)), ops)
            elif (k + 1) << level >= n_tiles:
                value = left
            else:
                continue
            del nodes[(level, k)]
            nodes[(level + 1, k // 2)] = value
        level += 1
    return nodes


def _merge_many(n_tiles, ops, *parts):
    nodes = {}
    for p in parts:
        nodes.update(p)
    return _merge(nodes, n_tiles, ops)


# --------------------------------------------------------------------------------------------
# Worker side: one task per unit (a run of whole tiles), the tiles processed one by one.


def _concat_rows(parts, slices):
    """Rows slices[i] of parts[i], stacked (dense or CSR)."""
    pieces = [p[a:b] for p, (a, b) in zip(parts, slices)]
    if is_sparse(pieces[0]):
        import scipy.sparse as sp
        return sp.vstack([sp.csr_array(q) for q in pieces], format="csr")
    return np.concatenate([np.asarray(q) for q in pieces], axis=0)


def _unit_matrix(data, dtype, validate: bool, where: str):
    """A unit's rows as the C++ passes want them: C-contiguous float or canonical CSR."""
    try:
        A = prepare_matrix(data, check_finite=validate)
        if is_sparse(A):
            return A.astype(dtype) if A.data.dtype != dtype else A
        return np.ascontiguousarray(A, dtype=dtype)
    except (ValueError, TypeError) as e:
        raise type(e)(f"{e} (in rows {where})") from None


def _unit_vector(v, dtype, name: str, where: str):
    if v is None:
        return None
    v = np.ascontiguousarray(as_float_array(v, name), dtype=dtype)
    if not np.isfinite(v).all():
        raise ValueError(f"{name}: contains NaN or Inf (in rows {where})")
    return v


def _tile_pass(op, At, t0, n, params, nt, vecs):
    """(row output or None, reduced value or None) of one tile of rows [t0, t0 + len(At))."""
    from .leverage import _Design
    D = _Design(At, nt)
    if op == "sketch":
        from .sketch import SketchOperator
        kind, m, seed, zeta = params
        s = vecs[0]
        S = SketchOperator(kind, m, n, seed=seed, zeta=zeta)
        return None, (S._apply(D.scaled(s), nt, validated=True, start=t0).astype(np.float64),)
    if op == "gram":
        P, upper = params
        w, B = vecs
        return None, D.gram(P, w, B, upper=upper)
    if op == "row_norms":
        M, f32 = params
        return D.row_norms(M, vecs[0], float32_product=f32), None
    if op == "lewis":
        M, p, eta = params
        w_out, G, change = D.lewis_step(M, vecs[0], p, eta)
        return w_out, (G, float(change))
    if op == "matvec":
        x, = params
        return D.matvec(x), None
    if op == "residual":
        from .lstsq import _Operator
        X, = params
        G, rr, fro = _Operator(At, nt).residual_gradient(vecs[0], X, want_frob=True)
        return None, (G.astype(np.float64), np.asarray(rr, dtype=np.float64), float(fro))
    raise AssertionError(op)


def _unit_pass(op, u0, u1, n, dtype, validate, params, nt, vec_names, data, *vecs):
    """Runs one pass over the unit of rows [u0, u1): (row outputs, canonical tree nodes)."""
    where = f"{u0}:{u1}"
    A = _unit_matrix(data, dtype, validate, where)
    if A.shape[0] != u1 - u0:
        raise ValueError(f"A: a chunk holds {A.shape[0]} rows where the array's chunks say "
                         f"{u1 - u0} (rows {where})")
    vecs = [_unit_vector(v, dtype if name == "B" else np.float64, name, where)
            for v, name in zip(vecs, vec_names)]
    n_tiles = -(-n // ROW_TILE)
    rows, nodes = [], {}
    for t0 in range(u0, u1, ROW_TILE):
        a, b = t0 - u0, min(t0 + ROW_TILE, u1) - u0
        out, value = _tile_pass(op, A[a:b], t0, n, params, nt,
                                [None if v is None else v[a:b] for v in vecs])
        if out is not None:
            rows.append(out)
        if value is not None:
            nodes[(0, t0 // ROW_TILE)] = value
    ops = _REDUCE_OPS.get(op)
    return (np.concatenate(rows) if rows else None), (_merge(nodes, n_tiles, ops) if ops else {})


_REDUCE_OPS = {"sketch": ("add",), "gram": ("add", "add"), "lewis": ("add", "max"),
               "residual": ("add", "add", "add")}
_ROW_OPS = ("row_norms", "lewis", "matvec")


def _select_rows(data, local):
    if is_sparse(data):
        import scipy.sparse as sp
        return sp.csr_array(data)[local]
    return np.asarray(data)[local]


# --------------------------------------------------------------------------------------------
# Client side.


class _Rows:
    """A row-chunked Dask array cut into units: runs of whole tiles, each assembled from the
    chunks that overlap it (a chunk itself when it is a whole unit)."""

    def __init__(self, X, n: int):
        from dask import delayed
        bounds = np.concatenate([[0], np.cumsum(X.chunks[0])]).astype(np.int64)
        cuts = sorted({0, n} | {int(c) // ROW_TILE * ROW_TILE for c in bounds[1:-1]})
        self.units = [(a, b) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]
        blocks = X.to_delayed().reshape(-1) if X.ndim == 1 else X.to_delayed()[:, 0]
        self.data = []
        for u0, u1 in self.units:
            first = int(np.searchsorted(bounds, u0, side="right")) - 1
            last = int(np.searchsorted(bounds, u1, side="left"))
            if bounds[first] == u0 and bounds[last] == u1 and last == first + 1:
                self.data.append(blocks[first])
                continue
            parts, slices = [], []
            for c in range(first, last):
                a, b = max(u0, bounds[c]), min(u1, bounds[c + 1])
                parts.append(blocks[c])
                slices.append((int(a - bounds[c]), int(b - bounds[c])))
            self.data.append(delayed(_concat_rows, pure=True)(parts, slices))


def _check_rows_array(A, name: str, ndim=(2,)):
    """A Dask array with known chunk sizes, chunked by rows only."""
    da = _dask_array()
    if not isinstance(A, da.Array):
        raise TypeError(f"{name}: expected a dask.array.Array, got {type(A).__name__} (for "
                        f"in-memory arrays use the functions of sparsketch itself)")
    if A.ndim not in ndim:
        raise ValueError(f"{name}: expected a {' or '.join(f'{k}-D' for k in ndim)} array, "
                         f"got {A.ndim}-D")
    if any(math.isnan(c) for cs in A.chunks for c in cs):
        raise ValueError(f"{name}: unknown chunk sizes; call {name}.compute_chunk_sizes() first")
    if A.dtype.kind not in "fiub" or A.dtype.itemsize > 8 or A.dtype == np.float16:
        raise TypeError(f"{name}: expected a real float or integer dtype, got {A.dtype}")
    if A.ndim == 2 and len(A.chunks[1]) > 1:
        A = A.rechunk({1: -1})  # whole rows per chunk (documented: moves data every pass)
    return A


def _float_dtype(*dtypes):
    dt = np.result_type(*dtypes)
    return dt if dt in (np.float32, np.float64) else np.dtype(np.float64)


class _DaskDesign:
    """The passes over a row-chunked Dask array that the in-memory algorithms use (the same
    methods as leverage._Design), each one Dask computation; ``passes`` counts them."""

    def __init__(self, A, nt: int, *, dtype=None):
        self.A = _check_rows_array(A, "A")
        self.n, self.d = (int(s) for s in self.A.shape)
        if self.n == 0 or self.d == 0:
            raise ValueError(f"A: empty matrix of shape {self.A.shape}")
        self.sparse = is_sparse(getattr(self.A, "_meta", None))
        self.dtype = np.dtype(dtype) if dtype is not None else _float_dtype(self.A.dtype)
        self.nt = nt
        self.rows = _Rows(self.A, self.n)
        self.passes = 0
        self._validated = False

    @property
    def small(self) -> bool:
        return self.n <= max(4 * self.d, 64) or self.n * self.d <= 20_000

    # Row-aligned arguments: NumPy arrays are sliced per unit on the client; Dask arrays are
    # re-chunked like A and assembled per unit like A.
    def _aligned(self, v, name):
        if v is None:
            return [None] * len(self.rows.units)
        if is_dask_array(v):
            if v.shape[0] != self.n:
                raise ValueError(f"{name}: expected {self.n} rows, got {v.shape[0]}")
            v = v.rechunk({0: self.A.chunks[0]} if v.ndim == 1 else
                          {0: self.A.chunks[0], 1: -1})
            return _Rows(v, self.n).data
        v = np.asarray(v)
        return [v[a:b] for a, b in self.rows.units]

    def _run(self, op, params=(), vecs=(), names=()):
        """One pass: (row outputs concatenated or None, reduced value or None)."""
        import dask
        from dask import delayed
        vec_parts = [self._aligned(v, nm) for v, nm in zip(vecs, names)]
        n_tiles = -(-self.n // ROW_TILE)
        tasks = [delayed(_unit_pass, pure=False)(op, u0, u1, self.n, self.dtype,
                                                 not self._validated, params, self.nt, names,
                                                 self.rows.data[i], *[vp[i] for vp in vec_parts])
                 for i, (u0, u1) in enumerate(self.rows.units)]
        rows = [t[0] for t in tasks]
        ops = _REDUCE_OPS.get(op)
        root = None
        if ops is not None:
            level = [t[1] for t in tasks]
            while len(level) > 1:
                level = [delayed(_merge_many, pure=False)(n_tiles, ops, *level[i:i + _FAN_IN])
                         for i in range(0, len(level), _FAN_IN)]
            root = level[0]
        rows, root = dask.compute(rows if op in _ROW_OPS else [], root)
        self.passes += 1
        self._validated = True
        out = np.concatenate(rows) if rows and rows[0] is not None else None
        value = None
        if root is not None:
            (key, value), = root.items()
        return out, value

    def sketch(self, kind, m, seed, s=None, zeta=8) -> np.ndarray:
        """S diag(s) A (m x d, float64)."""
        _, (SA,) = self._run("sketch", (kind, m, seed, zeta), (s,), ("s",))
        return SA

    def gram(self, P=None, w=None, B=None, upper=False):
        if B is not None and not is_dask_array(B):
            B = np.asarray(B)
        if B is not None and B.ndim == 1:
            B = B[:, None]
        P = None if P is None else np.ascontiguousarray(P, dtype=self.dtype)
        _, (G, C) = self._run("gram", (P, upper), (w, B), ("w", "B"))
        return G, C

    def row_norms(self, M, w=None, float32_product=False) -> np.ndarray:
        M = np.ascontiguousarray(M, dtype=self.dtype)
        out, _ = self._run("row_norms", (M, float32_product), (w,), ("w",))
        return out

    def lewis_step(self, M, w, p, eta):
        M = np.ascontiguousarray(M, dtype=self.dtype)
        w_out, (G, change) = self._run("lewis", (M, p, eta), (w,), ("w",))
        return w_out, G, change

    def matvec(self, x) -> np.ndarray:
        out, _ = self._run("matvec", (np.asarray(x, dtype=self.dtype),))
        return out

    def residual_gradient(self, B, X):
        """(A^T (B - A X), ||B - A X||^2 per column, ||A||_F^2), all float64."""
        _, (G, rr, fro) = self._run("residual", (np.asfortranarray(X, dtype=self.dtype),), (B,),
                                    ("B",))
        return G, rr, fro

    def dense(self) -> np.ndarray:
        """A on the client, checked (small problems only)."""
        import dask
        from dask import delayed
        parts = dask.compute(*[delayed(_unit_matrix, pure=True)(x, self.dtype, True, f"{a}:{b}")
                               for x, (a, b) in zip(self.rows.data, self.rows.units)])
        self.passes += 1
        return np.concatenate([p.toarray() if is_sparse(p) else p for p in parts], axis=0)

    def take(self, idx):
        return take_rows(self.A, idx)

    def with_column(self, b) -> "_DaskDesign":
        da = _dask_array()
        bcol = da.from_array(np.asarray(b)[:, None], chunks=(self.A.chunks[0], 1))
        if self.sparse:
            import scipy.sparse as sp
            Ab = da.map_blocks(lambda a, c: sp.csr_array(sp.hstack([sp.csr_array(a), c])),
                               self.A, bcol, dtype=self.A.dtype,
                               chunks=(self.A.chunks[0], (self.d + 1,)),
                               meta=sp.csr_matrix((0, 0), dtype=self.A.dtype))
        else:
            Ab = da.concatenate([self.A.astype(self.dtype), bcol.astype(self.dtype)], axis=1)
            Ab = Ab.rechunk({1: -1})
        return _DaskDesign(Ab, self.nt, dtype=self.dtype)


def take_rows(A, indices):
    """Rows ``indices`` of a row-chunked Dask array, gathered on the client (NumPy array, or
    CSR for sparse chunks); repeats allowed. Only the chunks holding a selected row are read.

    >>> import numpy as np, dask.array as da, sparsketch.dask
    >>> X = da.from_array(np.arange(20.0).reshape(10, 2), chunks=(4, 2))
    >>> sparsketch.dask.take_rows(X, [1, 9, 9]).tolist()
    [[2.0, 3.0], [18.0, 19.0], [18.0, 19.0]]
    """
    import dask
    from dask import delayed
    A = _check_rows_array(A, "A", ndim=(1, 2))
    idx = np.asarray(indices)
    if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
        raise TypeError("indices: expected a 1-D array of integers")
    n = A.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"indices: out of range for {n} rows")
    order = np.argsort(idx, kind="stable")
    sidx = idx[order]
    bounds = np.concatenate([[0], np.cumsum(A.chunks[0])])
    blocks = A.to_delayed().reshape(-1) if A.ndim == 1 else A.to_delayed()[:, 0]
    cut = np.searchsorted(sidx, bounds)
    tasks = [delayed(_select_rows, pure=True)(blocks[c], sidx[cut[c]:cut[c + 1]] - bounds[c])
             for c in range(len(blocks)) if cut[c + 1] > cut[c]]
    parts = dask.compute(*tasks)
    if not parts:
        meta = getattr(A, "_meta", None)
        if is_sparse(meta):
            import scipy.sparse as sp
            return sp.csr_array((0,) + A.shape[1:], dtype=A.dtype)
        return np.zeros((0,) + A.shape[1:], dtype=A.dtype)
    if is_sparse(parts[0]):
        import scipy.sparse as sp
        out = sp.vstack([sp.csr_array(p) for p in parts], format="csr")
    else:
        out = np.concatenate(parts, axis=0)
    inv = np.empty_like(order)
    inv[order] = np.arange(order.size)
    return out[inv]


# --------------------------------------------------------------------------------------------
# Public functions.


def _rhs(b, n: int, name="b", ndim=(1, 2)):
    """b as a Dask array (kept distributed) or a float NumPy array, checked against n rows."""
    if is_dask_array(b):
        b = _check_rows_array(b, name, ndim=ndim)
    else:
        b = as_float_array(b, name)
        if b.ndim not in ndim:
            raise ValueError(f"{name}: expected a {' or '.join(f'{k}-D' for k in ndim)} array, "
                             f"got {b.ndim}-D")
        if not np.isfinite(b).all():
            raise ValueError(f"{name}: contains NaN or Inf")
    if b.shape[0] != n:
        raise ValueError(f"{name}: expected {n} rows (A has {n}), got {b.shape[0]}")
    return b


def sketch(A, m, kind="sparse_sign", *, seed=None, zeta=8, n_threads=None,
           return_operator=False):
    r"""``S @ A`` for a row-chunked Dask array A of shape (n, d), in one pass over A.

    The same operator as :func:`sparsketch.sketch` (``axis=0``): the entries of S that touch
    row i depend only on (seed, i), and the tile partial sums are added in a fixed order, so
    the result is bitwise identical for any chunking and any number of workers (see the
    module's notes; with at most ``ROW_TILE`` rows it is bitwise the in-memory result).

    Parameters
    ----------
    A : dask.array.Array, shape (n, d)
        Dense or scipy.sparse chunks; float32 stays float32, integers become float64.
    m : int
        Sketch size.
    kind : {"sparse_sign", "countsketch", "srht", "gaussian"}
        See :class:`sparsketch.SketchOperator`.
    seed : None, int or numpy.random.Generator
    zeta : int, default 8
        Nonzeros per column of a sparse sign sketch.
    n_threads : int, optional
        Threads of each task's C++ kernels (default: OpenMP's default on the worker, which
        ``dask.distributed`` sets to 1 thread per worker thread).
    return_operator : bool, default False
        Also return the :class:`sparsketch.SketchOperator` (``.seed`` replays it).

    Returns
    -------
    ndarray of shape (m, d), A's float dtype (and the operator with ``return_operator``).

    Examples
    --------
    >>> import numpy as np, dask.array as da, sparsketch, sparsketch.dask
    >>> X = np.random.default_rng(0).standard_normal((3000, 4))
    >>> A = da.from_array(X, chunks=(700, 4))
    >>> SA = sparsketch.dask.sketch(A, 50, seed=1)
    >>> bool(np.array_equal(SA, sparsketch.sketch(X, 50, seed=1)))   # n <= ROW_TILE: bitwise
    True
    """
    from .sketch import SketchOperator
    D = _DaskDesign(A, resolve_n_threads(n_threads))
    S = SketchOperator(kind, check_int(m, "m", minimum=1), D.n, seed=seed, zeta=zeta)
    SA = D.sketch(S.kind, S.m, S.seed, zeta=S.zeta).astype(D.dtype)
    return (SA, S) if return_operator else SA


def _orthonormalize(D: _DaskDesign, P, upper, G, C, max_rounds=3):
    """CholeskyQR of A P from its Gram matrix G (one more pass per extra round): returns
    (P', upper', C') with A P' orthonormal to rounding and C' = P'^T A^T B from C = P^T A^T B.
    An upper triangular P stays upper triangular; numerically dependent columns are dropped
    (P' is then dense), as in leverage._cholqr."""
    from .leverage import _cholesky_step
    for rnd in range(max_rounds):
        if rnd > 0:
            G, _ = D.gram(P, upper=upper)
        P, C, cond = _cholesky_step(G, P, C, D.dtype)
        upper = upper and math.isfinite(cond)
        if upper:
            P = np.triu(P)
        if cond < 100.0:  # orthogonality error ~ eps cond(A P)^2 <= 1e4 eps
            break
    return P, upper, C


def _triangular_preconditioner(D: _DaskDesign, kind, m, seed):
    """(P, upper, rank) from a sketch S A (one pass): P = R^-1 (upper triangular, so A P is a
    TRMM) from a QR of S A when R is numerically of full rank, else V_r diag(1/s_r) from an SVD
    of R (rank r; dense). kappa(A P) is the sketch's distortion bound either way."""
    import scipy.linalg as sla
    from .leverage import _rank_tol
    SA = D.sketch(kind, m, seed)
    R = sla.qr(SA, mode="r", check_finite=False)[0][:D.d] if m >= D.d else SA
    U, sv, Vt = np.linalg.svd(R, full_matrices=False)
    r = int(np.sum(sv > _rank_tol(sv, (D.n, D.d), D.dtype)))
    if r == D.d and R.shape[0] == D.d:
        return sla.solve_triangular(R, np.eye(D.d), check_finite=False), True, r
    return Vt[:r].T / sv[:r], False, r


def lstsq(A, b, *, sketch="sparse_sign", sketch_size=None, rtol=None, max_passes=10, seed=None,
          n_threads=None):
    r"""Least squares ``min ||A x - b||_2`` for a tall row-chunked Dask array, to LAPACK's
    accuracy in a few passes over A.

    The passes (each one Dask computation reading every chunk once):

    1. sketch ``S A`` (sparse sign, ``m = 4 d + 8`` rows); its R factor gives ``P = R^-1``
       (upper triangular) with ``kappa(A P) <= ~3`` (an SVD of R gives the numerical rank r
       and, when ``r < d``, a d x r P instead);
    2. the Gram matrix ``(A P)^T (A P)`` and ``(A P)^T b``: CholeskyQR of the
       well-conditioned ``A P`` (randomized CholeskyQR) makes ``A P`` orthonormal to rounding
       and gives ``x = P (A P)^T b``, the least-squares solution up to the accuracy of a
       backward-stable QR;
    3. the residual ``r = b - A x``, ``A^T r`` and ``||A||_F``: the stopping test (LSQR's,
       as in :func:`sparsketch.lstsq`); while it fails, an iterative-refinement step
       ``x += P P^T A^T r`` and one more such pass.

    So a well-conditioned problem takes 3 passes; each refinement pass reduces the error by a
    factor about ``eps kappa(A)``. ``result.passes`` counts all passes (the sketch included).
    Rank-deficient A gets the minimum-norm solution (x stays in the row space of S A).

    Parameters
    ----------
    A : dask.array.Array, shape (n, d), n >= d
        Row-chunked; dense or scipy.sparse chunks.
    b : dask.array.Array or array_like, shape (n,) or (n, k)
        Right-hand side(s); a Dask array is re-chunked like A's rows.
    sketch : {"sparse_sign", "countsketch", "srht", "gaussian"}
        The preconditioner's sketch.
    sketch_size : int, optional
        Rows of the sketch (>= d); default ``4 d + 8``.
    rtol : float, optional
        Stop when ``||A^T r|| <= rtol ||A||_F ||r||`` or ``||r|| <= rtol (||A||_F ||x|| +
        ||b||)``; default ``10 sqrt(n) eps``, the rounding floor (as :func:`sparsketch.lstsq`).
    max_passes : int, default 10
        Most passes over A in all.
    seed : None, int or numpy.random.Generator
    n_threads : int, optional
        Threads of each task's kernels (see :func:`sketch`).

    Returns
    -------
    sparsketch.LstsqResult
        ``x``, ``residual_norm``, ``passes``, ``iterations`` (refinement steps),
        ``converged``, ``rank``, ``gradient_norm``, ``times``; ``method`` is
        ``"cholesky_qr"``.

    Examples
    --------
    >>> import numpy as np, dask.array as da, sparsketch.dask
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((20000, 30)); y = rng.standard_normal(20000)
    >>> res = sparsketch.dask.lstsq(da.from_array(X, chunks=(5000, 30)), y, seed=0)
    >>> res.converged, res.passes
    (True, 3)
    >>> bool(np.allclose(res.x, np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-10, atol=1e-12))
    True
    """
    from .lstsq import _check_sketch_size, _resolve_rtol, _result, _stop_test
    from .sketch import SKETCH_KINDS
    t_start = time.perf_counter()
    if sketch not in SKETCH_KINDS:
        raise ValueError(f"sketch: expected one of {SKETCH_KINDS}, got {sketch!r}")
    nt = resolve_n_threads(n_threads)
    A = _check_rows_array(A, "A")
    b = _rhs(b, A.shape[0])
    D = _DaskDesign(A, nt, dtype=_float_dtype(A.dtype, b.dtype))
    n, d = D.n, D.d
    if n < d:
        raise ValueError(f"A: expected a tall matrix (n >= d), got {n} x {d}")
    vec = b.ndim == 1
    B = b[:, None] if vec else b
    if B.shape[1] == 0:
        raise ValueError("b: no right-hand sides (shape (n, 0))")
    m = 4 * d + 8 if sketch_size is None else _check_sketch_size(sketch_size, d)
    if sketch == "srht":
        m = min(m, 1 << max(0, (n - 1).bit_length()))
    rtol = _resolve_rtol(rtol, n, D.dtype)
    max_passes = check_int(max_passes, "max_passes", minimum=3)
    seed = normalize_seed(seed)
    times = {}
    t0 = time.perf_counter()
    P, upper, rank = _triangular_preconditioner(D, sketch, m, seed)
    times["sketch"] = time.perf_counter() - t0
    if rank == 0:
        raise ValueError("A: the matrix is numerically zero")
    t0 = time.perf_counter()
    G, C = D.gram(P, None, B, upper=upper)
    P, upper, C = _orthonormalize(D, P, upper, G, C)
    x = P @ C
    times["cholesky_qr"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    steps = 0
    best = None
    bnorm = _bnorm(B)
    while True:
        g, rr, fro = D.residual_gradient(B, x)
        gnorm = np.linalg.norm(g, axis=0)
        if (_stop_test(g, rr, fro, x, bnorm, rtol).all() or D.passes >= max_passes
                or (best is not None and np.all(gnorm >= 0.5 * best))):
            break
        best = gnorm if best is None else np.minimum(best, gnorm)
        x = x + P @ (P.T @ g)
        steps += 1
    times["refine"] = time.perf_counter() - t0
    return _result(x.astype(D.dtype), g, rr, fro, bnorm, vec, rtol, steps, D.passes, rank,
                   "cholesky_qr", sketch, m, seed, times, t_start)


def _bnorm(B):
    """Column norms of B (for a Dask array, one reduction over B alone)."""
    if is_dask_array(B):
        import dask
        (ss,) = dask.compute((B.astype(np.float64) ** 2).sum(axis=0))
        return np.sqrt(np.asarray(ss))
    return np.linalg.norm(np.asarray(B, dtype=np.float64), axis=0)


def leverage_scores(A, *, method="auto", ridge=0.0, sketch="sparse_sign", sketch_size=None,
                    jl_dim=None, seed=None, n_threads=None):
    r"""Leverage scores of the rows of a row-chunked Dask array: :func:`sparsketch.leverage_scores`
    with each pass over A run on the workers.

    ``method="approx"`` takes two passes (sketch, then the scores ``||a_i P G||^2``);
    ``"exact"`` three (sketch, one CholeskyQR Gram pass, the scores; a second Gram pass only
    if the first Cholesky factor is ill-conditioned); ``"auto"`` is "exact" when
    ``n d^2 <= 2e9``. Parameters as in :func:`sparsketch.leverage_scores`.

    Returns
    -------
    ndarray of shape (n,) (on the client), A's float dtype.

    Examples
    --------
    >>> import numpy as np, dask.array as da, sparsketch, sparsketch.dask
    >>> X = np.random.default_rng(0).standard_normal((5000, 10))
    >>> tau = sparsketch.dask.leverage_scores(da.from_array(X, chunks=1000), method="exact")
    >>> bool(np.allclose(tau, np.sum(np.linalg.qr(X)[0] ** 2, axis=1)))
    True
    """
    from .leverage import _leverage
    D = _DaskDesign(A, resolve_n_threads(n_threads))
    return _leverage(D, method=method, ridge=ridge, sketch=sketch, sketch_size=sketch_size,
                     jl_dim=jl_dim, seed=seed)


def sample_rows(A, m, *, scores="leverage", p=2, replace=False, method="auto", seed=None,
                n_threads=None):
    r"""Importance sampling of the rows of a row-chunked Dask array:
    :func:`sparsketch.sample_rows` with the scores' passes run on the workers.

    The decision for row i depends only on (seed, i), so the sample does not depend on the
    chunking. ``scores`` may be any kind of :func:`sparsketch.sample_rows` except
    ``"volume"`` (sequential over the rows), or an array (NumPy or Dask) of n scores.
    ``result.apply(A, b)`` accepts Dask arrays and gathers the sampled rows (see
    :func:`take_rows`).

    Returns
    -------
    sparsketch.RowSample

    Examples
    --------
    >>> import numpy as np, dask.array as da, sparsketch, sparsketch.dask
    >>> rng = np.random.default_rng(0)
    >>> A = da.from_array(rng.standard_normal((20000, 10)), chunks=(4096, 10))
    >>> b = da.from_array(rng.standard_normal(20000), chunks=4096)
    >>> s = sparsketch.dask.sample_rows(A, 2000, scores="leverage", seed=0)
    >>> SA, Sb = s.apply(A, b)           # NumPy arrays on the client
    >>> SA.shape[1], bool(1500 < SA.shape[0] < 2500)
    (10, True)
    """
    from .sampling import _sample
    if isinstance(scores, str) and scores == "volume":
        raise ValueError("scores: 'volume' sampling is sequential over the rows and is not "
                         "available on Dask arrays; use 'leverage'")
    if is_dask_array(scores):
        import dask
        (scores,) = dask.compute(scores)
    D = _DaskDesign(A, resolve_n_threads(n_threads))
    return _sample(D, m, scores=scores, p=p, replace=replace, method=method, seed=seed)


def lp_regression(A, b, p=1, *, method="auto", sample_size=None, tol=None, polish=False,
                  maxiter=100, seed=None, n_threads=None):
    r"""l_p regression ``min ||A x - b||_p`` for a row-chunked Dask array:
    :func:`sparsketch.lp_regression` with the scores' passes on the workers, the coreset
    gathered on the client and solved there (IRLS). ``method="full"`` and ``polish=True``
    run IRLS on the full data, one pass over A per iteration (plus one per objective
    evaluation). p = 2 hands over to :func:`lstsq`. Parameters as in
    :func:`sparsketch.lp_regression`; b (n values) is gathered on the client.

    Returns
    -------
    sparsketch.LpRegressionResult

    Examples
    --------
    >>> import numpy as np, dask.array as da, sparsketch.dask
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50000, 5)); x0 = rng.standard_normal(5)
    >>> y = X @ x0 + rng.laplace(size=50000); y[:500] += 100.0
    >>> res = sparsketch.dask.lp_regression(da.from_array(X, chunks=(10000, 5)), y, p=1,
    ...                                     seed=0)
    >>> bool(np.abs(res.x - x0).max() < 0.1)
    True
    """
    from .lp_regression import _from_lstsq, _lp_options, _lp_solve
    t_start = time.perf_counter()
    opts = _lp_options(p, method, sample_size, tol, polish, maxiter)
    A = _check_rows_array(A, "A")
    b = _rhs(b, A.shape[0], ndim=(1,))
    seed = normalize_seed(seed)
    if opts["p"] == 2.0:
        return _from_lstsq(lstsq(A, b, seed=seed, n_threads=n_threads), A.shape[0], seed,
                           t_start)
    if is_dask_array(b):
        import dask
        (b,) = dask.compute(b)
        b = _rhs(b, A.shape[0], ndim=(1,))
    D = _DaskDesign(A, resolve_n_threads(n_threads), dtype=_float_dtype(A.dtype, b.dtype))
    return _lp_solve(D, b.astype(D.dtype, copy=False), seed=seed, t_start=t_start, **opts)
