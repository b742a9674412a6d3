"""Bayesian matrix factorization (BPMF, Gibbs sampling): the C++ conditional draws against
their closed-form Gaussian posteriors, the hyperparameter draw against a NumPy reference, and
the estimator on seeded synthetic problems."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import sparsketch
from sparsketch import _core
from sparsketch import bayesian_completion as bc
from reference import gaussian_row_posterior, normal_wishart_posterior_draw


def _csr_tuple(A):
    A = sp.csr_array(A)
    return (A.indptr, A.indices, A.data, A.shape[0], A.shape[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normal_wishart_draw_matches_numpy(dtype):
    rng = np.random.default_rng(0)
    N, k = 400, 6
    F = (rng.standard_normal((N, k)) * rng.uniform(0.2, 2, k) + rng.standard_normal(k)).astype(dtype)
    z_a = rng.standard_normal((k, k))
    chi2 = rng.chisquare(k + N - np.arange(k))
    z_mu = rng.standard_normal(k)
    mu, Lam = _core.normal_wishart_draw(F, 2.0, z_a, chi2, z_mu)
    mu_ref, Lam_ref = normal_wishart_posterior_draw(F, 2.0, z_a, chi2, z_mu)
    assert mu.dtype == dtype and Lam.dtype == dtype
    # both sides compute in float64 from the same inputs; float32 outputs are rounded once
    tol = 1e-10 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(Lam, Lam_ref, rtol=tol, atol=tol * np.abs(Lam_ref).max())
    np.testing.assert_allclose(mu, mu_ref, rtol=tol, atol=tol * np.abs(mu_ref).max())
    np.testing.assert_array_equal(Lam, Lam.T)


def test_normal_wishart_draw_mean_over_draws():
    # E[Lambda] = (nu0 + N) W*: averaging 4000 draws must land within a few standard errors
    rng = np.random.default_rng(1)
    N, k = 30, 3
    F = rng.standard_normal((N, k))
    W = np.linalg.inv(np.eye(k) + np.cov(F, rowvar=False, bias=True) * N
                      + 2.0 * N / (2.0 + N) * np.outer(F.mean(0), F.mean(0)))
    draws = []
    for _ in range(4000):
        _, Lam = _core.normal_wishart_draw(F, 2.0, rng.standard_normal((k, k)),
                                           rng.chisquare(k + N - np.arange(k)),
                                           rng.standard_normal(k))
        draws.append(Lam)
    draws = np.array(draws)
    expected = (k + N) * W
    # Var(Lambda_ij) = nu (W_ij^2 + W_ii W_jj): standard error of the mean over 4000 draws
    se = np.sqrt((k + N) * (W ** 2 + np.outer(np.diag(W), np.diag(W))) / len(draws))
    assert np.all(np.abs(draws.mean(0) - expected) < 5 * se)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gibbs_half_step_draws_from_the_conditional_posterior(dtype):
    # m identical rows (same observations) are m independent draws of one Gaussian posterior;
    # a last row without observations is a draw from the prior.
    rng = np.random.default_rng(2)
    m, n, k, s = 20000, 40, 3, 6
    V = rng.standard_normal((n, k)).astype(dtype)
    cols = np.sort(rng.choice(n, s, replace=False))
    y = rng.standard_normal(s) + 3.0
    mu_glob, alpha = 3.0, 2.5
    B = rng.standard_normal((k, k))
    Lam = (B @ B.T + k * np.eye(k)).astype(dtype)
    mean = rng.standard_normal(k).astype(dtype)
    rows = np.repeat(np.arange(m), s)
    R = sp.csr_array((np.tile(y, m), (rows, np.tile(cols, m))), shape=(m + 1, n), dtype=dtype)
    U = np.zeros((m + 1, k), dtype=dtype)
    shifted = _core.gibbs_half_step(_csr_tuple(R), V, mu_glob, alpha, Lam, mean, U, 7, 2)
    assert shifted == 0
    pm, pc = gaussian_row_posterior(V[cols].astype(np.float64), y - mu_glob, alpha,
                                    Lam.astype(np.float64), mean.astype(np.float64))
    draws = U[:m].astype(np.float64)
    # sample mean: 5 standard errors per coordinate
    se = np.sqrt(np.diag(pc) / m)
    assert np.all(np.abs(draws.mean(0) - pm) < 5 * se)
    # sample covariance: relative standard error ~ sqrt(2 / m) = 1% per entry; allow 5%
    cov = np.cov(draws, rowvar=False)
    scale = np.sqrt(np.outer(np.diag(pc), np.diag(pc)))
    assert np.all(np.abs(cov - pc) < 0.05 * scale)
    # the prior draw of the empty row is finite and distinct from the posterior draws
    assert np.all(np.isfinite(U[m]))


def test_gibbs_half_step_empty_rows_follow_the_prior():
    rng = np.random.default_rng(3)
    m, n, k = 30000, 5, 2
    R = sp.csr_array((m, n), dtype=np.float64)
    Lam = np.array([[4.0, 1.0], [1.0, 2.0]])
    mean = np.array([1.0, -2.0])
    U = np.empty((m, k))
    _core.gibbs_half_step(_csr_tuple(R), np.ones((n, k)), 0.0, 1.0, Lam, mean, U, 11, 2)
    cov = np.linalg.inv(Lam)
    assert np.all(np.abs(U.mean(0) - mean) < 5 * np.sqrt(np.diag(cov) / m))
    np.testing.assert_allclose(np.cov(U, rowvar=False), cov, rtol=0.05, atol=0.02 * cov.max())


def _noisy_low_rank(seed, m=240, n=180, k=4, frac=0.3, sigma=0.3):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((m, k)) @ rng.standard_normal((k, n)) + 3.0
    mask = rng.random((m, n)) < frac
    i, j = np.nonzero(mask)
    R = sp.csr_array((M[i, j] + sigma * rng.standard_normal(i.size), (i, j)), shape=M.shape)
    return M, mask, R


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_recovers_noisy_low_rank_matrix(dtype):
    # noise sd 0.3, about 54 observations per row for 4 factors: the posterior sd of an entry is
    # about 0.3 * sqrt(2 * 4 / 54) = 0.12, so the unobserved-entry RMSE against the truth is
    # well under the noise level. Measured: 0.1215 (both dtypes); MatrixCompletion(4) with the
    # best of reg in {0.01, 0.03, 0.1} reaches 0.134.
    M, mask, R = _noisy_low_rank(0)
    model = sparsketch.BayesianMatrixCompletion(4, n_samples=60, burn_in=15, alpha=1 / 0.09,
                                                dtype=dtype, seed=0).fit(R)
    i, j = np.nonzero(~mask)
    rmse = np.sqrt(np.mean((model.predict(i, j) - M[i, j]) ** 2))
    assert rmse < 0.15, rmse
    assert model.row_samples_.shape == (60, 240, 4) and model.row_samples_.dtype == dtype
    assert np.isfinite(model.row_factors_).all()
    assert all(h["shifted_rows"] == 0 for h in model.history_)


def test_predict_is_the_average_over_kept_samples_and_history_matches():
    M, mask, R = _noisy_low_rank(1, m=80, n=60, k=3, frac=0.4)
    i, j = np.nonzero(~mask)
    val = sp.csr_array((M[i, j], (i, j)), shape=M.shape)
    model = sparsketch.BayesianMatrixCompletion(3, n_samples=12, burn_in=3, alpha=10.0,
                                                dtype=np.float64, seed=5).fit(R, validation=val)
    brute = model.mean_ + np.mean([U @ V.T for U, V in zip(model.row_samples_,
                                                            model.col_samples_)], axis=0)
    np.testing.assert_allclose(model.predict(i, j), brute[i, j], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(model.predict_all(), brute, rtol=1e-12, atol=1e-12)
    # history: burn-in sweeps have no validation RMSE; the last equals predict's RMSE
    assert [h["burn_in"] for h in model.history_] == [True] * 3 + [False] * 12
    assert model.history_[0]["val_rmse"] is None
    last = model.history_[-1]["val_rmse"]
    assert last == pytest.approx(np.sqrt(np.mean((brute[i, j] - M[i, j]) ** 2)), rel=1e-9)
    assert -model.score(val) == pytest.approx(last, rel=1e-9)
    # thinning keeps every 5th sample: 12 sweeps -> samples 0, 5, 10
    thin = sparsketch.BayesianMatrixCompletion(3, n_samples=12, burn_in=3, alpha=10.0, thin=5,
                                               dtype=np.float64, seed=5).fit(R)
    assert thin.row_samples_.shape[0] == 3
    np.testing.assert_array_equal(thin.row_samples_[1], model.row_samples_[5])


def test_same_seed_same_samples_for_any_thread_count():
    _, _, R = _noisy_low_rank(2, m=150, n=120)
    fits = [sparsketch.BayesianMatrixCompletion(4, n_samples=5, burn_in=2, seed=9, n_threads=t)
            .fit(R) for t in (1, 2)]
    np.testing.assert_array_equal(fits[0].row_samples_, fits[1].row_samples_)
    np.testing.assert_array_equal(fits[0].col_samples_, fits[1].col_samples_)
    other = sparsketch.BayesianMatrixCompletion(4, n_samples=5, burn_in=2, seed=10).fit(R)
    assert not np.array_equal(other.row_samples_, fits[0].row_samples_)


def test_bad_input():
    _, _, R = _noisy_low_rank(3, m=30, n=20, k=2)
    B = sparsketch.BayesianMatrixCompletion
    with pytest.raises(ValueError, match="rank"):
        B(20).fit(R)
    with pytest.raises(ValueError, match="nu0"):
        B(3, nu0=1.5).fit(R)
    with pytest.raises(ValueError, match="alpha"):
        B(2, alpha=0.0).fit(R)
    with pytest.raises(ValueError, match="n_samples"):
        B(2, n_samples=0).fit(R)
    with pytest.raises(ValueError, match="duplicates"):
        B(2, duplicates="first").fit(R)
    with pytest.raises(TypeError, match="dtype"):
        B(2, dtype=np.int32).fit(R)
    bad = R.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        B(2).fit(bad)
    with pytest.raises(ValueError, match="no observed"):
        B(2).fit(sp.csr_array((30, 20)))
    with pytest.raises(IndexError, match="row index"):
        B(2).fit(([0, 40], [1, 2], [1.0, 2.0]), shape=(30, 20))
    with pytest.raises(RuntimeError, match="fit"):
        B(2).predict([0], [0])
    model = B(2, n_samples=2, burn_in=0, seed=0).fit(R)
    with pytest.raises(IndexError, match="cols"):
        model.predict([0], [20])
    with pytest.raises(ValueError, match="one length"):
        model.predict([0, 1], [0])
    with pytest.raises(ValueError, match="set_params"):
        model.set_params(reg=1.0)


def test_sample_storage_beyond_memory_raises(monkeypatch):
    _, _, R = _noisy_low_rank(4, m=30, n=20, k=2)
    monkeypatch.setattr(bc, "_available_bytes", lambda: 1000.0)
    with pytest.raises(MemoryError, match="thin"):
        sparsketch.BayesianMatrixCompletion(2, n_samples=50, seed=0).fit(R)


def test_docstring_example_runs():
    import doctest
    res = doctest.testmod(bc)
    assert res.attempted > 0 and res.failed == 0
