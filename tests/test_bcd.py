"""Block coordinate descent (sparsketch.bcd) against closed forms, NumPy and scikit-learn.

Tolerances come from the certificates the solvers return:
- smooth problems: ||x - x*||_2 <= ||grad F(x)||_2 / mu, with mu the strong-convexity constant
  (sigma_min(A)^2 + l2) and ||grad||_2 <= sqrt(p) * measure * ||grad F(0)||_inf;
- L1 problems: P(x) - P* <= gap, and with mu-strong convexity ||x - x*||^2 <= 2 gap / mu.
"""

from __future__ import annotations

import doctest
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import sparsketch
from sparsketch import bcd
from sparsketch.exceptions import ConvergenceWarning

RULE_UPDATE = [(r, u) for r in bcd.RULES for u in bcd.UPDATES]


def _ls_problem(rng, n=60, p=12, spread=False):
    A = rng.standard_normal((n, p))
    if spread:  # Lipschitz constants ||a_j||^2 spread over four orders of magnitude
        A *= np.logspace(-1, 1, p)[rng.permutation(p)]
    return A, rng.standard_normal(n)


def _ls_bound(A, b, res, l2=0.0):
    """Certified ||x - x*||_2 bound for least squares from the returned measure."""
    g0 = np.abs(A.T @ b).max()
    mu = np.linalg.svd(A, compute_uv=False)[-1] ** 2 + l2
    return np.sqrt(A.shape[1]) * res.measure * g0 / mu


@pytest.mark.parametrize("rule,update,blocks,block_size", [
    (r, u, blk, bs) for r, u in RULE_UPDATE
    for blk, bs in (("contiguous", 1), ("contiguous", 4), ("lipschitz", 3), ("variable", 3))
    if blk != "variable" or r in ("gs", "gsl", "gsd", "gsq")])
def test_least_squares_every_rule_update_and_partition(rng, rule, update, blocks, block_size):
    A, b = _ls_problem(rng)
    res = bcd.least_squares(A, b, blocks=blocks, block_size=block_size, rule=rule,
                            update=update, tol=1e-11, seed=1)
    assert res.converged and res.measure <= 1e-11
    x_ref = np.linalg.lstsq(A, b, rcond=None)[0]
    assert np.linalg.norm(res.x - x_ref) <= _ls_bound(A, b, res) + 1e-12


def test_least_squares_ridge_intercept_and_sparse(rng):
    A, b = _ls_problem(rng, n=80, p=10)
    b = b + 5.0
    l2 = 3.0
    res = bcd.least_squares(A, b, l2=l2, fit_intercept=True, tol=1e-12)
    # closed form: centre, ridge solve, intercept = mean residual
    Ac, bc = A - A.mean(0), b - b.mean()
    x_ref = np.linalg.solve(Ac.T @ Ac + l2 * np.eye(10), Ac.T @ bc)
    np.testing.assert_allclose(res.x, x_ref, atol=1e-8)
    assert abs(res.intercept - (b.mean() - A.mean(0) @ x_ref)) < 1e-8
    S = sp.random_array((120, 15), density=0.3, random_state=3, format="csr")
    bs = rng.standard_normal(120)
    rs = bcd.least_squares(S, bs, tol=1e-12)
    np.testing.assert_allclose(rs.x, np.linalg.lstsq(S.toarray(), bs, rcond=None)[0], atol=1e-8)


@pytest.mark.parametrize("rule,update", RULE_UPDATE)
def test_lasso_every_rule_update_matches_sklearn(rng, rule, update):
    from sklearn.linear_model import Lasso as SkLasso
    n, p = 80, 30
    A = rng.standard_normal((n, p))
    b = A[:, :4] @ np.array([3.0, -2.0, 1.5, 1.0]) + 0.3 * rng.standard_normal(n)
    alpha = 0.05 * np.abs(A.T @ b).max() / n
    res = bcd.lasso(A, b, alpha, rule=rule, update=update, block_size=1 if rule != "gsq" else 3,
                    working_set=False, tol=1e-12, seed=2)
    sk = SkLasso(alpha=alpha, fit_intercept=False, tol=1e-14, max_iter=100000).fit(A, b)
    obj = lambda x: 0.5 / n * np.sum((b - A @ x) ** 2) + alpha * np.abs(x).sum()  # noqa: E731
    assert res.converged
    # our objective is within our certified gap of the optimum, hence of sklearn's
    assert obj(res.x) <= obj(sk.coef_) + res.gap + 1e-15
    mu = np.linalg.svd(A, compute_uv=False)[-1] ** 2 / n  # n > p: strongly convex
    assert np.linalg.norm(res.x - sk.coef_) <= np.sqrt(2 * res.gap / mu) + 1e-9


