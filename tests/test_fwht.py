"""sparsketch.fwht against scipy.linalg.hadamard (n <= 2^12), the definition, and an
independent Kronecker-factor reference (larger n).

Tolerances: each output of an N-point transform is a sum of N terms formed in log2(N) rounded
butterfly stages, so |y - y_exact| <= log2(N) * eps * sqrt(N) * ||x||_2 entrywise to first
order (Higham, Accuracy and Stability, sec. 4.2 on summation, applied per stage). We assert
that bound with a factor 2 of slack. Integer inputs are exact."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

import sparsketch
from reference import fwht_kronecker, hadamard_matrix
from conftest import eps


def bound(x, n, dtype, axis=-1):
    """Entrywise error bound log2(N) eps sqrt(N) ||x||_2 (per transform), times 2."""
    L = max(1, int(math.log2(n)))
    norms = np.sqrt(np.sum(np.asarray(x, np.float64) ** 2, axis=axis, keepdims=True))
    return 2 * L * eps(dtype) * math.sqrt(n) * norms


@pytest.mark.parametrize("L", list(range(0, 13)))
def test_against_scipy_hadamard(L, dtype, rng):
    n = 1 << L
    x = rng.standard_normal(n).astype(dtype)
    y = sparsketch.fwht(x)
    assert y.dtype == dtype and y.shape == x.shape
    ref = scipy.linalg.hadamard(n).astype(np.float64) @ x.astype(np.float64)
    assert np.all(np.abs(y - ref) <= bound(x, n, dtype))


def test_definition_matrix_matches_scipy():
    # The reference matrix built from popcount equals SciPy's Sylvester construction.
    for n in (1, 2, 4, 64):
        np.testing.assert_array_equal(hadamard_matrix(n), scipy.linalg.hadamard(n))


@pytest.mark.parametrize("L", [13, 15, 17, 18, 19, 20])
def test_against_kronecker_reference_large(L, dtype, rng):
    # 2^18 and above take the multi-pass (tiled) path for float64, 2^19 and above for float32.
    n = 1 << L
    x = rng.standard_normal(n).astype(dtype)
    y = sparsketch.fwht(x)
    ref = fwht_kronecker(x)
    assert np.all(np.abs(y - ref) <= bound(x, n, dtype))


@pytest.mark.parametrize("L", [1, 5, 10, 16, 19])
def test_involution_exact_on_integers(L, dtype, rng):
    # Small integers: every partial sum is an integer below 2^24, so float32 is exact too.
    n = 1 << L
    x = rng.integers(-4, 5, size=n).astype(dtype)
    y = sparsketch.fwht(x)
    np.testing.assert_array_equal(sparsketch.fwht(y), n * x)
    xs = sparsketch.fwht(sparsketch.fwht(x, normalized=True), normalized=True)
    assert np.max(np.abs(xs - x)) <= 4 * L * eps(dtype) * 4


def test_normalized_is_orthonormal(dtype, rng):
    n = 1 << 11
    x = rng.standard_normal(n).astype(dtype)
    y = sparsketch.fwht(x, normalized=True)
    ref = fwht_kronecker(x) / math.sqrt(n)
    assert np.all(np.abs(y - ref) <= bound(x, n, dtype) / math.sqrt(n))
    np.testing.assert_allclose(np.linalg.norm(y), np.linalg.norm(x.astype(np.float64)),
                               rtol=20 * eps(dtype))


@pytest.mark.parametrize("shape,axis", [
    ((5, 64), -1), ((5, 64), 1), ((64, 5), 0), ((3, 4, 32), 2), ((3, 32, 4), 1),
    ((32, 3, 4), 0), ((2, 3, 4, 16), 2), ((1, 1, 8), -1), ((7, 1), 1), ((2048, 3), 0),
    ((4, 2 ** 12, 2), 1), ((4, 2 ** 18), 1),
])
@pytest.mark.parametrize("order", ["C", "F"])
def test_batches_and_axes(shape, axis, order, dtype, rng):
    # (2048, 3) along axis 0 has 11 row stages: two tiled passes in the row layout.
    x = np.asarray(rng.standard_normal(shape).astype(dtype), order=order)
    y = sparsketch.fwht(x, axis=axis)
    assert y.shape == x.shape and y.dtype == dtype
    ref = fwht_kronecker(x, axis=axis)
    n = shape[axis]
    assert np.all(np.abs(y - ref) <= bound(x, n, dtype, axis=axis))


def test_strided_and_non_contiguous_inputs(dtype, rng):
    base = rng.standard_normal((8, 256)).astype(dtype)
    for x, axis in [(base[:, ::2], -1), (base[::2, :], 0), (base[::-1, ::4], 1),
                    (base.T[::2], 0), (base[:, 1::2].T, 1)]:
        y = sparsketch.fwht(x, axis=axis)
        ref = fwht_kronecker(x, axis=axis)
        assert np.all(np.abs(y - ref) <= bound(x, x.shape[axis], dtype, axis=axis))
        assert y.flags.writeable and not np.shares_memory(y, base)


def test_out_and_overwrite_semantics(dtype, rng):
    x = rng.standard_normal((4, 128)).astype(dtype)
    x0 = x.copy()
    ref = fwht_kronecker(x0)
    tol = bound(x0, 128, dtype)

    y = sparsketch.fwht(x)  # new array, x untouched
    assert y is not x and np.array_equal(x, x0)

    out = np.empty_like(x)
    r = sparsketch.fwht(x, out=out)
    assert r is out and np.all(np.abs(out - ref) <= tol) and np.array_equal(x, x0)

    outf = np.empty_like(x, order="F")  # an output layout different from the input's
    assert sparsketch.fwht(x, out=outf) is outf and np.all(np.abs(outf - ref) <= tol)

    outs = np.empty((4, 256), dtype)[:, ::2]  # strided output goes through a temporary
    assert sparsketch.fwht(x, out=outs) is outs and np.all(np.abs(outs - ref) <= tol)

    xi = x.copy()
    r = sparsketch.fwht(xi, out=xi)  # explicit in place
    assert r is xi and np.all(np.abs(xi - ref) <= tol)

    xo = x.copy()
    r = sparsketch.fwht(xo, overwrite_x=True)
    assert r is xo and np.all(np.abs(xo - ref) <= tol)

    xr = x.copy()
    xr.flags.writeable = False
    r = sparsketch.fwht(xr, overwrite_x=True)  # read-only: a new array instead
    assert r is not xr and np.array_equal(xr, x0)

    # out overlapping x without being x: read from a copy, never garbage.
    buf = np.concatenate([x0.ravel(), np.zeros(128, dtype)])
    src = buf[:512].reshape(4, 128)
    dst = buf[128:].reshape(4, 128)
    sparsketch.fwht(src, out=dst)
    assert np.all(np.abs(dst - ref) <= tol)

    xf = np.asfortranarray(x)
    yf = sparsketch.fwht(xf, axis=1, overwrite_x=True)
    assert yf is xf and np.all(np.abs(yf - ref) <= tol)


def test_integer_and_bool_input_become_float64():
    y = sparsketch.fwht(np.array([1, 0, 1, 0]))
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, [2, 2, 0, 0])
    np.testing.assert_array_equal(sparsketch.fwht([True, False]), [1.0, 1.0])
    np.testing.assert_array_equal(sparsketch.fwht([[1, 2], [3, 4]], axis=0), [[4, 6], [-2, -2]])


def test_byte_swapped_input_is_converted(rng):
    x = rng.standard_normal((3, 32))
    xs = x.astype(">f8")
    y = sparsketch.fwht(xs)
    assert y.dtype == np.float64 and y.dtype.isnative
    np.testing.assert_array_equal(y, sparsketch.fwht(x))
    np.testing.assert_array_equal(sparsketch.fwht(xs.astype(">f4"), out=np.empty((3, 32), np.float32)),
                                  sparsketch.fwht(x.astype(np.float32)))


def test_threads_bitwise_identical(dtype, n_threads, rng):
    # (4, 2^18): rows beyond the L2 block but within the row cache -> one thread per row.
    for shape, axis in [((1 << 19,), -1), ((3, 1 << 16), -1), ((4, 1 << 18), -1),
                        ((1 << 12, 40), 0), ((16, 256), 0)]:
        x = rng.standard_normal(shape).astype(dtype)
        y1 = sparsketch.fwht(x, axis=axis, n_threads=1)
        for t in (n_threads, n_threads + 1):  # also an odd count that does not divide the work
            assert np.array_equal(sparsketch.fwht(x, axis=axis, n_threads=t), y1)


def test_set_num_threads_and_threadpoolctl_give_same_result(rng):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    x = rng.standard_normal(1 << 18)
    y = sparsketch.fwht(x)
    with threadpoolctl.threadpool_limits(1):
        assert np.array_equal(sparsketch.fwht(x), y)
    sparsketch.set_num_threads(1)
    try:
        assert np.array_equal(sparsketch.fwht(x), y)
    finally:
        sparsketch.set_num_threads(None)


def test_empty_batch_is_fine():
    y = sparsketch.fwht(np.empty((0, 8)))
    assert y.shape == (0, 8)
    y = sparsketch.fwht(np.empty((8, 0)), axis=0)
    assert y.shape == (8, 0)


@pytest.mark.parametrize("bad,axis,exc,match", [
    (np.ones(12), -1, ValueError, "power of two"),
    (np.ones(0), -1, ValueError, "power of two"),
    (np.ones((4, 6)), 1, ValueError, "power of two"),
    (np.ones((4, 6)), 2, ValueError, "axis"),
    (np.ones((4, 6)), -3, ValueError, "axis"),
    (np.ones((4, 6)), 1.0, TypeError, "axis"),
    (np.ones((4, 8)), -1.0, TypeError, "axis"),
    (np.ones((4, 8)), True, TypeError, "axis"),
    (np.float64(3.0), -1, ValueError, "0-d"),
    (np.ones(4, np.complex128), -1, TypeError, "complex"),
    (np.ones(4, np.float16), -1, TypeError, "float16"),
    (np.array(["a", "b"]), -1, TypeError, "x"),
    (np.array([object(), object()]), -1, TypeError, "x"),
])
def test_bad_input(bad, axis, exc, match):
    with pytest.raises(exc, match=match):
        sparsketch.fwht(bad, axis=axis)


def test_bad_options():
    x = np.ones(8)
    with pytest.raises(TypeError, match="normalized"):
        sparsketch.fwht(x, normalized="yes")
    with pytest.raises(ValueError, match="n_threads"):
        sparsketch.fwht(x, n_threads=0)
    with pytest.raises(TypeError, match="out"):
        sparsketch.fwht(x, out=np.empty(8, np.float32))
    with pytest.raises(ValueError, match="out"):
        sparsketch.fwht(x, out=np.empty(16))
    with pytest.raises(TypeError, match="out"):
        sparsketch.fwht(x, out=[0.0] * 8)
    ro = np.empty(8)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out"):
        sparsketch.fwht(x, out=ro)
    sp = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="scipy.sparse"):
        sparsketch.fwht(sp.csr_matrix(np.ones((2, 4))))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nonfinite_rejected_by_default_and_propagated_on_request(value, dtype):
    x = np.ones((3, 16), dtype)
    x[1, 5] = value
    with pytest.raises(ValueError, match=r"NaN or Inf at index \(1, 5\).*check_finite"):
        sparsketch.fwht(x)
    with pytest.raises(ValueError, match=r"NaN or Inf at index \(5, 1\)"):
        sparsketch.fwht(x.T, axis=0)  # Fortran-ordered view
    with pytest.raises(ValueError, match=r"NaN or Inf at index \(1, 2\)"):
        sparsketch.fwht(x[:, 1::2])  # strided: copy path
    xi = x.copy()
    with pytest.raises(ValueError, match=r"NaN or Inf.*undefined"):
        sparsketch.fwht(xi, out=xi)
    y = sparsketch.fwht(x, check_finite=False)
    assert np.all(np.isfinite(y[[0, 2]]))  # other rows unaffected
    assert not np.any(np.isfinite(y[1]))   # a NaN/Inf input makes its whole transform non-finite
    big = np.zeros(1 << 19, dtype)
    big[12345] = value
    with pytest.raises(ValueError, match="NaN or Inf"):
        sparsketch.fwht(big)
