"""Dense fast Walsh-Hadamard transform."""

from __future__ import annotations

import math

import numpy as np

from . import _config, _core
from ._validation import (as_float_array, check_bool, check_pow2, normalize_axis,
                          resolve_n_threads)

__all__ = ["fwht"]


def _view3(a: np.ndarray, axis: int):
    """``a`` as an (outer, n, inner) view whose inner axis is contiguous (and whose transform
    axis is contiguous when inner == 1), or None when no such view exists without a copy."""
    shape = a.shape
    outer = math.prod(shape[:axis])
    n = shape[axis]
    inner = math.prod(shape[axis + 1:])
    try:
        if _RESHAPE_COPY_KW:
            v = a.reshape((outer, n, inner), copy=False)
        else:
            v = _reshape_nocopy(a, (outer, n, inner))
    except (ValueError, AttributeError):
        return None
    item = a.itemsize
    if inner > 1 and v.strides[2] != item:
        return None
    if inner == 1 and n > 1 and v.strides[1] != item:
        return None
    return v


def _reshape_nocopy(a, shape):
    v = a.view()
    v.shape = shape  # raises AttributeError if a copy would be needed
    return v


try:  # numpy >= 2.1 has reshape(..., copy=False)
    np.empty(1).reshape((1,), copy=False)
    _RESHAPE_COPY_KW = True
except TypeError:
    _RESHAPE_COPY_KW = False


def _views(src: np.ndarray, dst: np.ndarray, axis: int):
    """3-D views of src and dst in one common orientation (as given, or both transposed, which
    turns Fortran order into C order). Returns (src3 or None, dst3) or None if dst has none."""
    d = _view3(dst, axis)
    if d is not None:
        return _view3(src, axis), d
    if dst.ndim > 1:
        t_axis = dst.ndim - 1 - axis
        d = _view3(dst.T, t_axis)
        if d is not None:
            return _view3(src.T, t_axis), d
    return None