def test_lasso_elastic_net_intercept_sparse_float32(rng):
    from sklearn.linear_model import ElasticNet
    n, p = 150, 400
    S = sp.random_array((n, p), density=0.05, random_state=5, format="csr", dtype=np.float64)
    b = S @ rng.standard_normal(p) + 2.0
    alpha = 0.02 * np.abs(S.T @ (b - b.mean())).max() / n
    res = bcd.lasso(S, b, alpha, l1_ratio=0.7, fit_intercept=True, tol=1e-12)
    sk = ElasticNet(alpha=alpha, l1_ratio=0.7, tol=1e-14, max_iter=100000).fit(S, b)
    assert res.converged and res.measure_is_gap
    # strong convexity from the ridge part: mu = alpha (1 - l1_ratio); both solutions are
    # within their gaps (plus the rounding of P - D, ~n eps P) of the optimum
    slack = 1e-12 * res.objective
    mu = alpha * 0.3
    bound = np.sqrt(2 * (res.gap + slack) / mu) + np.sqrt(2 * (sk.dual_gap_ + slack) / mu)
    assert np.linalg.norm(res.x - sk.coef_) <= bound + 1e-9
    assert abs(res.intercept - sk.intercept_) <= 1e-6
    # dense, CSC/CSR, int32/int64 indices: the same solution
    dense = bcd.lasso(S.toarray(), b, alpha, l1_ratio=0.7, fit_intercept=True, tol=1e-12)
    S64 = sp.csc_array(S)
    S64.indices = S64.indices.astype(np.int64)
    S64.indptr = S64.indptr.astype(np.int64)
    sparse64 = bcd.lasso(S64, b, alpha, l1_ratio=0.7, fit_intercept=True, tol=1e-12)
    np.testing.assert_allclose(dense.x, res.x, atol=1e-9)
    np.testing.assert_allclose(sparse64.x, res.x, atol=1e-9)
    # float32 data: computed in double, returned as float32
    r32 = bcd.lasso(S.astype(np.float32), b, alpha, l1_ratio=0.7, fit_intercept=True, tol=1e-10)
    assert r32.x.dtype == np.float32
    np.testing.assert_allclose(r32.x, res.x, atol=1e-5 * np.abs(res.x).max())


def test_lasso_zero_at_alpha_max_and_path_warm_start(rng):
    n, p = 50, 20
    A = rng.standard_normal((n, p))
    b = rng.standard_normal(n)
    amax = np.abs(A.T @ b).max() / n
    r0 = bcd.lasso(A, b, amax * 1.0001)
    assert np.all(r0.x == 0) and r0.converged
    x = None
    for frac in (0.5, 0.1, 0.01):
        r = bcd.lasso(A, b, amax * frac, x0=x, tol=1e-10)
        assert r.converged
        x = r.x


def test_active_set_identified_on_known_support(rng):
    n, p = 200, 500
    A = rng.standard_normal((n, p))
    support = np.sort(rng.choice(p, 8, replace=False))
    xt = np.zeros(p)
    xt[support] = rng.choice([-1, 1], 8) * (2 + rng.random(8))
    b = A @ xt + 0.05 * rng.standard_normal(n)
    alpha = 0.1 * np.abs(A.T @ b).max() / n
    res = bcd.lasso(A, b, alpha, tol=1e-12)
    assert res.converged
    assert res.active_set_iter >= 0 and res.newton_steps >= 1
    assert np.array_equal(np.flatnonzero(res.x), support)
    # without the Newton phase the same answer, with more block updates
    slow = bcd.lasso(A, b, alpha, tol=1e-12, active_set=False)
    assert slow.active_set_iter == -1 and slow.iterations > res.iterations
    np.testing.assert_allclose(slow.x, res.x, atol=1e-6)


