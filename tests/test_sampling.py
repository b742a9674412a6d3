"""leverage_scores, lewis_weights, sensitivities, sample_rows, lp_regression against LAPACK,
closed forms, linear programming and statistical tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

import sparsketch
from sparsketch import _core
from reference import (lad_linprog, leverage_qr, lewis_fixed_point_residual, lp_distortion,
                       lp_objective_minimize)

# Float64 scores from an orthonormal basis computed to rounding: |tau - tau_ref| <= c d eps
# (CholeskyQR after preconditioning to cond <= 3 has orthogonality error ~ eps cond^2, and
# LAPACK's SVD basis ~ n eps); float32 data: the same with float32's eps.
def _tol(dtype, d):
    return 200 * d * float(np.finfo(dtype).eps)


def coherent(rng, n, d, dtype=np.float64, k=5):
    """Gaussian rows plus k rows scaled by 1e3 (leverage ~ 1): a few huge-leverage rows."""
    A = rng.standard_normal((n, d))
    A[:k] *= 1e3
    return A.astype(dtype)


# ------------------------------------------------------------------------------- leverage


@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_exact_leverage_dense(rng, dtype, layout):
    A = coherent(rng, 3000, 10, dtype)
    ref = leverage_qr(A.astype(np.float64))
    X = {"C": A, "F": np.asfortranarray(A), "strided": np.repeat(A, 2, axis=1)[:, ::2]}[layout]
    tau = sparsketch.leverage_scores(X, method="exact", seed=1)
    assert tau.dtype == dtype and tau.shape == (3000,)
    np.testing.assert_allclose(tau, ref, rtol=0, atol=_tol(dtype, 10) * max(1, ref.max()))
    assert abs(tau.sum() - 10) < 1e-3 if dtype == np.float32 else abs(tau.sum() - 10) < 1e-10


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_exact_leverage_sparse(rng, dtype, index_dtype, fmt):
    A = sp.random(3000, 12, density=0.3, random_state=rng, format="csr", dtype=np.float64)
    A = A.tolil()
    A[0] = 1e3 * rng.standard_normal(12)  # a coherent row
    A = sp.csr_array(A).astype(dtype)
    A.indices = A.indices.astype(index_dtype)
    A.indptr = A.indptr.astype(index_dtype)
    ref = leverage_qr(A.astype(np.float64))
    tau = sparsketch.leverage_scores(A.asformat(fmt), method="exact", seed=3)
    assert tau.dtype == dtype
    np.testing.assert_allclose(tau, ref, rtol=0, atol=_tol(dtype, 12))


def test_rank_deficient_scores_sum_to_rank(rng):
    A = rng.standard_normal((2000, 12))
    A[:, 5] = A[:, 3] - 2 * A[:, 4]  # rank 11
    A[:, 7] = 0.0  # rank 10
    A[:3] *= 1e3
    for method in ("exact", "approx"):
        tau = sparsketch.leverage_scores(A, method=method, seed=0)
        if method == "exact":
            np.testing.assert_allclose(tau, leverage_qr(A), rtol=0, atol=1e-11)
            assert abs(tau.sum() - 10) < 1e-10
        assert np.all(tau >= 0)
    # small problems take the direct (SVD) route and agree too
    tau_small = sparsketch.leverage_scores(A[:40], method="exact")
    np.testing.assert_allclose(tau_small, leverage_qr(A[:40]), atol=1e-12)


@pytest.mark.parametrize("lam", [1e-3, 1.0, 1e3])
def test_ridge_leverage_closed_form(rng, lam):
    A = coherent(rng, 2500, 10)
    ref = np.einsum("ij,jk,ik->i", A, np.linalg.inv(A.T @ A + lam * np.eye(10)), A)
    tau = sparsketch.leverage_scores(A, method="exact", ridge=lam, seed=2)
    np.testing.assert_allclose(tau, ref, rtol=1e-10, atol=1e-14)
    s = np.linalg.svd(A, compute_uv=False)
    assert tau.sum() == pytest.approx(np.sum(s**2 / (s**2 + lam)), rel=1e-10)
    tau_sp = sparsketch.leverage_scores(sp.csr_array(A), method="exact", ridge=lam, seed=2)
    np.testing.assert_allclose(tau_sp, ref, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("sparse", [False, True])
def test_approx_leverage_within_documented_factor(rng, sparse):
    # Notes of leverage_scores: with a subspace embedding of distortion e the scores are within
    # [1/(1+e)^2, 1/(1-e)^2] of the exact ones (times the bias factor (m-d-1)/m sparsketch
    # applies). For a sparse sign sketch of m = 20 d + 8 rows e ~ sqrt(d/m) = 0.22; we allow
    # e = 1.5 sqrt(d/m), a margin for the sparse sketch's constant.
    n, d = 6000, 15
    A = coherent(rng, n, d)
    X = sp.csr_array(A) if sparse else A
    ref = leverage_qr(A)
    tau = sparsketch.leverage_scores(X, method="approx", seed=4)
    m = 20 * d + 8
    e = 1.5 * math.sqrt(d / m)
    bias = (m - d - 1) / m
    ratio = tau / ref
    assert ratio.min() >= bias / (1 + e) ** 2 and ratio.max() <= bias / (1 - e) ** 2
    # the bias correction centres the typical row: median ratio within 4 sqrt(2/m) of 1
    assert abs(np.median(ratio) - 1) < 4 * math.sqrt(2 / m)


def test_approx_leverage_jl_projection(rng):
    # With jl_dim = k a score is the sketched score times a chi^2_k / k factor (G is shared by
    # the rows, so rows are not independent; seeds are): for one row over independent seeds,
    # the ratio to the no-JL score (same sketch, same seed) is i.i.d. chi^2_k / k.
    A = rng.standard_normal((600, 40))
    k = 16
    ratio = []
    for t in range(200):
        base = sparsketch.leverage_scores(A, method="approx", seed=t, jl_dim=40)  # k = r: no JL
        jl = sparsketch.leverage_scores(A, method="approx", seed=t, jl_dim=k)
        ratio.append(jl[7] / base[7])
    # Kolmogorov-Smirnov against chi^2_k / k at significance 1e-3
    assert stats.kstest(np.array(ratio) * k, stats.chi2(k).cdf).pvalue > 1e-3


def test_leverage_thread_and_seed_determinism(rng):
    A = coherent(rng, 5000, 20)
    S = sp.csr_array(np.where(rng.random(A.shape) < 0.3, A, 0.0))
    for X in (A, S):
        for method in ("exact", "approx"):
            a = sparsketch.leverage_scores(X, method=method, seed=7, n_threads=1)
            b = sparsketch.leverage_scores(X, method=method, seed=7, n_threads=2)
            assert np.array_equal(a, b)
    a = sparsketch.leverage_scores(A, method="approx", seed=7)
    b = sparsketch.leverage_scores(A, method="approx", seed=8)
    assert not np.array_equal(a, b)


def test_leverage_edge_cases():
    assert sparsketch.leverage_scores(np.zeros((0, 3))).shape == (0,)
    np.testing.assert_array_equal(sparsketch.leverage_scores(np.zeros((5, 0))), np.zeros(5))
    np.testing.assert_array_equal(sparsketch.leverage_scores(np.zeros((100, 3))), np.zeros(100))
    np.testing.assert_allclose(sparsketch.leverage_scores(np.eye(4)), np.ones(4))
    # ints become float64
    assert sparsketch.leverage_scores(np.arange(12).reshape(6, 2)).dtype == np.float64


def test_leverage_bad_input():
    A = np.ones((10, 2))
    with pytest.raises(ValueError, match="method"):
        sparsketch.leverage_scores(A, method="qr")
    with pytest.raises(ValueError, match="ridge"):
        sparsketch.leverage_scores(A, ridge=-1.0)
    with pytest.raises(ValueError, match="sketch"):
        sparsketch.leverage_scores(A, sketch="bogus")
    with pytest.raises(ValueError, match="sketch_size"):
        sparsketch.leverage_scores(A, sketch_size=1)
    with pytest.raises(ValueError, match="jl_dim"):
        sparsketch.leverage_scores(A, jl_dim=0)
    with pytest.raises(ValueError, match="NaN"):
        sparsketch.leverage_scores(np.full((4, 2), np.nan))
    with pytest.raises(ValueError, match="A"):
        sparsketch.leverage_scores(np.ones(5))
    with pytest.raises(TypeError, match="A"):
        sparsketch.leverage_scores(np.ones((4, 2), complex))
    bad = sp.csr_array((np.ones(2), np.array([0, 7]), np.array([0, 1, 2])), shape=(2, 3))
    with pytest.raises((ValueError, IndexError), match="A"):
        sparsketch.leverage_scores(bad)


# --------------------------------------------------------------------------- Lewis weights


@pytest.mark.parametrize("p", [1.0, 1.5, 3.0, 6.0])
@pytest.mark.parametrize("sparse", [False, True])
def test_lewis_weights_fixed_point(rng, p, sparse):
    A = coherent(rng, 1500, 8)
    X = sp.csr_array(np.where(rng.random(A.shape) < 0.6, A, 0.0)) if sparse else A
    w = sparsketch.lewis_weights(X, p, tol=1e-10, seed=0)
    assert w.sum() == pytest.approx(8, rel=1e-8)
    # The fixed point w = tau(W^{1/2-1/p} A), checked with LAPACK leverage scores; the
    # iteration stops at a log-change of 1e-10, so the residual is ~1e-10 / (1 - rate).
    assert lewis_fixed_point_residual(X, w, p) < 1e-8


def test_lewis_weights_p2_are_leverage_scores(rng):
    A = coherent(rng, 2000, 6)
    np.testing.assert_allclose(sparsketch.lewis_weights(A, 2, seed=0), leverage_qr(A),
                               atol=1e-12)


def test_lewis_weights_approx_and_threads(rng):
    A = coherent(rng, 4000, 10)
    exact = sparsketch.lewis_weights(A, 1, method="exact", seed=0)
    approx = sparsketch.lewis_weights(A, 1, method="approx", seed=0)
    r = approx / exact  # within the sketch factor (see leverage_scores' Notes)
    assert r.min() > 0.5 and r.max() < 2.0
    for method in ("exact", "approx"):
        assert np.array_equal(sparsketch.lewis_weights(A, 1, method=method, seed=3, n_threads=1),
                              sparsketch.lewis_weights(A, 1, method=method, seed=3, n_threads=2))


def test_lewis_weights_bad_input():
    A = np.ones((10, 2))
    with pytest.raises(ValueError, match="p"):
        sparsketch.lewis_weights(A, 0.5)
    with pytest.raises(ValueError, match="p"):
        sparsketch.lewis_weights(A, math.inf)
    with pytest.raises(TypeError, match="p"):
        sparsketch.lewis_weights(A, "1")
    with pytest.raises(ValueError, match="tol"):
        sparsketch.lewis_weights(A, 1, tol=0)
    with pytest.raises(ValueError, match="maxiter"):
        sparsketch.lewis_weights(A, 1, maxiter=0)
    with pytest.warns(sparsketch.exceptions.ConvergenceWarning):
        sparsketch.lewis_weights(np.random.default_rng(0).standard_normal((200, 3)), 1,
                                 maxiter=1, tol=1e-12)


# --------------------------------------------------------------------------- sensitivities


@pytest.mark.parametrize("p", [1.0, 1.5, 3.0])
def test_sensitivity_bounds_dominate_exact(rng, p):
    A = coherent(rng, 150, 3, k=2)
    ub = sparsketch.sensitivities(A, p, seed=0)
    ex = sparsketch.sensitivities(A, p, method="exact", tol=1e-9)
    assert np.all(ex <= ub * (1 + 1e-6))
    assert np.all((ex > 0) & (ex <= 1))
    # total sensitivity <= d^{max(1, p/2)} (Lewis' theorem via the bound)
    assert ex.sum() <= 3 ** max(1, p / 2) * (1 + 1e-6)


def test_exact_sensitivity_against_linear_programs(rng):
    # sigma_i = 1 / min{ ||A x||_1 : a_i^T x = 1 }, each a linear program (HiGHS).
    from scipy.optimize import linprog
    A = rng.standard_normal((60, 3))
    ex = sparsketch.sensitivities(A, 1, method="exact", tol=1e-10)
    n, d = A.shape
    for i in (0, 17, 59):
        cost = np.r_[np.zeros(d), np.ones(n)]
        # |A x| <= t:  A x - t <= 0, -A x - t <= 0
        Aub = np.block([[A, -np.eye(n)], [-A, -np.eye(n)]])
        res = linprog(cost, A_ub=Aub, b_ub=np.zeros(2 * n), A_eq=np.r_[A[i], np.zeros(n)][None],
                      b_eq=[1.0], bounds=[(None, None)] * d + [(0, None)] * n, method="highs")
        assert ex[i] == pytest.approx(1 / res.fun, rel=1e-6)


def test_sensitivities_p2_are_leverage(rng):
    A = coherent(rng, 500, 4)
    np.testing.assert_allclose(sparsketch.sensitivities(A, 2), leverage_qr(A), atol=1e-12)
    np.testing.assert_allclose(sparsketch.sensitivities(A[:80], 2, method="exact", tol=1e-10),
                               leverage_qr(A[:80]), rtol=1e-6)


def test_sensitivities_bad_input():
    with pytest.raises(ValueError, match="method"):
        sparsketch.sensitivities(np.ones((5, 2)), 1, method="lp")


# ------------------------------------------------------------------------------ sampling


def test_poisson_inclusion_probabilities(rng):
    A = coherent(rng, 400, 4)
    m = 60
    s0 = sparsketch.sample_rows(A, m, scores="leverage", seed=0)
    pi = s0.probabilities
    tau = leverage_qr(A)
    # pi = min(1, c tau) with sum(pi) = m
    assert pi.sum() == pytest.approx(m, rel=1e-12)
    capped = pi >= 1
    c = pi[~capped] / tau[~capped]
    np.testing.assert_allclose(c, c[0], rtol=1e-8)
    assert np.all(c[0] * tau[capped] >= 1 - 1e-12)
    np.testing.assert_allclose(s0.weights, 1 / pi[s0.indices])
    # Inclusion counts over T independent seeds: sum_i (c_i - T pi_i)^2 / (T pi_i (1 - pi_i))
    # is approximately chi^2 with (#rows with 0 < pi < 1) degrees of freedom. Significance
    # 1e-3 at the fixed seed.
    T = 400
    counts = np.zeros(400)
    for t in range(T):
        counts[sparsketch.sample_rows(A, m, scores="leverage", seed=1000 + t).indices] += 1
    assert np.all(counts[capped] == T)
    free = ~capped & (pi > 0)
    stat = np.sum((counts[free] - T * pi[free]) ** 2 / (T * pi[free] * (1 - pi[free])))
    assert stats.chi2(free.sum()).sf(stat) > 1e-3


def test_with_replacement_multinomial(rng):
    A = coherent(rng, 50, 3)
    q = rng.random(50) + 0.1
    s = sparsketch.sample_rows(A, 20000, scores=q, replace=True, seed=3)
    prob = q / q.sum()
    np.testing.assert_allclose(s.probabilities, prob)
    counts = np.bincount(s.indices, minlength=50)
    assert stats.chisquare(counts, 20000 * prob).pvalue > 1e-3  # significance 1e-3
    np.testing.assert_allclose(s.weights, 1 / (20000 * prob[s.indices]))
    assert np.all(np.diff(s.indices) >= 0)


def test_unbiased_weights(rng):
    # E[sum_j w_j f(i_j)] = sum_i f(i): the mean over many samples is within 5 standard errors.
    A = coherent(rng, 300, 4)
    f = rng.random(300)
    for replace in (False, True):
        est = [np.sum(s.weights * f[s.indices])
               for s in (sparsketch.sample_rows(A, 40, scores="root_leverage", replace=replace,
                                                seed=t) for t in range(400))]
        assert abs(np.mean(est) - f.sum()) < 5 * np.std(est) / math.sqrt(len(est))


def test_volume_sampling_marginals(rng):
    # A projection DPP with kernel U U^T includes row i with probability tau_i and picks exactly
    # rank(A) distinct rows per repetition.
    A = coherent(rng, 40, 3, k=2)
    tau = leverage_qr(A)
    T = 1500
    counts = np.zeros(40)
    for t in range(T):
        s = sparsketch.sample_rows(A, 3, scores="volume", seed=t)
        assert s.size == 3 and len(set(s.indices.tolist())) == 3
        counts[s.indices] += 1
    np.testing.assert_allclose(s.weights, 1 / tau[s.indices], rtol=1e-10)
    z = (counts - T * tau) / np.sqrt(T * tau * (1 - tau) + 1e-300)
    ok = (tau > 1e-9) & (tau < 1 - 1e-9)
    # Bonferroni over 40 rows at overall significance 1e-3: |z| < 4.1
    assert np.all(np.abs(z[ok]) < 4.1)
    s = sparsketch.sample_rows(A, 9, scores="volume", seed=1)
    assert s.size == 9  # three repetitions
    np.testing.assert_allclose(s.weights, 1 / (3 * tau[s.indices]), rtol=1e-10)


def test_leverage_sampling_embedding_bound(rng):
    # Matrix Chernoff (Tropp 2012): Poisson sampling by leverage scores with expected size m
    # gives ||(SU)^T SU - I|| <= e with probability >= 1 - 2 d exp(-m e^2 / (3 d)); at
    # delta = 1e-3, e = sqrt(3 d ln(2 d / delta) / m). Singular values of S A R^-1 in
    # [sqrt(1 - e), sqrt(1 + e)].
    A = coherent(rng, 20000, 10)
    m = 3000
    e = math.sqrt(3 * 10 * math.log(2 * 10 / 1e-3) / m)
    s = sparsketch.sample_rows(A, m, scores="leverage", seed=11)
    dist = lp_distortion(A, s.apply(A), 2, rng)
    assert dist <= 1 / math.sqrt(1 - e) - 1
    # uniform sampling misses the coherent rows: far worse
    u = sparsketch.sample_rows(A, m, scores="uniform", seed=11)
    assert lp_distortion(A, u.apply(A), 2, rng) > dist


@pytest.mark.parametrize("scores", ["lewis", "root_leverage", "sensitivity"])
def test_l1_embedding_distortion(rng, scores):
    # l_1 embeddings by Lewis weights need O(d log d / e^2) rows (Cohen-Peng); root leverage
    # ~d (Woodruff-Yasuda). At m = 3000 rows for d = 8, the empirical distortion (a lower bound
    # over ~4000 test directions) measured 0.025-0.028; we assert the bound
    # e <= sqrt(d ln(d / delta) / m) with delta = 1e-3 (0.36), and far below uniform sampling.
    A = coherent(rng, 20000, 8)
    m = 3000
    s = sparsketch.sample_rows(A, m, scores=scores, p=1, seed=12)
    dist = lp_distortion(A, s.apply(A), 1, rng)
    assert dist <= math.sqrt(8 * math.log(8 / 1e-3) / m)
    u = sparsketch.sample_rows(A, m, scores="uniform", p=1, seed=12)
    assert lp_distortion(A, u.apply(A), 1, rng) > 2 * dist


def test_sample_apply_sparse_and_b(rng):
    A = coherent(rng, 500, 4)
    b = rng.standard_normal(500)
    s = sparsketch.sample_rows(A, 50, scores="lewis", p=1, seed=0)
    SA, Sb = s.apply(A, b)
    np.testing.assert_allclose(SA, A[s.indices] * s.weights[:, None])
    np.testing.assert_allclose(Sb, b[s.indices] * s.weights)
    SAs = s.apply(sp.csr_array(A))
    assert sp.issparse(SAs)
    np.testing.assert_allclose(SAs.toarray(), SA)
    s2 = sparsketch.sample_rows(A, 50, scores="leverage", p=2, seed=0)
    np.testing.assert_allclose(s2.apply(A), A[s2.indices] * np.sqrt(s2.weights)[:, None])
    with pytest.raises(ValueError, match="A"):
        s.apply(A[:10])
    with pytest.raises(ValueError, match="b"):
        s.apply(A, b[:10])


def test_sampling_threads_and_seed(rng):
    A = coherent(rng, 3000, 6)
    for sc in ("leverage", "lewis", "leverage+sensitivity", "volume"):
        a = sparsketch.sample_rows(A, 100, scores=sc, p=3, seed=5, n_threads=1)
        b = sparsketch.sample_rows(A, 100, scores=sc, p=3, seed=5, n_threads=2)
        assert np.array_equal(a.indices, b.indices) and np.array_equal(a.weights, b.weights)
    s = sparsketch.sample_rows(A, 100, seed=None)
    t = sparsketch.sample_rows(A, 100, seed=s.seed)
    assert np.array_equal(s.indices, t.indices)


def test_sample_rows_edge_and_bad_input(rng):
    A = coherent(rng, 100, 3)
    s = sparsketch.sample_rows(A, 500, seed=0)  # m >= n: every row, weight 1
    np.testing.assert_array_equal(s.indices, np.arange(100))
    np.testing.assert_array_equal(s.weights, np.ones(100))
    with pytest.raises(ValueError, match="m"):
        sparsketch.sample_rows(A, 0)
    with pytest.raises(ValueError, match="scores"):
        sparsketch.sample_rows(A, 10, scores="bogus")
    with pytest.raises(ValueError, match="scores"):
        sparsketch.sample_rows(A, 10, scores=np.ones(5))
    with pytest.raises(ValueError, match="scores"):
        sparsketch.sample_rows(A, 10, scores=-np.ones(100))
    with pytest.raises(ValueError, match="scores"):
        sparsketch.sample_rows(A, 10, scores=np.zeros(100))
    with pytest.raises(TypeError, match="replace"):
        sparsketch.sample_rows(A, 10, replace=1)
    with pytest.raises(ValueError, match="A"):
        sparsketch.sample_rows(np.zeros((0, 3)), 10)
    with pytest.raises(ValueError, match="zero"):
        sparsketch.sample_rows(np.zeros((50, 3)), 10, scores="leverage")
    with pytest.raises(ValueError, match="NaN"):
        sparsketch.sample_rows(np.full((5, 2), np.inf), 2)


# ------------------------------------------------------------------------- lp regression


def _lad_problem(rng, n, d, outliers=0.01):
    A = rng.standard_normal((n, d))
    b = A @ rng.standard_normal(d) + rng.laplace(size=n)
    k = int(outliers * n)
    b[:k] += 50 * rng.standard_normal(k)
    return A, b


@pytest.mark.parametrize("method", ["full", "lewis", "sensitivity", "root_leverage", "uniform"])
def test_lad_against_linprog(rng, method):
    A, b = _lad_problem(rng, 3000, 5)
    _, opt = lad_linprog(A, b)
    res = sparsketch.lp_regression(A, b, 1, method=method, sample_size=800, seed=0, tol=1e-7,
                                   maxiter=400)
    assert res.objective >= opt * (1 - 1e-9)
    if method == "full":  # IRLS to relative tolerance 1e-7 (smoothing <= tol/2, stop at tol/10)
        assert res.objective <= opt * (1 + 1e-6)
        assert res.coreset_size == 3000
    else:
        # coreset of ~800 rows: the objective at its minimizer is within (1 + e)/(1 - e) of
        # the optimum; measured ~1.002-1.005 here; asserted 1.03.
        assert res.objective <= opt * 1.03
        assert res.coreset_size < 1000
    pol = sparsketch.lp_regression(A, b, 1, method=method, sample_size=800, seed=0, tol=1e-7,
                                   polish=True)
    assert pol.objective <= opt * (1 + 1e-6)


def test_weighted_coreset_irls_matches_weighted_lp(rng):
    # The coreset solve is a weighted LAD: compare with the weighted LP on the same sample.
    from sparsketch.leverage import _Design
    from sparsketch.lp_regression import _irls
    A, b = _lad_problem(rng, 400, 4)
    c = rng.random(400) * 3 + 0.1
    _, opt = lad_linprog(A, b, c)
    x, f, _, conv = _irls(_Design(A, 1), b, 1.0, c, tol=1e-9, maxiter=500)
    assert conv and opt * (1 - 1e-9) <= f <= opt * (1 + 1e-7)


@pytest.mark.parametrize("p", [1.5, 3.0, 4.5])
def test_lp_regression_other_p(rng, p):
    A, b = _lad_problem(rng, 2000, 4, outliers=0)
    x_ref, opt = lp_objective_minimize(A, b, p, np.linalg.lstsq(A, b, rcond=None)[0])
    res = sparsketch.lp_regression(A, b, p, method="full", tol=1e-10)
    assert res.objective == pytest.approx(opt, rel=1e-7)
    assert res.residual_norm == pytest.approx(opt ** (1 / p), rel=1e-7)
    cs = sparsketch.lp_regression(A, b, p, method="lewis", sample_size=600, seed=1)
    assert opt <= cs.objective * (1 + 1e-9) and cs.objective <= opt * 1.05


def test_lp_regression_p2_is_lstsq(rng):
    A, b = _lad_problem(rng, 3000, 6, outliers=0)
    res = sparsketch.lp_regression(A, b, 2, seed=0)
    x = np.linalg.lstsq(A, b, rcond=None)[0]
    np.testing.assert_allclose(res.x, x, rtol=1e-9, atol=1e-12)
    assert res.method == "lstsq"


def test_lp_regression_sparse_float32_threads(rng):
    A, b = _lad_problem(rng, 4000, 6)
    A[rng.random(A.shape) < 0.5] = 0.0
    _, opt = lad_linprog(A, b)
    As = sp.csr_array(A)
    res = sparsketch.lp_regression(As, b, 1, sample_size=1000, seed=2, polish=True)
    assert res.objective <= opt * (1 + 1e-5)
    r32 = sparsketch.lp_regression(A.astype(np.float32), b.astype(np.float32), 1,
                                   method="full", tol=1e-5)
    assert r32.x.dtype == np.float32
    assert r32.objective <= opt * (1 + 1e-3)  # float32 data: residuals carry ~1e-7 relative
    a = sparsketch.lp_regression(A, b, 1, sample_size=1000, seed=4, n_threads=1)
    c = sparsketch.lp_regression(A, b, 1, sample_size=1000, seed=4, n_threads=2)
    assert np.array_equal(a.x, c.x)


def test_lp_regression_bad_input(rng):
    A, b = _lad_problem(rng, 100, 3)
    with pytest.raises(ValueError, match="p"):
        sparsketch.lp_regression(A, b, 0.5)
    with pytest.raises(ValueError, match="method"):
        sparsketch.lp_regression(A, b, 1, method="qr")
    with pytest.raises(ValueError, match="b"):
        sparsketch.lp_regression(A, b[:50], 1)
    with pytest.raises(ValueError, match="b"):
        sparsketch.lp_regression(A, np.c_[b, b], 1)
    with pytest.raises(ValueError, match="sample_size"):
        sparsketch.lp_regression(A, b, 1, sample_size=0)
    with pytest.raises(ValueError, match="A"):
        sparsketch.lp_regression(np.zeros((0, 3)), np.zeros(0), 1)
    with pytest.raises(ValueError, match="NaN"):
        sparsketch.lp_regression(A, np.full(100, np.nan), 1)
    with pytest.raises(TypeError, match="polish"):
        sparsketch.lp_regression(A, b, 1, polish="yes")


def test_row_norms_float32_product_within_bound(rng):
    """The float32 product used by approximate scores on well-conditioned dense float64 input:
    relative error of ||a_i M||^2 within 2 (d + 2) u32 sqrt(k) kappa(M) (row_norms_product_f32),
    against the float64 product in NumPy."""
    n, d = 5000, 40
    A = rng.standard_normal((n, d))
    M = np.linalg.qr(rng.standard_normal((d, d)))[0] * np.logspace(0, 1, d)  # kappa(M) = 10
    ref = np.sum((A @ M) ** 2, axis=1)
    out = np.empty(n)
    _core.row_norms_product_dense(A, M, None, out, 2, True)
    bound = 2 * (d + 2) * 2.0**-24 * math.sqrt(d) * 10.0
    rel = np.abs(out / ref - 1)
    assert rel.max() <= bound, (rel.max(), bound)
    assert rel.max() > 1e-12  # the product did run in float32
    out1 = np.empty(n)
    _core.row_norms_product_dense(A, M, None, out1, 1, True)
    np.testing.assert_array_equal(out, out1)  # thread-count independent


@pytest.mark.parametrize("shape", [(300, 12), (12, 12), (5, 9), (1, 1)])
def test_small_svd_matches_numpy(shape, rng):
    """The C++ QR + SVD behind the sketch preconditioner: singular values and the row space
    agree with numpy.linalg.svd to a small multiple of eps * sigma_max."""
    Y = rng.standard_normal(shape) * np.logspace(0, -6, shape[1])
    sv, Vt = sparsketch._core.small_svd(Y)
    ref_sv, ref_Vt = np.linalg.svd(Y, full_matrices=False)[1:]
    tol = 100 * max(shape) * np.finfo(np.float64).eps * ref_sv[0]
    assert np.allclose(sv, ref_sv, rtol=0, atol=tol)
    assert np.allclose(Vt @ Vt.T, np.eye(len(sv)), atol=1e-12)
    # Vt spans the row space: Y Vt^T Vt = Y, and each right vector carries its singular value
    assert np.allclose(Y @ Vt.T @ Vt, Y, rtol=0, atol=tol)
    assert np.allclose(np.linalg.norm(Y @ Vt.T, axis=0), sv, rtol=0, atol=tol)
