"""Sketch operators: every application path equals the explicit matrix, the matrix has the
documented structure and distribution, it is a subspace embedding within the bound expected
for its size, and it is the same for any thread count."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.stats

import sparsketch
from conftest import eps

KINDS = list(sparsketch.SKETCH_KINDS)


def product_bound(S, A, dtype):
    """|fl(S A) - S A| <= k eps |S| |A| entrywise with k the terms per sum (<= n); factor 2."""
    n = S.shape[1]
    return 2 * n * eps(dtype) * (np.abs(S) @ np.abs(np.asarray(A, np.float64))) + 1e-300


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layout", ["C", "F", "strided", "csr", "csc", "coo", "csr32", "csr_matrix"])
def test_application_matches_explicit_matrix(kind, layout, dtype, rng):
    n, d, m = 300, 7, 40
    A = rng.standard_normal((n, d)).astype(dtype)
    A[rng.random((n, d)) < 0.5] = 0  # sparse inputs get real zeros
    S = sparsketch.SketchOperator(kind, m, n, seed=11)
    Sd = S.toarray()  # float64 explicit matrix
    if layout == "C":
        X = A
    elif layout == "F":
        X = np.asfortranarray(A)
    elif layout == "strided":
        X = np.zeros((n, 2 * d), dtype)[:, ::2]
        X[:] = A
    elif layout == "csr32":
        X = sp.csr_array(A)
        X.indices = X.indices.astype(np.int32)
        X.indptr = X.indptr.astype(np.int32)
    elif layout == "csr_matrix":
        X = sp.csr_matrix(A)
    else:
        X = getattr(sp, f"{layout}_array")(A)
    Y = S @ X
    assert Y.shape == (m, d) and Y.dtype == dtype
    assert np.all(np.abs(Y - Sd @ A.astype(np.float64)) <= product_bound(Sd, A, dtype))


@pytest.mark.parametrize("kind", KINDS)
def test_vector_axis1_and_transpose(kind, rng):
    n, d, m = 256, 5, 32
    A = rng.standard_normal((n, d))
    S = sparsketch.SketchOperator(kind, m, n, seed=2)
    SA = S @ A
    # A single column takes a different GEMM kernel path (GEMV) for Gaussian: equal to rounding.
    np.testing.assert_allclose(S @ A[:, 0], SA[:, 0], rtol=0, atol=1e-13 * np.abs(SA).max())
    np.testing.assert_array_equal(A.T @ S.T, SA.T)
    np.testing.assert_array_equal(sparsketch.sketch(A.T, m, kind, seed=2, axis=1), SA.T)
    np.testing.assert_array_equal(sparsketch.sketch(A, m, kind, seed=2), SA)
    SAs, op = sparsketch.sketch(A, m, kind, seed=None, return_operator=True)
    np.testing.assert_array_equal(SAs, sparsketch.SketchOperator(kind, m, n, seed=op.seed) @ A)


def test_hash_sketch_structure():
    n, m = 500, 64
    C = sparsketch.SketchOperator("countsketch", m, n, seed=4).toarray()
    assert np.all((C != 0).sum(axis=0) == 1) and set(np.unique(C[C != 0])) <= {-1.0, 1.0}
    for zeta in (1, 3, 8):
        Z = sparsketch.SketchOperator("sparse_sign", m, n, seed=4, zeta=zeta).toarray()
        assert np.all((Z != 0).sum(axis=0) == zeta)  # distinct rows
        np.testing.assert_allclose(np.abs(Z[Z != 0]), 1 / math.sqrt(zeta))
    Z = sparsketch.SketchOperator("sparse_sign", 5, n, seed=4, zeta=8).toarray()  # zeta > m
    assert np.all((Z != 0).sum(axis=0) == 5)
    # Rows are uniform: each of the m rows receives n*zeta/m entries on average; chi-square at
    # significance 1e-4 for a fixed seed.
    Z = sparsketch.SketchOperator("sparse_sign", 50, 20000, seed=9).toarray()
    counts = (Z != 0).sum(axis=1)
    assert scipy.stats.chisquare(counts).pvalue > 1e-4
    signs = np.sign(Z[Z != 0])
    assert abs(signs.mean()) < 4.5 * 1 / math.sqrt(signs.size)  # Rademacher, 4.5 sd


def test_gaussian_entries_are_standard_normal():
    m, n = 100, 2000
    G = sparsketch.SketchOperator("gaussian", m, n, seed=5).toarray() * math.sqrt(m)
    assert scipy.stats.kstest(G.ravel(), "norm").pvalue > 1e-4  # significance 1e-4


def test_srht_structure():
    n, m = 1024, 64  # n a power of two: rows of H D are orthogonal
    S = sparsketch.SketchOperator("srht", m, n, seed=6).toarray()
    np.testing.assert_allclose(np.abs(S) * math.sqrt(m), 1.0)
    np.testing.assert_allclose(S @ S.T, (n / m) * np.eye(m), atol=1e-12)
    Sp = sparsketch.SketchOperator("srht", m, 1000, seed=6).toarray()  # padded to 1024
    np.testing.assert_allclose((Sp ** 2).sum(axis=0), 1.0)  # ||S e_j|| = 1 exactly


@pytest.mark.parametrize("kind", KINDS)
def test_columns_have_unit_norm_in_expectation(kind):
    # E[S^T S] = I: hash and SRHT columns have norm exactly 1; Gaussian chi2(m)/m, mean 1 with
    # sd sqrt(2/m)/sqrt(n) for the average over n columns.
    m, n = 64, 4000
    S = sparsketch.SketchOperator(kind, m, n, seed=8).toarray()
    norms = (S ** 2).sum(axis=0)
    if kind == "gaussian":
        assert abs(norms.mean() - 1) < 4.5 * math.sqrt(2 / m) / math.sqrt(n)
    else:
        np.testing.assert_allclose(norms, 1.0, rtol=1e-12)


def _distortion(S, Q):
    s = np.linalg.svd(S @ Q, compute_uv=False)
    return s.min(), s.max()


@pytest.mark.parametrize("matrix", ["gaussian", "coherent"])
@pytest.mark.parametrize("kind", KINDS)
def test_subspace_embedding(kind, matrix, rng):
    """Singular values of S Q (Q an orthonormal basis of a d-dim subspace) lie in
    [1 - eps, 1 + eps] with eps from each sketch's bound at failure probability delta:
    - gaussian (Davidson-Szarek): eps = sqrt(d/m) + sqrt(2 ln(2/delta)/m), delta = 1e-6;
    - srht (Tropp 2011, Thm 3.1): m >= 4 (sqrt d + sqrt(8 ln(dn)))^2 ln d gives singular values
      in [sqrt(0.40), sqrt(1.48)] with probability >= 1 - 3/d;
    - countsketch / sparse sign (second moment, Nelson-Nguyen 2013): E||Q'S'SQ - I||_F^2 <=
      2 d^2 / m, so by Chebyshev eps = sqrt(2 d^2 / (m delta)), delta = 0.05.
    'coherent' is the worst case for row sampling: the subspace spanned by d coordinate axes.
    Each bound fails with probability <= delta per seed, so over 5 sketch seeds at most one
    may miss it (two or more misses have probability <= 10 delta^2 <= 0.025 for the hash
    sketches, far less in fact: a CountSketch miss on 'coherent' is a collision of two of the
    d axes, probability 6 / m = 0.23%)."""
    n = 8192
    if kind == "gaussian":
        d, m = 10, 800
        e = math.sqrt(d / m) + math.sqrt(2 * math.log(2 / 1e-6) / m)
        lo, hi = 1 - e, 1 + e
    elif kind == "srht":
        d = 10
        m = math.ceil(4 * (math.sqrt(d) + math.sqrt(8 * math.log(d * n))) ** 2 * math.log(d))
        lo, hi = math.sqrt(0.40), math.sqrt(1.48)
    else:
        d, m = 4, 2600
        e = math.sqrt(2 * d * d / (m * 0.05))
        lo, hi = 1 - e, 1 + e
    if matrix == "gaussian":
        Q = np.linalg.qr(rng.standard_normal((n, d)))[0]
    else:
        Q = np.zeros((n, d))
        Q[rng.choice(n, d, replace=False), np.arange(d)] = 1.0
    misses = []
    for seed in range(123, 128):
        smin, smax = _distortion(sparsketch.SketchOperator(kind, m, n, seed=seed), Q)
        if not (lo <= smin and smax <= hi):
            misses.append((seed, smin, smax))
    assert len(misses) <= 1, (misses, lo, hi)


@pytest.mark.parametrize("kind", KINDS)
def test_threads_and_seeds(kind, n_threads, rng):
    A = rng.standard_normal((3000, 17))
    ref = sparsketch.sketch(A, 300, kind, seed=77, n_threads=1)
    assert np.array_equal(sparsketch.sketch(A, 300, kind, seed=77, n_threads=n_threads), ref)
    assert np.array_equal(sparsketch.sketch(A, 300, kind, seed=77, n_threads=n_threads + 1), ref)
    Ac = sp.csr_array(np.where(np.abs(A) > 1, A, 0))
    refc = sparsketch.sketch(Ac, 300, kind, seed=77, n_threads=1)
    assert np.array_equal(sparsketch.sketch(Ac, 300, kind, seed=77, n_threads=n_threads), refc)
    assert not np.array_equal(sparsketch.sketch(A, 300, kind, seed=78), ref)
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    assert np.array_equal(sparsketch.sketch(A, 300, kind, seed=g1), sparsketch.sketch(A, 300, kind, seed=g2))


@pytest.mark.parametrize("kind", ["countsketch", "sparse_sign"])
@pytest.mark.parametrize("layout", ["C", "strided"])
def test_hash_sketch_row_parts(kind, layout, dtype, n_threads, rng):
    """Tall row-major input (n >= 2 * 16384 rows) takes the per-part accumulator route: it must
    match the explicit matrix within the summation bound and not depend on the thread count."""
    n, d, m = 40_000, 9, 60
    A = rng.standard_normal((n, d)).astype(dtype)
    X = A if layout == "C" else np.repeat(A, 2, axis=1)[:, ::2]
    S = sparsketch.SketchOperator(kind, m, n, seed=21)
    Y = S._apply(X, 1, validated=True)
    Sd = sp.csr_array(S.toarray())
    exact = Sd @ A.astype(np.float64)
    bound = 2 * n * eps(dtype) * (abs(Sd) @ np.abs(A.astype(np.float64))) + 1e-300
    assert np.all(np.abs(Y - exact) <= bound)
    for nt in (n_threads, n_threads + 1, 3):
        assert np.array_equal(S._apply(X, nt, validated=True), Y)


def test_dtypes_and_empty(rng):
    A = rng.integers(-3, 4, size=(100, 3))
    assert sparsketch.sketch(A, 10).dtype == np.float64
    assert sparsketch.sketch(A.astype(np.float32), 10).dtype == np.float32
    assert sparsketch.sketch(np.zeros((100, 0)), 10).shape == (10, 0)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: sparsketch.sketch(np.ones((10, 2)), 0), ValueError, "m"),
    (lambda: sparsketch.sketch(np.ones((10, 2)), 3, "fourier"), ValueError, "kind"),
    (lambda: sparsketch.sketch(np.ones((10, 2)), 3, axis=2), ValueError, "axis"),
    (lambda: sparsketch.sketch(np.ones((0, 2)), 3), ValueError, "A"),
    (lambda: sparsketch.sketch(np.ones((10, 2, 2)), 3), ValueError, "A"),
    (lambda: sparsketch.sketch(np.ones((10, 2)), 17, "srht"), ValueError, "m"),
    (lambda: sparsketch.sketch(np.ones((10, 2), complex), 3), TypeError, "A"),
    (lambda: sparsketch.sketch(np.array([[np.nan, 1.0]] * 4), 3), ValueError, "NaN"),
    (lambda: sparsketch.sketch(sp.csr_array(np.array([[np.inf, 1.0]] * 4)), 3), ValueError, "NaN"),
    (lambda: sparsketch.SketchOperator("gaussian", 3, 10) @ np.ones((9, 2)), ValueError, "rows"),
    (lambda: sparsketch.SketchOperator("gaussian", 3, 10, zeta=0), ValueError, "zeta"),
    (lambda: sparsketch.SketchOperator("gaussian", 3, 10, seed=-1), ValueError, "seed"),
    (lambda: sparsketch.sketch(np.ones((10, 2)), 3, n_threads=0), ValueError, "n_threads"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_bad_csr_structure_rejected():
    A = sp.csr_array(np.eye(4))
    bad = sp.csr_array((A.data, A.indices.copy(), A.indptr), shape=(4, 4))
    bad.indices[2] = 7  # out of range, bypassing scipy's checks
    with pytest.raises(IndexError, match="A.indices"):
        sparsketch.sketch(bad, 3, "countsketch")
    bad2 = sp.csr_array((A.data, A.indices, A.indptr.copy()), shape=(4, 4))
    bad2.indptr[2] = 0  # decreasing
    with pytest.raises(ValueError, match="A.indptr"):
        sparsketch.sketch(bad2, 3, "countsketch")