def test_logistic_l2_matches_sklearn(rng):
    from sklearn.linear_model import LogisticRegression as SkLR
    n, p, C = 200, 15, 0.5
    A = rng.standard_normal((n, p))
    y = (A[:, 0] - A[:, 1] + rng.standard_normal(n) > 0).astype(int)
    res = bcd.logistic(A, y, C=C, tol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkLR(C=C, tol=1e-14, max_iter=10000).fit(A, y)
    assert res.converged
    # F = C * loss + 1/2 ||x||^2 is 1-strongly convex in (x, x0) restricted to x; the
    # intercept is unpenalized, so bound through the full gradient with mu = 1 / (1 + ...):
    # we check the objective (within C * n * eps-level) and a loose coefficient bound.
    z = lambda x, c: A @ x + c  # noqa: E731
    ypm = np.where(y == 1, 1.0, -1.0)
    F = lambda x, c: C * np.logaddexp(0, -ypm * z(x, c)).sum() + 0.5 * x @ x  # noqa: E731
    assert F(res.x, res.intercept) <= F(sk.coef_[0], sk.intercept_[0]) + 1e-10
    np.testing.assert_allclose(res.x, sk.coef_[0], atol=1e-5)
    assert abs(res.intercept - sk.intercept_[0]) < 1e-5


def test_logistic_l1_gap_matches_sklearn(rng):
    from sklearn.linear_model import LogisticRegression as SkLR
    n, p, C = 300, 40, 0.2
    A = rng.standard_normal((n, p))
    y = (A[:, :3].sum(1) + rng.standard_normal(n) > 0).astype(int)
    res = bcd.logistic(A, y, C=C, penalty="l1", fit_intercept=False, tol=1e-12)
    assert res.converged and res.measure_is_gap and res.gap >= 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkLR(C=C, l1_ratio=1.0, solver="saga", fit_intercept=False, tol=1e-12,
                  max_iter=100000).fit(A, y)
    ypm = np.where(y == 1, 1.0, -1.0)
    F = lambda x: C * np.logaddexp(0, -ypm * (A @ x)).sum() + np.abs(x).sum()  # noqa: E731
    # certified: ours is within gap of the optimum, so no worse than sklearn's beyond the gap
    assert F(res.x) <= F(sk.coef_[0]) + res.gap + 1e-12
    assert F(sk.coef_[0]) - F(res.x) <= 1e-6 * F(res.x)
    # with an intercept: KKT-certified
    ri = bcd.logistic(A, y, C=C, penalty="l1", tol=1e-10)
    assert ri.converged and not ri.measure_is_gap and np.isnan(ri.gap)


def test_tall_dense_working_sets_split_by_rows(rng):
    # n > 16384 rows and a working set above 256: the data-form coordinate descent splits
    # the rows into fixed parts shared by the threads (one barrier per coordinate); the
    # answer is certified and identical for 1 and 2 threads, squared and logistic loss
    n, p = 16_500, 300
    A = rng.standard_normal((n, p))
    b = A @ rng.standard_normal(p) + rng.standard_normal(n) + 1.0
    alpha = 1e-4 * np.abs(A.T @ (b - b.mean())).max() / n
    r1 = bcd.lasso(A, b, alpha, fit_intercept=True, tol=1e-10, n_threads=1)
    r2 = bcd.lasso(A, b, alpha, fit_intercept=True, tol=1e-10, n_threads=2)
    assert r1.converged and max(r1.history["ws_size"]) > 256
    np.testing.assert_array_equal(r1.x, r2.x)
    assert r1.intercept == r2.intercept
    # strongly convex (n >> p): ||x - x*||^2 <= 2 gap / mu, mu = sigma_min(A_c)^2 / n
    Ac = A - A.mean(0)
    x_ref = np.linalg.lstsq(Ac, b - b.mean(), rcond=None)[0]
    mu = np.linalg.svd(Ac, compute_uv=False)[-1] ** 2 / n
    # the lasso optimum moves from least squares by at most alpha sqrt(p) / mu
    assert np.linalg.norm(r1.x - x_ref) <= np.sqrt(2 * r1.gap / mu) + alpha * np.sqrt(p) / mu
    y = (A[:, :5].sum(1) + rng.standard_normal(n) > 0).astype(int)
    l1 = bcd.logistic(A, y, C=10.0, penalty="l1", fit_intercept=False, tol=1e-9, n_threads=1)
    l2 = bcd.logistic(A, y, C=10.0, penalty="l1", fit_intercept=False, tol=1e-9, n_threads=2)
    assert l1.converged and l1.measure_is_gap and max(l1.history["ws_size"]) > 256
    np.testing.assert_array_equal(l1.x, l2.x)


@pytest.mark.filterwarnings("ignore::sparsketch.exceptions.ConvergenceWarning")
def test_descent_variants_are_monotone(rng):
    A, b = _ls_problem(rng, n=50, p=16, spread=True)
    for rule in bcd.RULES:
        for update in bcd.UPDATES:
            res = bcd.least_squares(A, b, rule=rule, update=update, block_size=4, tol=1e-10,
                                    record_trace=True, seed=0)
            tr = res.trace
            assert tr.size == res.iterations
            assert np.all(np.diff(tr) <= 1e-12 * np.abs(tr[0])), (rule, update)
    A2 = rng.standard_normal((60, 40))
    b2 = rng.standard_normal(60)
    res = bcd.lasso(A2, b2, 0.05, working_set=False, record_trace=True, tol=1e-10)
    assert np.all(np.diff(res.trace) <= 1e-12 * np.abs(res.trace[0]))


def test_greedy_lipschitz_rules_beat_gs_with_varying_lipschitz(rng):
    """The paper's ordering (Nutini et al., section 3): GSL and GSQ need no more iterations than
    GS when the Lipschitz constants differ."""
    A, b = _ls_problem(rng, n=200, p=60, spread=True)
    its = {}
    for rule, bs in (("gs", 1), ("gsl", 1), ("gsq", 1), ("random", 1), ("cyclic", 1)):
        its[rule] = bcd.least_squares(A, b, rule=rule, block_size=bs, tol=1e-6, seed=0,
                                      max_iter=10 ** 6).iterations
    assert its["gsl"] <= its["gs"] and its["gsq"] <= its["gs"]
    # blocks: GSL bounds the progress of the 1/L_b gradient step, GSQ that of the Newton step
    grad = {r: bcd.least_squares(A, b, rule=r, block_size=5, update="gradient", tol=1e-6,
                                 max_iter=10 ** 6).iterations for r in ("gs", "gsl")}
    newt = {r: bcd.least_squares(A, b, rule=r, block_size=5, update="newton", tol=1e-6,
                                 max_iter=10 ** 6).iterations for r in ("gs", "gsq")}
    assert grad["gsl"] <= grad["gs"] and newt["gsq"] <= newt["gs"]


def test_thread_count_and_seed_determinism(rng):
    S = sp.random_array((3000, 300), density=0.02, random_state=7, format="csr")
    b = rng.standard_normal(3000)
    r1 = bcd.lasso(S, b, 0.002, n_threads=1, tol=1e-10)
    r2 = bcd.lasso(S, b, 0.002, n_threads=2, tol=1e-10)
    assert np.array_equal(r1.x, r2.x) and r1.iterations == r2.iterations
    A = rng.standard_normal((5000, 40))
    yb = A[:, 0] > 0
    l1 = bcd.logistic(A, yb, C=0.1, n_threads=1)
    l2 = bcd.logistic(A, yb, C=0.1, n_threads=2)
    assert np.array_equal(l1.x, l2.x) and l1.intercept == l2.intercept
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = bcd.least_squares(A, A[:, 1] + 1, rule="random", seed=5, max_iter=50, tol=0)
        c = bcd.least_squares(A, A[:, 1] + 1, rule="random", seed=5, max_iter=50, tol=0)
        d = bcd.least_squares(A, A[:, 1] + 1, rule="random", seed=6, max_iter=50, tol=0)
    assert np.array_equal(a.x, c.x) and not np.array_equal(a.x, d.x) and a.seed == 5


def test_callback_verbose_and_convergence_warning(rng, capsys):
    A, b = _ls_problem(rng, n=100, p=300)
    seen = []
    res = bcd.lasso(A, b, 0.01, callback=lambda info: seen.append(info) or len(seen) >= 2,
                    verbose=True)
    assert len(seen) == 2 and {"objective", "measure", "ws_size"} <= set(seen[0])
    assert "[bcd] outer" in capsys.readouterr().out
    assert res.history["objective"].shape == (2,)
    with pytest.warns(ConvergenceWarning, match="tol"):
        bcd.lasso(A, b, 0.001, max_iter=3, tol=1e-12)


def test_bad_input(rng):
    A, b = _ls_problem(rng)
    with pytest.raises(ValueError, match="b"):
        bcd.least_squares(A, b[:-1])
    bad = A.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        bcd.lasso(bad, b, 0.1)
    with pytest.raises(ValueError, match="rule"):
        bcd.least_squares(A, b, rule="fastest")
    with pytest.raises(ValueError, match="update"):
        bcd.least_squares(A, b, update="exact")
    with pytest.raises(ValueError, match="rule"):
        bcd.least_squares(A, b, blocks="variable", rule="cyclic")
    with pytest.raises(ValueError, match="blocks"):
        bcd.least_squares(A, b, blocks=np.array([0, 2] * 6), working_set=False)
    with pytest.raises(ValueError, match="blocks"):
        bcd.least_squares(A, b, blocks=np.zeros(5, int))
    with pytest.raises(ValueError, match="alpha"):
        bcd.lasso(A, b, 0.0)
    with pytest.raises(ValueError, match="l1_ratio"):
        bcd.lasso(A, b, 0.1, l1_ratio=1.5)
    with pytest.raises(ValueError, match="y"):
        bcd.logistic(A, np.arange(60) % 3)
    with pytest.raises(ValueError, match="C"):
        bcd.logistic(A, np.arange(60) % 2, C=-1)
    with pytest.raises(ValueError, match="A"):
        bcd.lasso(np.empty((0, 3)), np.empty(0), 0.1)
    with pytest.raises(TypeError, match="callback"):
        bcd.lasso(A, b, 0.1, callback=3)
    with pytest.raises(ValueError, match="block_size"):
        bcd.lasso(A, b, 0.1, block_size=0)
    S = sp.csc_array(sp.random_array((10, 5), density=0.5, random_state=0))
    S.indices[0] = 99
    with pytest.raises((ValueError, IndexError), match="A"):
        bcd.lasso(S, np.ones(10), 0.1)


def test_estimators_in_sklearn_pipeline(rng):
    from sklearn.base import clone
    from sklearn.linear_model import Lasso as SkLasso
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X = rng.standard_normal((120, 25))
    y = X[:, :3] @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(120) + 4.0
    pipe = make_pipeline(StandardScaler(), bcd.Lasso(alpha=0.05, tol=1e-10))
    pipe.fit(X, y)
    ref = make_pipeline(StandardScaler(), SkLasso(alpha=0.05, tol=1e-12, max_iter=10000)).fit(X, y)
    np.testing.assert_allclose(pipe[-1].coef_, ref[-1].coef_, atol=1e-6)
    assert abs(pipe[-1].intercept_ - ref[-1].intercept_) < 1e-6
    assert pipe.score(X, y) > 0.95
    scores = cross_val_score(clone(pipe), X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.9)
    m = bcd.Lasso(alpha=0.05, warm_start=True).fit(X, y)
    m.set_params(alpha=0.01).fit(X, y)
    assert m.get_params()["alpha"] == 0.01 and m.n_iter_ >= 1
    with pytest.raises(ValueError, match="features"):
        m.predict(X[:, :3])
    from sklearn.linear_model import LogisticRegression as SkLR
    clf = make_pipeline(StandardScaler(), bcd.LogisticRegression(C=1.0, tol=1e-8))
    labels = np.where(X[:, 0] + 0.3 * rng.standard_normal(120) > 0, "a", "b")
    acc = cross_val_score(clf, X, labels, cv=3)
    ref_acc = cross_val_score(make_pipeline(StandardScaler(), SkLR(C=1.0, tol=1e-10)), X,
                              labels, cv=3)
    np.testing.assert_allclose(acc, ref_acc)  # same fitted models, same fold accuracies
    fitted = clf.fit(X, labels)[-1]
    proba = fitted.predict_proba(StandardScaler().fit(X).transform(X))
    np.testing.assert_allclose(proba.sum(1), 1.0)


def test_docstring_examples():
    res = doctest.testmod(bcd, optionflags=doctest.ELLIPSIS)
    assert res.attempted > 0 and res.failed == 0


def test_bcd_is_exported():
    assert sparsketch.bcd is bcd and "bcd" in sparsketch.__all__
