"""Matrix completion (ALS) and its sparse x dense kernels, against NumPy references and
closed-form ground truth on seeded synthetic problems."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import sparsketch
from reference import ridge_rows

SOLVERS = ["cholesky", "cg", "sketch", "auto"]


def _low_rank(rng, m, n, k, cond):
    """Incoherent rank-k matrix with singular values geomspace(cond, 1) * sqrt(mn)/k-ish scale:
    random orthonormal factors (incoherent with high probability)."""
    Qu = np.linalg.qr(rng.standard_normal((m, k)))[0]
    Qv = np.linalg.qr(rng.standard_normal((n, k)))[0]
    s = np.geomspace(cond, 1.0, k) * np.sqrt(m * n / k)
    return (Qu * s) @ Qv.T


def _observe(rng, M, frac):
    mask = rng.random(M.shape) < frac
    i, j = np.nonzero(mask)
    return sp.csr_array((M[i, j], (i, j)), shape=M.shape)


def _rel_err(model, M):
    return np.linalg.norm(model.predict_all() - M) / np.linalg.norm(M)


@pytest.fixture(scope="module")
def recovery_problems():
    rng = np.random.default_rng(20261123)
    out = {}
    for cond in (1.0, 10.0):
        M = _low_rank(rng, 1500, 1500, 10, cond)
        out[cond] = (M, _observe(rng, M, 0.04))
    return out


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("cond,target", [(1.0, 1e-3), (10.0, 1e-2)])
def test_exact_recovery(recovery_problems, solver, cond, target):
    # m = n = 1500, k = 10, 4% observed (60 per row, 6x the degrees of freedom per row):
    # noiseless, so with a vanishing ridge ALS converges to M itself.
    # cond 10 starts from random factors: the SVD of the rescaled 4% sample resolves only the
    # top singular directions at this sampling rate, and unregularized ALS from the noise
    # directions measured to stall at ~0.1-0.3 relative error (DEVNOTES).
    M, R = recovery_problems[cond]
    model = sparsketch.MatrixCompletion(10, reg=1e-8, reg_scaling="none", biases=False,
                                        solver=solver, max_iter=12, tol=0.0, dtype=np.float64,
                                        init="svd" if cond == 1.0 else "random", seed=0).fit(R)
    assert model.n_iter_ <= 12
    assert _rel_err(model, M) <= target


def test_iterative_solvers_track_cholesky(recovery_problems):
    # same start (seeded SVD), same problem: the inexact per-row solves must stay within 1e-3
    # RMSE of the exact ones at every iteration.
    M, R = recovery_problems[10.0]
    hist = {}
    for solver in ("cholesky", "cg", "sketch"):
        model = sparsketch.MatrixCompletion(10, reg=1e-8, reg_scaling="none", biases=False,
                                            solver=solver, max_iter=8, tol=0.0, init="random",
                                            dtype=np.float64, seed=3).fit(R)
        hist[solver] = np.array([h["train_rmse"] for h in model.history_])
    scale = np.sqrt(np.mean(R.data ** 2))
    for solver in ("cg", "sketch"):
        assert np.all(np.abs(hist[solver] - hist["cholesky"]) <= 1e-3 * scale), solver


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_and_float64(dtype, rng):
    M = _low_rank(rng, 300, 250, 4, 3.0)
    R = _observe(rng, M, 0.2)
    model = sparsketch.MatrixCompletion(4, reg=1e-6, reg_scaling="none", biases=False,
                                        dtype=dtype, max_iter=15, tol=0.0, seed=1).fit(R)
    assert model.row_factors_.dtype == dtype and model.col_factors_.dtype == dtype
    # float32: the solves carry ~1e-7 relative rounding; 1e-3 leaves a wide margin
    assert _rel_err(model, M) <= (1e-3 if dtype == np.float32 else 1e-5)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("reg", [0.0, 0.1])
def test_power_law_rows_give_no_nan(solver, reg, rng):
    # Zipf-like row counts, many rows with 1-3 observations (fewer than the rank); reg = 0
    # makes those systems singular: they must be solved in the minimum-norm sense, not NaN.
    m, n, k = 400, 300, 8
    counts = np.minimum(np.maximum(1, (rng.pareto(1.2, m) * 2).astype(int)), n)
    rows = np.repeat(np.arange(m), counts)
    cols = np.concatenate([rng.choice(n, c, replace=False) for c in counts])
    vals = rng.integers(1, 6, rows.size).astype(float)
    assert (counts <= 3).sum() > 50
    model = sparsketch.MatrixCompletion(k, reg=reg, solver=solver, max_iter=4,
                                        seed=2).fit((rows, cols, vals), shape=(m, n))
    for a in (model.row_factors_, model.col_factors_, model.row_bias_, model.col_bias_):
        assert np.all(np.isfinite(a))
    assert np.all(np.isfinite([h["train_rmse"] for h in model.history_]))


@pytest.mark.parametrize("biases", [True, False])
@pytest.mark.parametrize("scaling", ["count", "none"])
def test_half_step_matches_numpy_ridge(biases, scaling, rng):
    # fold_in_rows is one exact row half-step: compare with numpy.linalg.solve per row
    M = _low_rank(rng, 120, 90, 5, 2.0) + 3.0
    R = _observe(rng, M, 0.3)
    model = sparsketch.MatrixCompletion(5, reg=0.05, reg_scaling=scaling, biases=biases,
                                        dtype=np.float64, max_iter=3, seed=4).fit(R)
    new = _observe(rng, _low_rank(rng, 30, 90, 5, 2.0) + 3.0, 0.3)
    new_csr = sp.csr_array(new)
    F, b = model.fold_in_rows(new)
    U_ref, b_ref = ridge_rows(new_csr.indptr, new_csr.indices, new_csr.data, model.col_factors_,
                              model.col_bias_ if biases else None, model.mean_, 0.05,
                              scaling == "count", biases)
    # error bound: cond(G) * eps with G well conditioned by the ridge
    assert np.allclose(F, U_ref, rtol=0, atol=1e-9 * max(1.0, np.abs(U_ref).max()))
    if biases:
        assert np.allclose(b, b_ref, rtol=0, atol=1e-9 * max(1.0, np.abs(b_ref).max()))
    else:
        assert b is None
    # columns: the same on the transpose
    newc = _observe(rng, _low_rank(rng, 120, 20, 5, 2.0) + 3.0, 0.3)
    Fc, bc = model.fold_in_cols(newc)
    T = sp.csr_array(newc.T)
    V_ref, c_ref = ridge_rows(T.indptr, T.indices, T.data, model.row_factors_,
                              model.row_bias_ if biases else None, model.mean_, 0.05,
                              scaling == "count", biases)
    assert np.allclose(Fc, V_ref, rtol=0, atol=1e-9 * max(1.0, np.abs(V_ref).max()))


def test_fold_in_equals_refit_of_new_rows(rng):
    # fold-in of new rows, then one more exact iteration on the enlarged matrix: its row
    # half-step re-solves every row against the same column factors, so the new rows' factors
    # must come out bitwise identical (the column half-step runs after and leaves them alone).
    M = _low_rank(rng, 200, 100, 4, 2.0) + 1.0
    R = _observe(rng, M, 0.3)
    old, new = sp.csr_array(R[:150]), sp.csr_array(R[150:])
    model = sparsketch.MatrixCompletion(4, reg=0.01, solver="cholesky", dtype=np.float64,
                                        max_iter=3, tol=0.0, seed=5).fit(old)
    F, b = model.fold_in_rows(new, append=True)
    assert model.row_factors_.shape == (200, 4) and model.row_bias_.shape == (200,)
    idx = np.arange(150, 200)
    assert np.allclose(model.predict(idx, np.zeros(50, dtype=int)),
                       model.mean_ + b + model.col_bias_[0] + F @ model.col_factors_[0])
    model.partial_fit(R)
    assert np.array_equal(model.row_factors_[150:], F)
    assert np.array_equal(model.row_bias_[150:], b)


def test_robust_mode_with_gross_outliers(rng):
    M = _low_rank(rng, 400, 400, 5, 2.0)
    R = _observe(rng, M, 0.25)
    Rc = R.copy()
    out = rng.random(Rc.nnz) < 0.10
    Rc.data[out] += rng.choice([-1, 1], out.sum()) * 10 * np.abs(M).max()
    kw = dict(reg=1e-6, reg_scaling="none", biases=False, dtype=np.float64, max_iter=25,
              tol=0.0, seed=6)
    l2 = sparsketch.MatrixCompletion(5, **kw).fit(Rc)
    rob = sparsketch.MatrixCompletion(5, loss="huber", **kw).fit(Rc)
    lad = sparsketch.MatrixCompletion(5, loss="l1", **kw).fit(Rc)
    e2, er, e1 = _rel_err(l2, M), _rel_err(rob, M), _rel_err(lad, M)
    assert e2 > 0.3          # least squares is dragged by the outliers (measured ~10)
    assert er < 1e-2, er     # the IRLS Huber fit recovers M (measured ~3e-7)
    assert e1 < 3e-2, e1     # IRLS for l1 converges more slowly (measured ~9e-3)


@pytest.mark.parametrize("solver", SOLVERS)
def test_thread_invariance(solver, rng):
    M = _low_rank(rng, 300, 200, 6, 3.0) + 2.0
    R = _observe(rng, M, 0.15)
    fits = [sparsketch.MatrixCompletion(6, solver=solver, max_iter=3, n_threads=t,
                                        seed=7).fit(R) for t in (1, 2)]
    for a in ("row_factors_", "col_factors_", "row_bias_", "col_bias_"):
        assert np.array_equal(getattr(fits[0], a), getattr(fits[1], a)), a


def test_same_seed_same_result_and_seed_reported(rng):
    M = _low_rank(rng, 100, 80, 3, 2.0)
    R = _observe(rng, M, 0.3)
    a = sparsketch.MatrixCompletion(3, init="random", solver="sketch", seed=11).fit(R)
    b = sparsketch.MatrixCompletion(3, init="random", solver="sketch", seed=11).fit(R)
    assert np.array_equal(a.row_factors_, b.row_factors_)
    c = sparsketch.MatrixCompletion(3, init="random", seed=None).fit(R)
    d = sparsketch.MatrixCompletion(3, init="random", seed=c.seed_).fit(R)
    assert np.array_equal(c.col_factors_, d.col_factors_)


def test_validation_early_stopping_history_and_verbose(rng, capsys):
    M = _low_rank(rng, 200, 150, 4, 2.0) + 3.0
    noisy = M + 0.5 * rng.standard_normal(M.shape)
    R = _observe(rng, noisy, 0.2)
    V = _observe(rng, noisy, 0.05)
    model = sparsketch.MatrixCompletion(12, reg=1e-4, max_iter=30, tol=0.0,
                                        n_iter_no_change=2, verbose=True, seed=8)
    model.fit(R, validation=V)
    h = model.history_
    assert len(h) == model.n_iter_ and all(r["val_rmse"] is not None for r in h)
    best = min(r["val_rmse"] for r in h)
    assert model.best_iteration_ == 1 + int(np.argmin([r["val_rmse"] for r in h]))
    assert abs(-model.score(V) - best) <= 1e-5 * best  # the best factors were kept
    assert {"train_rmse", "objective", "time", "cg_iterations"} <= set(h[0])
    assert "iter   1" in capsys.readouterr().out


def test_objective_decreases_and_partial_fit_continues(rng):
    M = _low_rank(rng, 200, 150, 4, 2.0) + 3.0
    R = _observe(rng, M + 0.1 * rng.standard_normal(M.shape), 0.2)
    model = sparsketch.MatrixCompletion(4, solver="cholesky", max_iter=5, tol=0.0,
                                        dtype=np.float64, seed=9).fit(R)
    obj = [h["objective"] for h in model.history_]
    # exact block minimization: the objective never increases (up to rounding)
    assert all(b <= a * (1 + 1e-12) for a, b in zip(obj, obj[1:]))
    model.partial_fit(R)
    assert len(model.history_) == 6 and model.history_[-1]["objective"] <= obj[-1] * (1 + 1e-12)
    fresh = sparsketch.MatrixCompletion(4, max_iter=1, seed=9).partial_fit(R)
    assert fresh.n_iter_ == 1


def test_complete_function_and_inputs(rng):
    M = _low_rank(rng, 120, 100, 3, 2.0)
    R = _observe(rng, M, 0.3)
    coo = R.tocoo()
    res = sparsketch.complete((coo.row, coo.col, coo.data), 3, shape=M.shape, reg=1e-8,
                              reg_scaling="none", biases=False, dtype=np.float64, seed=0)
    assert res.row_factors.shape == (120, 3) and res.col_factors.shape == (100, 3)
    i, j = np.array([0, 7, 119]), np.array([3, 99, 0])
    assert np.allclose(res.predict(i, j), M[i, j], atol=1e-4 * np.abs(M).max())
    # every sparse format and the matrix/array classes give the same fit
    ref = sparsketch.MatrixCompletion(3, seed=1, max_iter=2).fit(R)
    for X in (R.tocsc(), R.tocoo(), sp.csr_matrix(R)):
        other = sparsketch.MatrixCompletion(3, seed=1, max_iter=2).fit(X)
        assert np.array_equal(ref.row_factors_, other.row_factors_)


def test_empty_rows_and_columns_predict_mean_plus_bias(rng):
    M = _low_rank(rng, 60, 50, 2, 2.0) + 3.0
    R = _observe(rng, M, 0.4).tolil()
    R[5, :] = 0
    R = sp.csr_array(R)
    R.eliminate_zeros()
    model = sparsketch.MatrixCompletion(2, seed=0, max_iter=3).fit(R)
    assert np.all(model.row_factors_[5] == 0) and model.row_bias_[5] == 0
    assert np.allclose(model.predict([5], [7]), model.mean_ + model.col_bias_[7])


def test_duplicates_policy(rng):
    rows = np.array([0, 0, 1, 2, 2, 3])
    cols = np.array([1, 1, 0, 2, 3, 0])
    vals = np.array([1.0, 3.0, 2.0, 4.0, 5.0, 1.0])
    with pytest.raises(ValueError, match="duplicate"):
        sparsketch.MatrixCompletion(1, max_iter=1).fit((rows, cols, vals), shape=(4, 4))
    coo = sp.coo_array((vals, (rows, cols)), shape=(4, 4))
    with pytest.raises(ValueError, match="duplicate"):
        sparsketch.MatrixCompletion(1, max_iter=1).fit(coo)
    m = sparsketch.MatrixCompletion(1, max_iter=1, duplicates="mean", biases=True).fit(coo)
    assert m.mean_ == pytest.approx(np.mean([2.0, 2.0, 4.0, 5.0, 1.0]))


@pytest.mark.parametrize("policy", ["sum", "mean", "last", "raise"])
@pytest.mark.parametrize("dtype,int64", [(np.float32, False), (np.float64, True)])
def test_coo_to_csr_against_brute_force(policy, dtype, int64, rng):
    from sparsketch import _core
    m, n, nnz = 60, 40, 3000  # ~1.25 entries per pair: many duplicates, some empty rows
    rows = rng.integers(0, m - 5, nnz)  # the last 5 rows stay empty
    cols = rng.integers(0, n, nnz)
    vals = rng.standard_normal(nnz)
    indptr, indices, data, k, dr, dc = _core.coo_to_csr(m, rows, cols, vals, policy, dtype,
                                                        int64, 2)
    assert indptr.dtype == indices.dtype == (np.int64 if int64 else np.int32)
    assert data.dtype == dtype
    pairs = {}
    for p, (r, c) in enumerate(zip(rows, cols)):
        pairs.setdefault((int(r), int(c)), []).append(p)
    if policy == "raise":
        assert k == -1 and (dr, dc) == min(key for key, ps in pairs.items() if len(ps) > 1)
        return
    keys = sorted(pairs)
    assert k == len(keys)
    np.testing.assert_array_equal(indptr, np.searchsorted([r for r, _ in keys], np.arange(m + 1)))
    np.testing.assert_array_equal(indices[:k], [c for _, c in keys])
    merge = {"sum": lambda ps: vals[ps].sum(), "mean": lambda ps: vals[ps].mean(),
             "last": lambda ps: vals[ps[-1]]}[policy]
    np.testing.assert_allclose(data[:k], [merge(pairs[key]) for key in keys],
                               rtol=1e-6 if dtype == np.float32 else 1e-13, atol=1e-6)
    # unique pairs in any order: a permutation of the canonical CSR
    u_rows = np.array([r for r, _ in keys]); u_cols = np.array([c for _, c in keys])
    perm = rng.permutation(k)
    out = _core.coo_to_csr(m, u_rows[perm], u_cols[perm], np.arange(k, dtype=np.float64)[perm],
                           "raise", np.float64, False, 1)
    assert out[3] == k
    np.testing.assert_array_equal(out[2][:k], np.arange(k))


def test_bad_input(rng):
    R = _observe(rng, _low_rank(rng, 30, 20, 2, 1.0), 0.5)
    MC = sparsketch.MatrixCompletion
    with pytest.raises(ValueError, match="rank"):
        MC(20).fit(R)
    with pytest.raises(ValueError, match="rank"):
        MC(0).fit(R)
    with pytest.raises(IndexError, match="column index"):
        MC(2).fit(([0, 1], [0, 25], [1.0, 2.0]), shape=(30, 20))
    with pytest.raises(IndexError, match="row index"):
        MC(2).fit(([-1, 1], [0, 2], [1.0, 2.0]), shape=(30, 20))
    bad = R.copy()
    bad.data[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MC(2).fit(bad)
    with pytest.raises(ValueError, match="no observed"):
        MC(2).fit(sp.csr_array((30, 20)))
    with pytest.raises(TypeError, match="X"):
        MC(2).fit(np.ones((30, 20)))
    with pytest.raises(ValueError, match="solver"):
        MC(2, solver="lu").fit(R)
    with pytest.raises(ValueError, match="reg"):
        MC(2, reg=-1.0).fit(R)
    with pytest.raises(TypeError, match="dtype"):
        MC(2, dtype=np.int32).fit(R)
    with pytest.raises(ValueError, match="shape"):
        MC(2).fit(R, validation=sp.csr_array((31, 20)))
    with pytest.raises(RuntimeError, match="fit"):
        MC(2).predict([0], [0])
    model = MC(2, max_iter=2, seed=0).fit(R)
    with pytest.raises(IndexError, match="rows"):
        model.predict([30], [0])
    with pytest.raises(ValueError, match="R_new"):
        model.fold_in_rows(sp.csr_array((3, 21)))
    with pytest.raises(IndexError, match="R_new"):
        model.fold_in_rows(([0], [20], [1.0]))


def test_docstring_examples_run():
    import doctest
    import sys
    for name in ("sparsketch.completion", "sparsketch.sparse_dense"):
        res = doctest.testmod(sys.modules[name])
        assert res.attempted > 0 and res.failed == 0, name


# ----------------------------------------------------------------------------- kernels

@pytest.mark.parametrize("idx", [np.int32, np.int64])
def test_sddmm_and_spmm_match_numpy(idx, dtype, rng):
    S = sp.random_array((70, 50), density=0.1, random_state=rng, format="csr")
    S.indices, S.indptr = S.indices.astype(idx), S.indptr.astype(idx)
    S = S.astype(dtype)
    U = rng.standard_normal((70, 6)).astype(dtype)
    V = rng.standard_normal((50, 6)).astype(dtype)
    C = sparsketch.sddmm(S, U, V)
    ref = S.toarray().astype(np.float64) * (U.astype(np.float64) @ V.T.astype(np.float64))
    tol = 4 * 6 * np.finfo(dtype).eps * (np.abs(U) @ np.abs(V).T).max() * np.abs(S.data).max()
    assert C.dtype == dtype and np.abs(C.toarray() - ref).max() <= tol
    X = rng.standard_normal((50, 3)).astype(dtype)
    Y = sparsketch.spmm(S, X)
    refY = S.toarray().astype(np.float64) @ X.astype(np.float64)
    tolY = 4 * 50 * np.finfo(dtype).eps * (np.abs(S.toarray()) @ np.abs(X)).max()
    assert Y.dtype == dtype and np.abs(Y - refY).max() <= tolY
    y1 = sparsketch.spmm(S, X[:, 0])
    assert y1.shape == (70,) and np.array_equal(y1, Y[:, 0])
    for t in (1, 2):
        assert np.array_equal(sparsketch.spmm(S, X, n_threads=t), Y)
        assert np.array_equal(sparsketch.sddmm(S, U, V, n_threads=t).data, C.data)


def test_kernels_bad_input(rng):
    S = sp.random_array((10, 8), density=0.3, random_state=rng, format="csr")
    with pytest.raises(TypeError, match="S"):
        sparsketch.sddmm(S.toarray(), np.ones((10, 2)), np.ones((8, 2)))
    with pytest.raises(ValueError, match="U"):
        sparsketch.sddmm(S, np.ones((9, 2)), np.ones((8, 2)))
    with pytest.raises(ValueError, match="V"):
        sparsketch.sddmm(S, np.ones((10, 2)), np.ones((8, 3)))
    with pytest.raises(ValueError, match="NaN"):
        sparsketch.sddmm(S, np.full((10, 2), np.nan), np.ones((8, 2)))
    with pytest.raises(ValueError, match="X"):
        sparsketch.spmm(S, np.ones((7, 2)))
    with pytest.raises(TypeError, match="A"):
        sparsketch.spmm([[1.0]], np.ones((1, 1)))


@pytest.mark.parametrize("solver", ["cholesky", "cg", "sketch", "auto"])
@pytest.mark.parametrize("dtype,k,big", [(np.float64, 37, 56000), (np.float32, 21, 192000)])
def test_half_step_every_solver_row_size_and_rank(solver, dtype, k, big, rng):
    # Rows of 1 .. `big` observations: `big` exceeds the largest row the iterative solvers pack
    # (16 MiB of design: 55188 rows at d = 38 in float64, 190650 at d = 22 in float32), and
    # 900 < 3000 < big grows the per-thread buffer past its first 1 MiB, so the packed, the
    # regrown and the streaming code paths and the Gram kernel's padding (k not a multiple of
    # the SIMD width) are all exercised, with IRLS-like weights.
    n = big + 500
    lens = [1, 3, 9, 40, 300, 900, 3000, 14000, big]
    indptr = np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
    indices = np.concatenate([np.sort(rng.choice(n, s, replace=False)) for s in lens])
    indices = indices.astype(np.int32)
    V = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(dtype)
    c = (0.1 * rng.standard_normal(n)).astype(dtype)
    truth = rng.standard_normal((len(lens), k))
    rows = np.repeat(np.arange(len(lens)), lens)
    data = (3.0 + np.einsum("ij,ij->i", truth[rows], V[indices]) + c[indices]
            + 0.1 * rng.standard_normal(indices.size)).astype(dtype)
    w = rng.uniform(0.2, 1.0, indices.size).astype(dtype)
    U_ref, b_ref = ridge_rows(indptr, indices, data, V, c, 3.0, 0.01, True, True, weights=w)
    U = np.zeros((len(lens), k), dtype=dtype)
    b = np.zeros(len(lens), dtype=dtype)
    from sparsketch import _core
    for sweep in range(4):  # iterative solvers: warm-started repeats converge to the exact answer
        _core.als_half_step((indptr, indices, data, len(lens), n), w, V, c, 3.0, U, b, 0.01,
                            -1.0, True, solver, 1e-6 if dtype == np.float64 else 1e-4, 0, 4, 4,
                            7, 2)
    # error budget: float64 cond(G) * 1e-12; float32 the solve's rounding, ~1e-4 relative
    tol = 1e-8 if dtype == np.float64 else 2e-3
    scale = max(1.0, np.abs(U_ref).max())
    assert np.abs(U - U_ref).max() <= tol * scale, (solver, np.abs(U - U_ref).max())
    assert np.abs(b - b_ref).max() <= tol * scale
    # compute_sse: the weighted residual sum of squares at the new factors, against NumPy's
    info = _core.als_half_step((indptr, indices, data, len(lens), n), w, V, c, 3.0, U, b, 0.01,
                               -1.0, True, solver, 1e-6 if dtype == np.float64 else 1e-4, 0, 4,
                               4, 7, 2, True)
    r64 = (data.astype(np.float64) - 3.0 - c[indices] - b[rows]
           - np.einsum("ij,ij->i", U[rows].astype(np.float64), V[indices].astype(np.float64)))
    sse = float(np.sum(w * r64 ** 2))
    # exact rows use y'Wy - 2u'b + u'Gu: cancellation against y'Wy (here ~ 10 x the sse)
    # costs ~ eps * y'Wy; float32 G and b carry ~1e-6 relative rounding on top (measured:
    # 3e-16 and 1.2e-7 of y'Wy)
    yy = float(np.sum(w * (data.astype(np.float64) - 3.0 - c[indices]) ** 2))
    assert abs(info["sse"] - sse) <= (1e-10 if dtype == np.float64 else 1e-5) * yy, \
        (info["sse"], sse, yy)
