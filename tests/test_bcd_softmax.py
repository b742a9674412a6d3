"""Multinomial (softmax) logistic regression by BCD (sparsketch.bcd.softmax).

References: scikit-learn's multinomial ``LogisticRegression`` (lbfgs at tight tolerance) for
the L2 problem, whose solution is unique; for L1, whose minimizer need not be unique, the
objective against saga's and the optimality conditions evaluated with NumPy.

Tolerances: the L2 objective is mu-strongly convex in W with mu >= 1/C, so
||W - W*||_F <= ||grad||_F * C, and ||grad||_F <= sqrt(p k + k) * measure * ||grad F(0)||_inf
(``measure`` is relative to the KKT violation at zero); at measure 1e-10 on these sizes the
bound is below 1e-6. Objectives agree to rounding (1e-9 relative).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from sparsketch import bcd
from sparsketch.exceptions import ConvergenceWarning

sklearn = pytest.importorskip("sklearn.linear_model")


def _problem(rng, n=400, p=12, k=4, sparse=False):
    if sparse:
        A = sp.random(n, p, density=0.2, random_state=int(rng.integers(1 << 30)),
                      format="csc") * 3.0
        Wt = rng.standard_normal((p, k))
        y = np.argmax(A @ Wt + rng.gumbel(size=(n, k)), axis=1)
    else:
        A = rng.standard_normal((n, p)) * rng.uniform(0.2, 3.0, p)
        Wt = rng.standard_normal((p, k))
        y = np.argmax(0.3 * A @ Wt + rng.gumbel(size=(n, k)), axis=1)
    return A, y


def _objective_and_grad(A, y, W, b, C, l1):
    n = A.shape[0]
    Z = np.asarray(A @ W) + b
    Z = Z - Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    P = E / E.sum(axis=1, keepdims=True)
    loss = (np.log(E.sum(axis=1)) - Z[np.arange(n), y]).sum()
    Y = np.zeros_like(P)
    Y[np.arange(n), y] = 1.0
    G = C * np.asarray(A.T @ (P - Y))
    gb = C * (P - Y).sum(axis=0)
    pen = np.abs(W).sum() if l1 else 0.5 * (W ** 2).sum()
    if not l1:
        G = G + W
    return C * loss + pen, G, gb


def _sk(A, y, C, penalty):
    solver = "lbfgs" if penalty == "l2" else "saga"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sklearn.LogisticRegression(C=C, penalty=penalty, solver=solver, tol=1e-12,
                                          max_iter=20000).fit(A, y)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("model", ["explicit", "data", "data-cd"])
def test_softmax_l2_matches_sklearn(rng, sparse, model):
    A, y = _problem(rng, sparse=sparse)
    C = 0.5
    res = bcd.softmax(A, y, C=C, model=model, tol=1e-10)
    assert res.converged and res.measure <= 1e-10
    sk = _sk(A, y, C, "l2")
    W = res.x.astype(float)
    # same gauge: sklearn's intercepts are not centred; the L2 term centres W's rows
    f, _, _ = _objective_and_grad(A, y, W, res.intercept, C, False)
    f_sk, _, _ = _objective_and_grad(A, y, sk.coef_.T, sk.intercept_, C, False)
    assert f <= f_sk * (1 + 1e-9)
    assert abs(res.objective - f) <= 1e-9 * f
    np.testing.assert_allclose(W, sk.coef_.T, atol=1e-5)
    np.testing.assert_allclose(res.intercept, sk.intercept_ - sk.intercept_.mean(), atol=1e-5)
    assert abs(res.intercept.sum()) <= 1e-9
    np.testing.assert_array_equal(res.classes, np.arange(4))


@pytest.mark.parametrize("sparse", [False, True])
def test_softmax_l1_objective_and_optimality(rng, sparse):
    A, y = _problem(rng, n=300, p=10, k=3, sparse=sparse)
    C = 0.2
    for model in ("explicit", "data"):
        res = bcd.softmax(A, y, C=C, penalty="l1", model=model, tol=1e-10)
        assert res.converged
        W = res.x.astype(float)
        f, G, gb = _objective_and_grad(A, y, W, res.intercept, C, True)
        assert abs(res.objective - f) <= 1e-9 * f
        # subgradient optimality: |G| <= 1 off the support, G = -sign(W) on it
        g0 = np.abs(_objective_and_grad(A, y, 0 * W, 0 * res.intercept, C, True)[1]).max()
        slack = 1e-8 * g0
        on = W != 0
        assert np.all(np.abs(G[~on]) <= 1 + slack)
        np.testing.assert_allclose(G[on], -np.sign(W[on]), atol=slack)
        assert np.abs(gb).max() <= slack
        assert 0 < on.sum() < W.size  # the penalty is strong enough to zero some weights
    sk = _sk(A, y, C, "l1")
    f_sk, _, _ = _objective_and_grad(A, y, sk.coef_.T, sk.intercept_, C, True)
    assert f <= f_sk * (1 + 1e-7)


def test_softmax_elastic_net_without_intercept_float32(rng):
    A, y = _problem(rng, n=300, p=8, k=3)
    A32 = A.astype(np.float32)
    res = bcd.softmax(A32, y, C=1.0, penalty="elasticnet", l1_ratio=0.5, fit_intercept=False,
                      tol=1e-10)
    assert res.converged and res.x.dtype == np.float32
    assert np.all(res.intercept == 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = sklearn.LogisticRegression(C=1.0, penalty="elasticnet", l1_ratio=0.5,
                                        solver="saga", fit_intercept=False, tol=1e-12,
                                        max_iter=20000).fit(A32.astype(float), y)
    np.testing.assert_allclose(res.x, sk.coef_.T, atol=2e-4)  # saga's own accuracy


@pytest.mark.parametrize("rule", bcd.RULES)
def test_softmax_every_rule_and_update_explicit(rng, rule):
    A, y = _problem(rng, n=200, p=6, k=3)
    ref = bcd.softmax(A, y, C=1.0, tol=1e-11, model="data")
    for update in bcd.UPDATES:
        for blocks, bs in (("contiguous", 1), ("contiguous", 2), ("variable", 2)):
            if blocks == "variable" and rule not in ("gs", "gsl", "gsd", "gsq"):
                continue
            res = bcd.softmax(A, y, C=1.0, rule=rule, update=update, blocks=blocks,
                              block_size=bs, model="explicit", tol=1e-11, seed=3)
            assert res.converged
            np.testing.assert_allclose(res.x, ref.x, atol=1e-7)


def test_softmax_string_labels_warm_start_and_determinism(rng):
    A, y = _problem(rng, n=300, p=30, k=5)
    names = np.array(["ant", "bee", "cat", "dog", "eel"])[y]
    r1 = bcd.softmax(A, names, C=1.0, tol=1e-9, n_threads=1)
    r2 = bcd.softmax(A, names, C=1.0, tol=1e-9, n_threads=2)
    np.testing.assert_array_equal(r1.x, r2.x)
    np.testing.assert_array_equal(r1.intercept, r2.intercept)
    assert list(r1.classes) == ["ant", "bee", "cat", "dog", "eel"]
    warm = bcd.softmax(A, names, C=1.0, tol=1e-9, x0=r1.x, intercept0=r1.intercept)
    assert warm.outer_iterations <= 1
    pred = r1.classes[np.argmax(A @ r1.x + r1.intercept, axis=1)]
    assert (pred == names).mean() > 0.6


def test_softmax_bad_input(rng):
    A, y = _problem(rng, n=50, p=4, k=3)
    with pytest.raises(ValueError, match="y"):
        bcd.softmax(A, np.zeros(50))
    with pytest.raises(ValueError, match="y"):
        bcd.softmax(A, y[:-1])
    with pytest.raises(ValueError, match="x0"):
        bcd.softmax(A, y, x0=np.zeros((4, 2)))
    with pytest.raises(ValueError, match="intercept0"):
        bcd.softmax(A, y, intercept0=np.zeros(2))
    B = A.copy()
    B[3, 1] = np.nan
    with pytest.raises(ValueError, match="A"):
        bcd.softmax(B, y)
    with pytest.raises(ValueError, match="model"):
        bcd.softmax(A, y, model="gram")
    with pytest.raises(ValueError, match="C"):
        bcd.softmax(A, y, C=0.0)
    with pytest.warns(ConvergenceWarning):
        bcd.softmax(A, y, C=100.0, max_outer=1, tol=1e-14)
