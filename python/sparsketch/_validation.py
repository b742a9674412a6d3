"""Input policy for every public function, in one place.

Each helper raises ``TypeError`` or ``ValueError`` naming the argument, before any C++ runs.
Scalars: float32 stays float32, float64 stays float64; bool and integer arrays become float64;
float16, longdouble, complex, object, string and datetime arrays are rejected with TypeError.
"""

from __future__ import annotations

import math
import operator

import numpy as np

_FLOAT_TYPES = (np.dtype(np.float32), np.dtype(np.float64))


def is_sparse(x) -> bool:
    """True for scipy.sparse matrices and arrays (checked without importing scipy)."""
    return type(x).__module__.startswith("scipy.sparse")


def all_finite(x: np.ndarray) -> bool:
    """Whether a float array has no NaN or Inf: one parallel pass in C++ (no temporary) for
    contiguous native float32/float64 arrays, NumPy otherwise."""
    if x.size == 0:
        return True
    if (x.dtype in _FLOAT_TYPES and x.dtype.isnative
            and (x.flags.c_contiguous or x.flags.f_contiguous)):
        from . import _core
        return _core.all_finite(x, resolve_n_threads(None))
    return bool(np.isfinite(x).all())


def as_float_array(x, name: str) -> np.ndarray:
    """Return ``x`` as a float32/float64 ndarray (no copy when it already is one).

    Integer and bool input becomes float64 (a copy). Anything else raises TypeError.
    """
    if type(x) is not np.ndarray:
        if is_sparse(x):
            raise TypeError(f"{name}: expected a dense array, got {type(x).__name__} "
                            f"(scipy.sparse); convert with .toarray()")
        if isinstance(x, np.ndarray):  # subclasses (np.matrix, masked arrays)
            if isinstance(x, np.ma.MaskedArray):
                raise TypeError(f"{name}: masked arrays are not supported; fill them first")
            x = np.asarray(x)
        else:
            try:
                x = np.asarray(x)
            except Exception as exc:  # ragged lists and the like
                raise TypeError(f"{name}: cannot convert {type(x).__name__} to an array: {exc}") from None
    dt = x.dtype
    if dt in _FLOAT_TYPES:
        return x
    kind = dt.kind
    if kind in "biu":
        return x.astype(np.float64)
    if kind == "f" and dt.itemsize in (4, 8) and not dt.isnative:
        return x.astype(dt.newbyteorder("="))  # byte-swapped float32/float64
    if kind == "f":
        raise TypeError(f"{name}: dtype {dt} is not supported; use float32 or float64")
    if kind == "c":
        raise TypeError(f"{name}: complex input (dtype {dt}) is not supported; "
                        f"transform the real and imaginary parts separately")
    raise TypeError(f"{name}: expected a real numeric array, got dtype {dt}")


def check_bool(value, name: str) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name}: expected a bool, got {type(value).__name__}")


def check_int(value, name: str, *, minimum: int | None = None) -> int:
    if type(value) is int and (minimum is None or value >= minimum):  # the common case, fast
        return value
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected an integer, got bool")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}") from None
    if minimum is not None and v < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {v}")
    return v


def normalize_axis(axis, ndim: int, name: str = "axis") -> int:
    a = check_int(axis, name)
    if not -ndim <= a < ndim:
        raise ValueError(f"{name}: {a} is out of bounds for an array of dimension {ndim}")
    return a % ndim


def check_pow2(n: int, name: str, what: str) -> None:
    if n <= 0 or n & (n - 1):
        raise ValueError(f"{name}: {what} must be a power of two, got {n}")


def resolve_n_threads(n_threads) -> int:
    """Thread count for a kernel call: a positive int, or 0 meaning "OpenMP's default at call
    time" (omp_get_max_threads(), resolved in C++) when ``n_threads`` is None and
    sparsketch.set_num_threads has not been called."""
    if n_threads is None:
        from . import _config
        return _config._n_threads or 0
    return check_int(n_threads, "n_threads", minimum=1)


def prepare_matrix(A, name: str = "A", sparse_format: str = "csr", check_finite: bool = True):
    """A 2-D float matrix ready for the C++ passes: a float32/float64 ndarray (finite, no
    negative strides) or a canonical scipy ``csr_array`` (``csc_array`` with
    ``sparse_format="csc"``; sorted, duplicate-free, finite data, indices and indptr of one
    dtype, int32 or int64, structure validated in one O(nnz) pass). ``check_finite=False``
    skips the NaN/Inf check (data already checked in an earlier pass).
    """
    from . import _core
    if is_sparse(A):
        import scipy.sparse as sp
        if A.ndim != 2:
            raise ValueError(f"{name}: expected a 2-D sparse matrix")
        cls = sp.csc_array if sparse_format == "csc" else sp.csr_array
        A = cls(A)  # no copy if already in that format
        indices, indptr = A.indices, A.indptr
        if indices.dtype != indptr.dtype or indices.dtype not in (np.int32, np.int64):
            indices, indptr = indices.astype(np.int64), indptr.astype(np.int64)
        data = as_float_array(A.data, f"{name}.data")
        A = cls((np.ascontiguousarray(data), np.ascontiguousarray(indices),
                 np.ascontiguousarray(indptr)), shape=A.shape)
        # (a CSC matrix is the CSR matrix of its transpose)
        major, minor = A.shape if sparse_format != "csc" else A.shape[::-1]
        _core.validate_csr(A.indptr, A.indices, major, minor, False, name)
        if not A.has_canonical_format:  # sorted, duplicate-free: results independent of format
            A = A.copy()
            A.sum_duplicates()
        if check_finite and not all_finite(A.data):
            raise ValueError(f"{name}: contains NaN or Inf")
        return A
    A = as_float_array(A, name)
    if A.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, got {A.ndim}-D")
    if check_finite and not all_finite(A):
        raise ValueError(f"{name}: contains NaN or Inf")
    if any(s < 0 for s in A.strides):
        A = np.ascontiguousarray(A)
    return A


def as_float_vector(x, n: int, name: str, dtype=None) -> np.ndarray:
    """A finite 1-D float vector of length n (cast to ``dtype`` when given)."""
    x = as_float_array(x, name)
    if x.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got {x.ndim}-D")
    if x.shape[0] != n:
        raise ValueError(f"{name}: expected length {n}, got {x.shape[0]}")
    if not all_finite(x):
        raise ValueError(f"{name}: contains NaN or Inf")
    return np.ascontiguousarray(x, dtype=dtype if dtype is not None else x.dtype)


def as_float_matrix(x, n_rows: int, name: str) -> np.ndarray:
    """A finite 2-D float matrix with n_rows rows (no copy when it already is one)."""
    x = as_float_array(x, name)
    if x.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, got {x.ndim}-D")
    if x.shape[0] != n_rows:
        raise ValueError(f"{name}: expected {n_rows} rows, got {x.shape[0]}")
    if not all_finite(x):
        raise ValueError(f"{name}: contains NaN or Inf")
    return x


def check_float(value, name: str, *, minimum: float | None = None, strict: bool = False) -> float:
    """A finite real number (bool rejected), optionally >= (or >, with strict) minimum."""
    if (type(value) is float and math.isfinite(value)
            and (minimum is None or value > minimum or (value == minimum and not strict))):
        return value  # the common case, fast
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                      np.floating)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name}: must be finite, got {v}")
    if minimum is not None and (v < minimum or (strict and v == minimum)):
        raise ValueError(f"{name}: must be {'>' if strict else '>='} {minimum}, got {v}")
    return v