def fwht(x, axis=-1, *, normalized=False, out=None, overwrite_x=False, check_finite=True,
         n_threads=None):
    r"""Fast Walsh-Hadamard transform along one axis, in natural (Hadamard) order.

    .. math:: y_k = c \sum_{t=0}^{N-1} (-1)^{\mathrm{popcount}(k \,\&\, t)} x_t ,

    i.e. ``y = c * scipy.linalg.hadamard(N) @ x`` with the Sylvester-ordered Hadamard matrix,
    where ``c = 1`` (default; then applying the transform twice gives ``N * x``) or
    ``c = 1/sqrt(N)`` with ``normalized=True`` (orthonormal: applying it twice gives ``x``).
    Cost: ``N log2 N`` additions per transform, cache-blocked and vectorised, with OpenMP over
    blocks and over the batch. The result does not depend on the number of threads.

    Parameters
    ----------
    x : array_like, float32 or float64
        Input; its length ``N`` along `axis` must be a power of two. Integer and bool input is
        converted to float64; float16, complex and object input raise TypeError. Any layout is
        accepted (C, Fortran, strided); layouts the kernel cannot stream are copied first.
    axis : int, default -1
        Axis to transform; the transform is applied independently along it for every index of
        the other axes (a batch).
    normalized : bool, default False
        Scale by ``1/sqrt(N)`` (orthonormal transform) instead of 1.
    out : ndarray, optional
        Where to write the result: same shape and dtype as the (converted) input, writable.
        ``out`` may be ``x`` itself for an in-place transform.
    overwrite_x : bool, default False
        Allow the transform to overwrite ``x`` (it is then done in place when ``x`` is a
        writable float32/float64 array, and ``x`` is returned). Ignored when `out` is given.
    check_finite : bool, default True
        Raise ValueError if ``x`` holds NaN or Inf (checked inside the first pass, at no
        measurable cost). With False, non-finite values propagate as IEEE arithmetic dictates
        (a NaN or Inf input makes every output of its transform NaN or Inf). When the
        transform works in place, the array content after this error is unspecified.
    n_threads : int, optional
        Threads to use; default :func:`sparsketch.get_num_threads`.

    Returns
    -------
    y : ndarray
        The transform, same shape and dtype as ``x`` (float64 for integer input). A new array
        unless `out` is given (then `out`) or `overwrite_x` allowed an in-place transform.

    Raises
    ------
    ValueError
        If the length along `axis` is not a power of two (0 included), `axis` is out of range,
        ``x`` is 0-d, `out` has the wrong shape or is read-only, or ``x`` holds NaN/Inf while
        `check_finite` is True.
    TypeError
        If ``x`` has an unsupported dtype, is a scipy.sparse matrix, or `out` has a different
        dtype.

    Notes
    -----
    Float error: each output is a sum of ``N`` terms computed in ``log2 N`` rounded stages, so
    ``|y - y_exact| <= log2(N) * eps * sqrt(N) * ||x||_2`` (entrywise, to first order); float32
    is computed in float32. Integer-valued inputs whose transform stays below ``2**53``
    (float64) or ``2**24`` (float32) are transformed exactly.

    Examples
    --------
    >>> import numpy as np
    >>> import sparsketch
    >>> sparsketch.fwht(np.array([1.0, 0.0, 1.0, 0.0]))
    array([2., 2., 0., 0.])
    >>> x = np.random.default_rng(0).standard_normal((3, 8))
    >>> y = sparsketch.fwht(x, normalized=True)          # each row transformed
    >>> bool(np.allclose(sparsketch.fwht(y, normalized=True), x))
    True
    """
    # Fast path for the common calls -- fwht(x), fwht(x, out=x), fwht(x, overwrite_x=True) and
    # fwht(x, out=y) on C-contiguous float arrays along the last axis. C++ checks the arrays
    # and returns None for anything else, which then takes the general path below (same
    # checks, same results).
    if (type(x) is np.ndarray and type(axis) is int and (axis == -1 or axis == x.ndim - 1)
            and (normalized is False or normalized is True)
            and (check_finite is True or check_finite is False)
            and (overwrite_x is False or overwrite_x is True)
            and (n_threads is None or (type(n_threads) is int and n_threads > 0))):
        o = x if (out is None and overwrite_x) else out
        try:
            y = _core.fwht_fast(x, o, normalized, check_finite,
                                n_threads or _config._n_threads or 0)
        except ValueError as exc:
            _reraise_nonfinite(exc, x, in_place=o is x)
        if y is not None:
            return y
    x_in = x
    x = as_float_array(x, "x")
    if x.ndim == 0:
        raise ValueError("x: expected an array with at least one dimension, got a 0-d array")
    ax = normalize_axis(axis, x.ndim)
    n = x.shape[ax]
    check_pow2(n, "x", f"length along axis {axis}")
    normalized = check_bool(normalized, "normalized")
    check_finite = check_bool(check_finite, "check_finite")
    overwrite_x = check_bool(overwrite_x, "overwrite_x")
    nt = resolve_n_threads(n_threads)  # 0: OpenMP's default, resolved in C++

    if out is not None:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out: expected a numpy.ndarray, got {type(out).__name__}")
        if out.dtype != x.dtype:
            raise TypeError(f"out: expected dtype {x.dtype}, got {out.dtype}")
        if out.shape != x.shape:
            raise ValueError(f"out: expected shape {x.shape}, got {out.shape}")
        if not out.flags.writeable:
            raise ValueError("out: array is read-only")
        result = out
    elif overwrite_x and x is x_in and x.flags.writeable:
        result = x
    else:
        result = np.empty_like(x)  # keeps C/Fortran order, C for other layouts

    if x.size == 0:
        return result

    in_place = result is x or (result.ctypes.data == x.ctypes.data and result.strides == x.strides)
    if not in_place and np.may_share_memory(x, result):
        x = x.copy()  # partial overlap: read from a private copy

    views = _views(x, result, ax)
    if views is None:  # out with a layout the kernel cannot write: go through a temporary
        tmp = fwht(x, ax, normalized=normalized, check_finite=check_finite, n_threads=n_threads)
        np.copyto(result, tmp)
        return result
    src3, dst3 = views
    if src3 is None or in_place:
        # Source layout not streamable (or already in place): copy into the output, then
        # transform there in place.
        if not in_place:
            np.copyto(result, x)
        src3 = dst3
    try:
        _core.fwht(src3, dst3, normalized, check_finite, nt)
    except ValueError as exc:
        _reraise_nonfinite(exc, x, in_place=in_place)
    return result


def _reraise_nonfinite(exc: ValueError, x: np.ndarray, in_place: bool):
    """Re-raise the kernel's non-finite error with the offending index of the caller's array
    (when x is still intact, i.e. the transform was not in place)."""
    if in_place or "NaN or Inf" not in str(exc):
        raise exc
    bad = np.argwhere(~np.isfinite(x))
    where = f" at index {tuple(int(i) for i in bad[0])}" if len(bad) else ""
    raise ValueError(f"x: contains NaN or Inf{where}; pass check_finite=False to let "
                     f"non-finite values propagate") from None
