"""sparsketch.lstsq against problems with a known solution and against numpy.linalg.lstsq.

Problems are built as A = U diag(s) V^T (U orthonormal n x d, V orthogonal) with condition
number kappa, x* chosen, and b = A x* + r with r orthogonal to range(A), so x* is the exact
least-squares solution of the exact problem. Rounding A and b to float64 perturbs the solution
by about kappa eps + kappa^2 eps ||r|| / (||A|| ||x*||) (Golub & Van Loan, Thm 5.3.1); a
backward-stable solver such as LAPACK reaches that level. We require sparsketch's error to be
within 10x of max(LAPACK's actual error, kappa eps) -- "as accurate as LAPACK"."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

import sparsketch

EPS = np.finfo(np.float64).eps


def known_problem(rng, n, d, kappa, resid=1e-2, k=None):
    U = np.linalg.qr(rng.standard_normal((n, d)))[0]
    V = np.linalg.qr(rng.standard_normal((d, d)))[0]
    s = np.logspace(0, -math.log10(kappa), d)
    A = (U * s) @ V.T
    shape_x = (d,) if k is None else (d, k)
    xs = rng.standard_normal(shape_x)
    z = rng.standard_normal((n,) if k is None else (n, k))
    z = z - U @ (U.T @ z)
    b = A @ xs + resid * z / np.linalg.norm(z, axis=0)
    return A, b, xs


def rel(x, ref):
    return np.linalg.norm(x - ref) / np.linalg.norm(ref)


@pytest.mark.parametrize("kappa", [1.0, 1e4, 1e10])
def test_precondition_matches_lapack_accuracy(kappa, rng, n_threads):
    A, b, xs = known_problem(rng, 4000, 40, kappa)
    res = sparsketch.lstsq(A, b, method="precondition", seed=3, n_threads=n_threads)
    x_np = np.linalg.lstsq(A, b, rcond=None)[0]
    assert res.method == "precondition" and res.sketch == "sparse_sign" and res.rank == 40
    assert res.converged and res.iterations > 0
    assert rel(res.x, xs) <= 10 * max(rel(x_np, xs), kappa * EPS)
    np.testing.assert_allclose(res.residual_norm, np.linalg.norm(b - A @ res.x), rtol=1e-8)
    assert res.gradient_norm <= 10 * math.sqrt(4000) * EPS


def test_multiple_right_hand_sides(rng):
    A, B, XS = known_problem(rng, 3000, 30, 1e6, k=3)
    res = sparsketch.lstsq(A, B, method="precondition", seed=1)
    assert res.x.shape == (30, 3) and res.residual_norm.shape == (3,)
    X_np = np.linalg.lstsq(A, B, rcond=None)[0]
    for j in range(3):
        assert rel(res.x[:, j], XS[:, j]) <= 10 * max(rel(X_np[:, j], XS[:, j]), 1e6 * EPS)
        single = sparsketch.lstsq(A, B[:, j], method="precondition", seed=1)
        assert rel(single.x, XS[:, j]) <= 10 * max(rel(X_np[:, j], XS[:, j]), 1e6 * EPS)


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_sparse_ill_conditioned(index_dtype, rng):
    n, d = 3000, 30
    A = sp.random(n, d, density=0.2, random_state=4, format="csr")
    A = sp.csr_array(A @ sp.diags(np.logspace(0, -6, d)))
    A.indices = A.indices.astype(index_dtype)
    A.indptr = A.indptr.astype(index_dtype)
    Ad = A.toarray()
    b = rng.standard_normal(n)
    x_np = np.linalg.lstsq(Ad, b, rcond=None)[0]
    kappa = np.linalg.cond(Ad)
    res = sparsketch.lstsq(A, b, seed=2)
    assert res.method == "precondition" and res.converged
    # No exact solution here: both solvers are within ~kappa eps of it, so of each other.
    assert rel(res.x, x_np) <= 10 * kappa * EPS
    for fmt in ("csc", "coo"):
        r2 = sparsketch.lstsq(A.asformat(fmt), b, seed=2)
        np.testing.assert_array_equal(r2.x, res.x)


def test_rank_deficient_gives_minimum_norm_solution(rng):
    A = rng.standard_normal((2000, 25))
    A[:, 7] = A[:, 1] - 2 * A[:, 2]
    A[:, 20] = 0.0
    b = rng.standard_normal(2000)
    res = sparsketch.lstsq(A, b, method="precondition", seed=5)
    x_pinv = np.linalg.pinv(A) @ b
    assert res.rank == 23
    assert rel(res.x, x_pinv) <= 1e-9
    assert res.converged


def test_sketch_and_solve_linf_guarantee(rng):
    """Sketch-and-solve with a dense sketch: ||x' - x*||_inf <= (eps/sqrt(d)) ||A x* - b||
    ||A^+|| with eps = sqrt(d log^3(n/delta) / m) (the paper's m = eps^-2 d log^3(n/delta)
    solved for eps, constant 1, delta = 0.1)."""
    n, d = 4096, 10
    A, b, xs = known_problem(rng, n, d, 1e3, resid=1.0)
    r = np.linalg.norm(A @ xs - b)
    pinv_norm = 1 / np.linalg.svd(A, compute_uv=False)[-1]
    for kind in ("srht", "gaussian"):
        for m in (200, 1000):
            res = sparsketch.lstsq(A, b, method="sketch", sketch=kind, sketch_size=m, seed=7)
            assert res.method == "sketch" and res.sketch == kind and res.iterations == 0
            eps_m = math.sqrt(d * math.log(n / 0.1) ** 3 / m)
            assert np.max(np.abs(res.x - xs)) <= eps_m / math.sqrt(d) * r * pinv_norm


def test_sketch_and_solve_error_shrinks_with_m(rng):
    A, b, xs = known_problem(rng, 4096, 10, 10.0, resid=1.0)
    errs = [np.linalg.norm(sparsketch.lstsq(A, b, method="sketch", sketch_size=m, seed=1).x - xs)
            for m in (40, 400, 4000)]
    assert errs[2] < errs[1] < errs[0]


def test_auto_method_choice(rng):
    small = rng.standard_normal((50, 5)), rng.standard_normal(50)
    assert sparsketch.lstsq(*small).method == "lapack"
    square = rng.standard_normal((300, 300)), rng.standard_normal(300)
    res = sparsketch.lstsq(*square)
    assert res.method == "lapack"
    np.testing.assert_allclose(res.x, np.linalg.solve(*square), rtol=1e-8)
    tall = rng.standard_normal((20000, 20)), rng.standard_normal(20000)
    assert sparsketch.lstsq(*tall).method == "precondition"
    wide = rng.standard_normal((10, 40)), rng.standard_normal(10)
    r = sparsketch.lstsq(*wide)
    assert r.method == "lapack" and r.x.shape == (40,)


def test_float32(rng):
    A, b, xs = known_problem(rng, 4000, 20, 10.0)
    res = sparsketch.lstsq(A.astype(np.float32), b.astype(np.float32), method="precondition", seed=0)
    assert res.x.dtype == np.float32
    assert rel(res.x.astype(np.float64), xs) <= 1e-4
    # mixed dtypes promote like NumPy
    assert sparsketch.lstsq(A.astype(np.float32), b, method="precondition", seed=0).x.dtype == np.float64


def test_reproducible_and_thread_independent(rng):
    A, b, _ = known_problem(rng, 5000, 30, 1e5)
    r1 = sparsketch.lstsq(A, b, method="precondition", seed=9, n_threads=1)
    r2 = sparsketch.lstsq(A, b, method="precondition", seed=9, n_threads=2)
    r3 = sparsketch.lstsq(A, b, method="precondition", seed=9, n_threads=3)
    assert np.array_equal(r1.x, r2.x) and np.array_equal(r1.x, r3.x)
    rn = sparsketch.lstsq(A, b, method="precondition", seed=None)
    assert rn.seed is not None
    np.testing.assert_array_equal(sparsketch.lstsq(A, b, method="precondition", seed=rn.seed).x, rn.x)


@pytest.mark.parametrize("call,exc,match", [
    (lambda A, b: sparsketch.lstsq(A, b[:-1]), ValueError, "b"),
    (lambda A, b: sparsketch.lstsq(A, np.where(np.arange(b.size) == 3, np.nan, b)), ValueError, "b.*NaN"),
    (lambda A, b: sparsketch.lstsq(np.where(A > 2, np.inf, A), b), ValueError, "A.*NaN"),
    (lambda A, b: sparsketch.lstsq(A[:10], b[:10], method="precondition"), ValueError, "n >= d"),
    (lambda A, b: sparsketch.lstsq(A, b, method="qr"), ValueError, "method"),
    (lambda A, b: sparsketch.lstsq(A, b, method="precondition", sketch="fft"), ValueError, "sketch"),
    (lambda A, b: sparsketch.lstsq(A, b, method="precondition", sketch_size=5), ValueError, "sketch_size"),
    (lambda A, b: sparsketch.lstsq(A[None], b), ValueError, "A"),
    (lambda A, b: sparsketch.lstsq(A, b[:, None, None]), ValueError, "b"),
    (lambda A, b: sparsketch.lstsq(A.astype(complex), b), TypeError, "A"),
    (lambda A, b: sparsketch.lstsq(np.zeros((0, 3)), np.zeros(0)), ValueError, "A"),
    (lambda A, b: sparsketch.lstsq(A, b, rtol=-1.0, method="precondition"), ValueError, "rtol"),
    (lambda A, b: sparsketch.lstsq(A, b, seed="x", method="precondition"), TypeError, "seed"),
])
def test_bad_input(call, exc, match, rng):
    A = rng.standard_normal((500, 20))
    b = rng.standard_normal(500)
    with pytest.raises(exc, match=match):
        call(A, b)


def test_bad_sparse_structure(rng):
    A = sp.csr_array(rng.standard_normal((100, 5)))
    A.indices[3] = 9
    with pytest.raises(IndexError, match="A.indices"):
        sparsketch.lstsq(A, rng.standard_normal(100), method="precondition")
