"""Sparse x sparse matrix products (SpGEMM): plain, masked and top-k."""

from __future__ import annotations

import os

import numpy as np

from . import _core
from ._validation import check_bool, check_float, check_int, is_sparse, resolve_n_threads

__all__ = ["spgemm", "spgemm_topk"]

_INT32_MAX = np.iinfo(np.int32).max


def _memory_limit(need: float) -> float:
    """The byte limit for an output of `need` bytes (called by the C++ binding with the one-pass
    upper bound, then with the exact size after a symbolic pass): unchecked (0) below 64 MiB,
    else the available memory (reading /proc/meminfo costs ~20 us)."""
    return 0.0 if need < (64 << 20) else _available_bytes()


def _available_bytes() -> float:
    """Memory the product may use: MemAvailable (Linux), else physical memory; 0 = unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0.0


def _as_csr(X, name: str):
    """X as a scipy CSR (no copy when it already is one), structure validated in C++."""
    if not is_sparse(X):
        raise TypeError(f"{name}: expected a scipy.sparse matrix or array, got "
                        f"{type(X).__name__} (wrap dense data with scipy.sparse.csr_array)")
    if X.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D sparse matrix, got {X.ndim}-D")
    C = X.tocsr()
    if C.dtype.kind == "c":
        raise TypeError(f"{name}: complex dtype {C.dtype} is not supported")
    if C.dtype.kind not in "biuf" or (C.dtype.kind == "f" and C.dtype.itemsize not in (4, 8)):
        raise TypeError(f"{name}: dtype {C.dtype} is not supported; use float32 or float64")
    if C.indices.dtype != C.indptr.dtype or C.indices.dtype not in (np.int32, np.int64):
        C = C.copy()
        C.indices, C.indptr = C.indices.astype(np.int64), C.indptr.astype(np.int64)
    _core.validate_csr(C.indptr, C.indices, C.shape[0], C.shape[1], False, name)
    return C


def _index_dtype(*mats):
    for M in mats:
        if M is None:
            continue
        if max(M.shape) > _INT32_MAX or M.nnz > _INT32_MAX:
            return np.int64
    return np.int32


def _csr_tuple(C, vdtype, idtype):
    return (np.ascontiguousarray(C.indptr, dtype=idtype),
            np.ascontiguousarray(C.indices, dtype=idtype),
            np.ascontiguousarray(C.data, dtype=vdtype), C.shape[0], C.shape[1])


_TEMPLATES: dict = {}


def _template(cls):
    """A small canonical instance of `cls` built by its public constructor, whose attributes a
    product result copies (`_wrap_csr`); None when that shortcut does not reproduce the public
    constructor on this SciPy (checked once per class)."""
    if cls in _TEMPLATES:
        return _TEMPLATES[cls]
    tpl = None
    try:
        data, indices = np.array([1.0, 2.0]), np.array([0, 2], np.int32)
        indptr, shape = np.array([0, 1, 2], np.int32), (2, 3)
        cand = cls((data.copy(), indices.copy(), indptr.copy()), shape=shape)
        got = _clone(cand, cls, data, indices, indptr, shape)
        got.check_format(full_check=True)
        if (type(got) is cls and got.shape == shape and got.nnz == 2 and got.format == "csr"
                and np.array_equal(got.toarray(), cls((data, indices, indptr), shape=shape).toarray())):
            tpl = cand
    except Exception:  # noqa: BLE001 - any surprise: use the public constructor
        tpl = None
    _TEMPLATES[cls] = tpl
    return tpl


def _clone(tpl, cls, data, indices, indptr, shape):
    C = object.__new__(cls)
    C.__dict__.update(tpl.__dict__)
    C.data, C.indices, C.indptr, C._shape = data, indices, indptr, shape
    return C


def _wrap_csr(cls, data, indices, indptr, shape, sorted_):
    """CSR container of class `cls` around the product's arrays. SciPy's constructor re-checks
    arrays that spgemm has just built (~25 us, the whole cost of a small product); this copies
    the attributes of a constructed template instead, when that was verified to reproduce the
    constructor (`_template`)."""
    tpl = _template(cls)
    if tpl is None:
        C = cls((data, indices, indptr), shape=shape)
    else:
        C = _clone(tpl, cls, data, indices, indptr, (int(shape[0]), int(shape[1])))
    C.has_sorted_indices = bool(sorted_)
    C.has_canonical_format = bool(sorted_)
    return C


def _same_kind(A, data, indices, indptr, shape, sorted_):
    """The product as the scipy.sparse kind of A (format and matrix/array class)."""
    import scipy.sparse as sp
    C = _wrap_csr(sp.csr_matrix if isinstance(A, sp.spmatrix) else sp.csr_array, data, indices,
                  indptr, shape, sorted_)
    fmt = A.format
    return C if fmt == "csr" else C.asformat(fmt)


def _prepare(A, B, mask):
    A_ = _as_csr(A, "A")
    B_ = A_ if B is A else _as_csr(B, "B")  # A @ A: one conversion and check
    if A_.shape[1] != B_.shape[0]:
        raise ValueError(f"B: shape mismatch, A is {A_.shape[0]} x {A_.shape[1]} and B is "
                         f"{B_.shape[0]} x {B_.shape[1]} (A.shape[1] must equal B.shape[0])")
    M_ = None
    if mask is not None:
        M_ = _as_csr(mask, "mask")
        if M_.shape != (A_.shape[0], B_.shape[1]):
            raise ValueError(f"mask: expected shape {(A_.shape[0], B_.shape[1])}, got {M_.shape}")
    vdtype = np.result_type(A_.dtype, B_.dtype)
    if vdtype not in (np.float32, np.float64):
        vdtype = np.dtype(np.float64)  # integer and bool inputs: float64, like NumPy's true division
    idtype = _index_dtype(A_, B_, M_)
    return A_, B_, M_, vdtype, idtype


def spgemm(A, B, *, mask=None, sort_indices=True, n_threads=None):
    """Sparse x sparse product ``C = A @ B`` on all cores (Gustavson row-wise, hash/dense
    accumulators, rows balanced by flop count).

    Parameters
    ----------
    A, B : scipy.sparse matrices or arrays (any format)
        Shapes (m, k) and (k, n). CSR inputs are used as they are; other formats are converted
        to CSR. Duplicate entries add up; unsorted indices are fine. float32 and float64 values
        (mixed inputs promote like NumPy; integer and bool inputs become float64); int32 or
        int64 indices. NaN and Inf propagate as in ``A @ B``.
    mask : scipy.sparse, optional
        Shape (m, n): only the entries of C at positions of ``mask``'s stored entries are
        computed (a structural mask: stored zeros count, values are ignored), as GraphBLAS's
        ``C<M> = A B`` - e.g. triangle counting ``(L @ L) * L``. An entry appears only where the
        product produces one.
    sort_indices : bool, default True
        Sort column indices within each row (canonical output). ``False`` skips the sort; the
        output still has no duplicates.
    n_threads : int, optional
        Threads (default: all, see :func:`sparsketch.set_num_threads`). The result is bitwise
        the same for any thread count.

    Returns
    -------
    scipy.sparse matrix or array, the kind of ``A`` (same format, ``*_matrix`` or ``*_array``)
        Index dtype int32 when the shape and nnz allow it, else int64.

    Raises
    ------
    TypeError
        non-sparse or complex input.
    ValueError
        incompatible shapes, malformed CSR structure (out-of-range indices, bad indptr).
    MemoryError
        the product would not fit in the available memory (raised after counting its nonzeros
        exactly, before allocating it).

    Notes
    -----
    Each row of C is accumulated - in an open-addressing hash table sized to twice the row's
    flop count, or a dense array when the row's flops reach n / 8 - and written straight into
    the final CSR arrays. Plain products take one pass: C's arrays are reserved for the flop
    count, an upper bound on nnz(C) that costs only virtual memory (the pages past the real
    nnz are never touched), rows are written in order (chunks that finish out of order are
    copied into place) and the arrays are shrunk to nnz(C) in place. When that bound does not
    fit in the available memory, and for masked products, a symbolic pass first counts each
    row's output exactly (two passes). Extra memory beyond C: O(m) counts, one O(n)
    accumulator per thread and bounded chunk buffers; the intermediate products are never
    stored (SMASH; Nagasaka et al., ICPP workshops 2018).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, sparsketch
    >>> A = sp.random_array((300, 200), density=0.05, random_state=0, format="csr")
    >>> B = sp.random_array((200, 100), density=0.05, random_state=1, format="csr")
    >>> C = sparsketch.spgemm(A, B)
    >>> bool(abs(C - A @ B).max() < 1e-12), C.has_sorted_indices
    (True, True)
    """
    sort_indices = check_bool(sort_indices, "sort_indices")
    nt = resolve_n_threads(n_threads)
    A_, B_, M_, vdtype, idtype = _prepare(A, B, mask)
    m_t = None if M_ is None else (  # structural: the mask's values are never read
        np.ascontiguousarray(M_.indptr, dtype=idtype), np.ascontiguousarray(M_.indices, dtype=idtype),
        np.zeros(0), M_.shape[0], M_.shape[1])
    data, indices, indptr, _ = _core.spgemm_csr(
        _csr_tuple(A_, vdtype, idtype), _csr_tuple(B_, vdtype, idtype), m_t, sort_indices, nt,
        -1, None, _memory_limit)
    return _same_kind(A, data, indices, indptr, (A_.shape[0], B_.shape[1]), sort_indices)


def spgemm_topk(A, B, k, *, threshold=None, n_threads=None):
    """The k largest entries of each row of ``A @ B``, without storing the full rows.

    Each row is accumulated as in :func:`spgemm`; entries ``<= threshold`` are dropped first
    (when given), then the k largest values are kept (ties go to the smaller column; NaN ranks
    below every number). Columns are sorted within each row. This is the similarity-search
    product of sparse_dot_topn (``sp_matmul_topn``), parallel and exact.

    Parameters
    ----------
    A, B : scipy.sparse
        As for :func:`spgemm`.
    k : int
        Entries kept per row (>= 0).
    threshold : float, optional
        Keep only values strictly greater than this.
    n_threads : int, optional
        Threads; the result does not depend on their number.

    Returns
    -------
    scipy.sparse, the kind of ``A``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, sparsketch
    >>> A = sp.csr_array(np.array([[1.0, 2.0], [0.0, 1.0]]))
    >>> B = sp.csr_array(np.array([[1.0, 0.0, 3.0], [0.0, 5.0, 1.0]]))
    >>> sparsketch.spgemm_topk(A, B, 2).toarray()
    array([[ 0., 10.,  5.],
           [ 0.,  5.,  1.]])
    """
    k = check_int(k, "k", minimum=0)
    if threshold is not None:
        threshold = check_float(threshold, "threshold")
    nt = resolve_n_threads(n_threads)
    A_, B_, _, vdtype, idtype = _prepare(A, B, None)
    data, indices, indptr, _ = _core.spgemm_csr(
        _csr_tuple(A_, vdtype, idtype), _csr_tuple(B_, vdtype, idtype), None, True, nt, k,
        threshold, _memory_limit)
    return _same_kind(A, data, indices, indptr, (A_.shape[0], B_.shape[1]), True)
