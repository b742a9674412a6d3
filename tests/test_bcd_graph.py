"""Graph label propagation by BCD (sparsketch.bcd.label_propagation) against scipy spsolve.

The reference solves M X = C with M = diag(S 1) - S + lam diag(labelled), built here from the
problem's definition. Tolerance: ||X - X*||_F <= ||M^-1||_2 ||M X - C||_F
= measure * ||C||_F / lambda_min(M), with lambda_min from a dense eigensolve (small graphs).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as spla

from sparsketch import bcd
from sparsketch.exceptions import ConvergenceWarning


def _graph(rng, n=120, avg_deg=4, spread=False):
    m = n * avg_deg // 2
    i, j = rng.integers(0, n, m), rng.integers(0, n, m)
    w = rng.uniform(0.5, 1.5, m)
    if spread:
        w *= np.logspace(-2, 2, m)[rng.permutation(m)]
    ring = np.arange(n)  # a ring keeps the graph connected (M nonsingular)
    i, j = np.r_[i, ring], np.r_[j, (ring + 1) % n]
    w = np.r_[w, rng.uniform(0.5, 1.5, n)]
    W = sp.coo_array((w, (i, j)), shape=(n, n)).tocsr()
    W = W + W.T
    W.setdiag(0)
    W.eliminate_zeros()
    return W


def _lattice(side):
    path = sp.diags([np.ones(side - 1), np.ones(side - 1)], [-1, 1])
    eye = sp.eye(side)
    return sp.csr_array(sp.kron(path, eye) + sp.kron(eye, path))


def _labels(rng, n, k=3, frac=0.1):
    y = -np.ones(n, dtype=np.int64)
    idx = rng.choice(n, max(k, int(frac * n)), replace=False)
    y[idx] = np.arange(idx.size) % k
    return y


def _reference(W, y, lam):
    S = sp.csr_array((W + W.T) * 0.5)
    S.setdiag(0)
    S.eliminate_zeros()
    lab = (y != -1).astype(float)
    classes = np.unique(y[y != -1])
    M = sp.diags(np.asarray(S.sum(axis=1)).ravel() + lam * lab) - S
    C = np.zeros((len(y), classes.size))
    C[y != -1, np.searchsorted(classes, y[y != -1])] = lam
    return sp.csc_array(M), C


def _check(W, y, lam, res):
    M, C = _reference(W, y, lam)
    X_ref = np.column_stack([spla.spsolve(M, C[:, c]) for c in range(C.shape[1])])
    lmin = np.linalg.eigvalsh(M.toarray())[0]
    bound = res.measure * np.linalg.norm(C) / lmin
    assert np.linalg.norm(res.x - X_ref) <= bound * (1 + 1e-6) + 1e-12
    # the reported measure is the true relative residual
    r = np.linalg.norm(M @ res.x - C) / np.linalg.norm(C)
    assert r == pytest.approx(res.measure, rel=1e-4, abs=1e-14)
    return X_ref


COMBOS = [(r, u, blk, bs) for r in bcd.RULES for u in bcd.UPDATES
          for blk, bs in (("forest", 1), ("contiguous", 1), ("contiguous", 5))]


@pytest.mark.parametrize("rule,update,blocks,block_size", COMBOS)
def test_every_rule_update_and_partition_matches_spsolve(rng, rule, update, blocks, block_size):
    W = _graph(rng, n=80)
    y = _labels(rng, 80)
    tol = 1e-9 if update == "newton" else 1e-7  # gradient steps: slower (1/L_b steps)
    res = bcd.label_propagation(W, y, lam=2.0, rule=rule, update=update, blocks=blocks,
                                block_size=block_size, tol=tol, seed=4, max_iter=400_000)
    assert res.converged and res.measure <= tol
    _check(W, y, 2.0, res)
    # descent methods: the objective never increases (per sweep, up to rounding)
    h = res.history["objective"]
    assert np.all(np.diff(h) <= 1e-9 * np.abs(h[:-1]))


@pytest.mark.parametrize("precond", ["forest", "jacobi", "none"])
def test_cg_with_each_preconditioner_matches_spsolve(rng, precond):
    W = _graph(rng, n=150, spread=True)
    y = _labels(rng, 150, k=4)
    res = bcd.label_propagation(W, y, lam=0.5, method="cg", preconditioner=precond, tol=1e-10)
    assert res.converged
    _check(W, y, 0.5, res)


def test_objective_and_classes(rng):
    W = _graph(rng, n=60)
    y = _labels(rng, 60, k=2) * 5 + 7  # labels 7 and 12, unlabelled -1 -> 2
    y[y == 2] = -1
    res = bcd.label_propagation(W, y, lam=1.5, tol=1e-12)
    np.testing.assert_array_equal(res.classes, [7, 12])
    S = W.toarray()
    X = res.x
    lab = y != -1
    Y = np.zeros_like(X)
    Y[lab, np.searchsorted(res.classes, y[lab])] = 1
    d = X[:, None, :] - X[None, :, :]
    F = 0.5 * (S[:, :, None] * d ** 2).sum() + 1.5 * ((X[lab] - Y[lab]) ** 2).sum()
    assert res.objective == pytest.approx(F, rel=1e-9)


def test_forest_blocks_are_acyclic_and_few_on_a_lattice(rng):
    for W in (_lattice(20), _graph(rng, n=200, avg_deg=6)):
        blk = bcd.forest_blocks(W)
        S = sp.csr_array(W)
        for b in range(blk.max() + 1):
            nodes = np.flatnonzero(blk == b)
            sub = S[nodes][:, nodes]
            ncomp = csgraph.connected_components(sub, directed=False)[0]
            assert sub.nnz // 2 == nodes.size - ncomp  # a forest: edges = nodes - trees
    assert bcd.forest_blocks(_lattice(20)).max() + 1 <= 3


def test_message_passing_equals_dense_block_solve(rng):
    # a random tree is one forest block: a single Newton update is the exact solve
    n = 200
    parent = np.array([rng.integers(0, i) for i in range(1, n)])
    w = rng.uniform(0.1, 3.0, n - 1)
    T = sp.coo_array((w, (np.arange(1, n), parent)), shape=(n, n)).tocsr()
    T = T + T.T
    y = _labels(rng, n, k=2, frac=0.05)
    assert np.all(bcd.forest_blocks(T) == 0)
    res = bcd.label_propagation(T, y, lam=1.0, tol=1e-12)
    assert res.converged and res.iterations == 1
    M, C = _reference(T, y, 1.0)
    np.testing.assert_allclose(res.x, np.linalg.solve(M.toarray(), C), atol=1e-10)


def test_paper_orderings_on_a_lattice(rng):
    W = _lattice(24)
    n = W.shape[0]
    y = _labels(rng, n, k=2, frac=0.05)
    sweeps, iters = {}, {}
    for blocks, bs in (("forest", 1), ("contiguous", 1), ("contiguous", 4)):
        r = bcd.label_propagation(W, y, blocks=blocks, block_size=bs, tol=1e-6)
        assert r.converged
        sweeps[(blocks, bs)] = r.outer_iterations
        iters[(blocks, bs)] = r.iterations
    # tree blocks (2 forests on a lattice) need far fewer block updates than small fixed
    # blocks (the paper's iteration count), and fewer sweeps than single coordinates
    assert iters[("forest", 1)] < iters[("contiguous", 4)] < iters[("contiguous", 1)]
    assert sweeps[("forest", 1)] < sweeps[("contiguous", 1)]
    cg = {p: bcd.label_propagation(W, y, method="cg", preconditioner=p, tol=1e-8).iterations
          for p in ("forest", "jacobi", "none")}
    assert cg["forest"] < cg["jacobi"] and cg["forest"] < cg["none"]


def test_unlabelled_components_stay_zero_and_isolated_nodes(rng):
    W = sp.block_diag([_graph(rng, n=40), _graph(rng, n=30), sp.csr_array((5, 5))]).tocsr()
    y = -np.ones(75, dtype=int)
    y[:6] = [0, 1, 0, 1, 0, 1]  # only the first component is labelled
    for method in ("bcd", "cg"):
        res = bcd.label_propagation(W, y, method=method, tol=1e-10)
        assert res.converged and np.all(np.isfinite(res.x))
        assert np.all(res.x[40:] == 0)


def test_float32_threads_and_warm_start(rng):
    W = _graph(rng, n=3000, avg_deg=6)
    y = _labels(rng, 3000, k=3, frac=0.02)
    for method, tol in (("bcd", 1e-5), ("cg", 1e-8)):  # (lambda_min(M) ~ 0.02: BCD is slow)
        r1 = bcd.label_propagation(W, y, method=method, tol=tol, n_threads=1)
        r2 = bcd.label_propagation(W, y, method=method, tol=tol, n_threads=2)
        np.testing.assert_array_equal(r1.x, r2.x)
        assert r1.iterations == r2.iterations and r1.converged
    r32 = bcd.label_propagation(W.astype(np.float32), y, method="cg", tol=1e-8)
    assert r32.x.dtype == np.float32
    np.testing.assert_allclose(r32.x, r1.x, atol=1e-6)
    warm = bcd.label_propagation(W, y, method="cg", tol=1e-8, x0=r1.x)
    assert warm.outer_iterations == 0 and warm.converged


def test_cg_forest_preconditioner_on_big_trees(rng):
    # a 100 x 100 lattice: the first forest block is one tree of thousands of nodes, which the
    # preconditioner cuts into pieces (4096 nodes) solved in parallel; the answer must still
    # be the solution, and identical for any number of threads
    W = _lattice(100)
    y = _labels(rng, 10_000, k=3, frac=0.01)
    blocks = bcd.forest_blocks(W)
    assert np.bincount(blocks).max() > 4096
    r1 = bcd.label_propagation(W, y, method="cg", tol=1e-10, n_threads=1)
    r2 = bcd.label_propagation(W, y, method="cg", tol=1e-10, n_threads=2)
    assert r1.converged
    np.testing.assert_array_equal(r1.x, r2.x)
    M, C = _reference(W, y, 1.0)
    X_ref = spla.splu(M).solve(C)
    # ||X - X*|| <= ||M^-1|| ||M X - C||
    lmin = spla.eigsh(M, k=1, sigma=0, which="LM")[0][0]
    assert np.linalg.norm(r1.x - X_ref) <= r1.measure * np.linalg.norm(C) / lmin * (1 + 1e-6)
    # the forest preconditioner still pays: fewer iterations than Jacobi
    rj = bcd.label_propagation(W, y, method="cg", preconditioner="jacobi", tol=1e-10)
    assert r1.iterations < rj.iterations


def test_bad_input(rng):
    W = _graph(rng, n=20)
    y = _labels(rng, 20, k=2, frac=0.2)
    neg = W.copy()
    neg.data[0] = -1.0
    with pytest.raises(ValueError, match="W: .*negative"):
        bcd.label_propagation(neg, y)
    nan = W.copy()
    nan.data[0] = np.nan
    with pytest.raises(ValueError, match="W: .*NaN"):
        bcd.label_propagation(nan, y)
    with pytest.raises(ValueError, match="W: .*square"):
        bcd.label_propagation(sp.random(20, 21, density=0.1, random_state=0), y)
    with pytest.raises(TypeError, match="W"):
        bcd.label_propagation("graph", y)
    with pytest.raises(ValueError, match="y"):
        bcd.label_propagation(W, y[:-1])
    with pytest.raises(ValueError, match="y: .*-1"):
        bcd.label_propagation(W, np.where(y == 0, -3, y))
    with pytest.raises(ValueError, match="y: no labelled"):
        bcd.label_propagation(W, -np.ones(20, dtype=int))
    with pytest.raises(ValueError, match="lam"):
        bcd.label_propagation(W, y, lam=0.0)
    with pytest.raises(ValueError, match="blocks: .*empty"):
        bcd.label_propagation(W, y, blocks=np.where(np.arange(20) < 10, 0, 2))
    with pytest.raises(ValueError, match="blocks"):
        bcd.label_propagation(W, y, blocks=np.zeros(19, dtype=int))
    with pytest.raises(ValueError, match="preconditioner"):
        bcd.label_propagation(W, y, blocks="contiguous", method="cg")
    with pytest.raises(ValueError, match="x0"):
        bcd.label_propagation(W, y, x0=np.zeros((20, 3)))
    with pytest.raises(ValueError, match="rule"):
        bcd.label_propagation(W, y, rule="best")
    with pytest.warns(ConvergenceWarning):
        bcd.label_propagation(_lattice(10), _labels(rng, 100, k=2, frac=0.02),
                              blocks="contiguous", max_iter=5, tol=1e-12)
