"""sparsketch.dask: the kernels on row-chunked Dask arrays. References: the in-memory functions
(bitwise where the passes are the same, to rounding otherwise), NumPy/LAPACK least squares and
QR leverage scores; results must be bitwise identical across chunkings and schedulers."""

import numpy as np
import pytest
import scipy.sparse as sp

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

import sparsketch  # noqa: E402
import sparsketch.dask as sd  # noqa: E402

T = sd.ROW_TILE
N_BIG = 2 * T + 12345  # three tiles, the last one partial


def _sync():
    return dask.config.set(scheduler="synchronous")


def _chunkings(n):
    """Tile-aligned, uneven (boundaries inside tiles), one chunk, many small chunks."""
    uneven = [10000, T, 33333]
    uneven.append(n - sum(uneven))
    return [T, tuple(uneven), n, 7919]


def _as_dask(X, rows):
    return da.from_array(X, chunks=(rows, X.shape[1]) if X.ndim == 2 else (rows,))


@pytest.fixture(scope="module")
def tall():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N_BIG, 6)) * np.array([1.0, 10.0, 0.1, 1.0, 3.0, 1.0])
    X[:50] *= 30.0  # a few high-leverage rows
    y = X @ rng.standard_normal(6) + rng.standard_normal(N_BIG)
    return X, y


def test_module_import_does_not_need_dask_until_used():
    # sparsketch itself never imports Dask; sparsketch.dask imports it only on use.
    import subprocess
    import sys
    code = ("import sys, sparsketch, sparsketch.dask; "
            "print('dask' in sys.modules, 'dask.array' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("kind", ["sparse_sign", "countsketch", "gaussian", "srht"])
def test_sketch_small_is_bitwise_the_in_memory_sketch(kind):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((5000, 7))
    for rows in (5000, 1234, 999):
        with _sync():
            SA = sd.sketch(_as_dask(X, rows), 64, kind, seed=3)
        np.testing.assert_array_equal(SA, sparsketch.sketch(X, 64, kind, seed=3))


@pytest.mark.parametrize("kind", ["sparse_sign", "countsketch", "gaussian", "srht"])
def test_sketch_is_chunking_independent_and_equals_in_memory_to_rounding(tall, kind):
    X, _ = tall
    ref = sparsketch.sketch(X, 40, kind, seed=5)
    out = []
    for ch in _chunkings(X.shape[0]):
        with _sync():
            out.append(sd.sketch(_as_dask(X, ch), 40, kind, seed=5))
    for o in out[1:]:
        np.testing.assert_array_equal(o, out[0])
    # Another summation order of n = 143417 terms: |error| <= n eps max|S| sum|a| in the worst
    # case, ~sqrt(n) eps in practice; 1e-12 relative to the largest entry is ample.
    scale = np.abs(ref).max()
    assert np.abs(out[0] - ref).max() <= 1e-12 * scale


def test_sketch_sparse_chunks_and_float32():
    rng = np.random.default_rng(2)
    Xs = sp.random(T + 5000, 30, density=0.05, format="csr", random_state=3, dtype=np.float64)
    Xs.indices = Xs.indices.astype(np.int64)
    Xs.indptr = Xs.indptr.astype(np.int64)
    blocks = [da.from_delayed(dask.delayed(lambda a, b: Xs[a:b])(a, b), shape=(b - a, 30),
                              dtype=np.float64, meta=sp.csr_matrix((0, 0)))
              for a, b in [(0, 20000), (20000, T + 100), (T + 100, T + 5000)]]
    A = da.concatenate(blocks, axis=0)
    with _sync():
        SA = sd.sketch(A, 60, seed=1)
    ref = sparsketch.sketch(Xs, 60, seed=1)
    assert np.abs(SA - ref).max() <= 1e-13 * np.abs(ref).max()
    # the dense array gives the same sketch up to the order of the sums (a dense tile of
    # 65536 rows sums four row parts separately; see sketch.hpp)
    with _sync():
        SD = sd.sketch(_as_dask(Xs.toarray(), 20000), 60, seed=1)
    assert np.abs(SA - SD).max() <= 1e-13 * np.abs(ref).max()
    X32 = rng.standard_normal((3000, 5)).astype(np.float32)
    with _sync():
        S32 = sd.sketch(_as_dask(X32, 1000), 20, seed=0)
    assert S32.dtype == np.float32
    np.testing.assert_array_equal(S32, sparsketch.sketch(X32, 20, seed=0))


def test_lstsq_matches_lapack_in_three_passes_for_any_chunking(tall):
    X, y = tall
    ref = np.linalg.lstsq(X, y, rcond=None)[0]
    xs = []
    for ch in _chunkings(X.shape[0]):
        with _sync():
            res = sd.lstsq(_as_dask(X, ch), _as_dask(y, 20000), seed=0)
        assert res.converged and res.passes == 3 and res.rank == 6
        xs.append(res.x)
    for x in xs[1:]:
        np.testing.assert_array_equal(x, xs[0])
    # LAPACK's forward error bound ~ eps kappa(A) (kappa ~ 100 here, residual large)
    np.testing.assert_allclose(xs[0], ref, rtol=1e-11, atol=0)
    mem = sparsketch.lstsq(X, y, seed=0).x
    np.testing.assert_allclose(xs[0], mem, rtol=1e-11, atol=0)


def test_lstsq_ill_conditioned_rank_deficient_and_multiple_rhs():
    rng = np.random.default_rng(4)
    n, d = 30000, 12
    U = np.linalg.qr(rng.standard_normal((n, d)))[0]
    V = np.linalg.qr(rng.standard_normal((d, d)))[0]
    X = (U * np.logspace(0, -8, d)) @ V.T  # kappa = 1e8
    xt = rng.standard_normal(d)
    y = X @ xt + 1e-6 * rng.standard_normal(n)
    with _sync():
        res = sd.lstsq(_as_dask(X, 7000), y, seed=1)
    ref = np.linalg.lstsq(X, y, rcond=None)[0]
    # Here even LAPACK's answer misses the default test (||r|| ~ 1e-4 is below the rounding
    # of r = b - A x itself), so compare with LAPACK instead: optimality measure
    # ||A^T r|| / (||A||_F ||r||) no worse than LAPACK's, and forward difference within what
    # two backward-stable solvers may differ by, eps kappa^2 ||r|| / (||A|| ||x||) + eps kappa
    r = y - X @ ref
    lapack_gn = np.linalg.norm(X.T @ r) / (np.linalg.norm(X) * np.linalg.norm(r))
    assert res.passes <= 5 and res.gradient_norm <= lapack_gn
    assert np.linalg.norm(res.x - ref) <= 1e-6 * np.linalg.norm(ref)
    # rank deficient: duplicate columns -> the minimum-norm solution
    Z = np.hstack([X[:, :4], X[:, :4]])
    Y = np.stack([y, -2 * y], axis=1)
    with _sync():
        rz = sd.lstsq(_as_dask(Z, 5000), _as_dask(Y, 5000), seed=2)
    zref = np.linalg.lstsq(Z, Y, rcond=None)[0]
    assert rz.rank == 4 and rz.x.shape == (8, 2)
    np.testing.assert_allclose(rz.x, zref, rtol=1e-6, atol=1e-9 * np.abs(zref).max())


@pytest.mark.parametrize("method,passes", [("approx", 2), ("exact", 3)])
def test_leverage_scores_passes_chunking_and_reference(tall, method, passes, monkeypatch):
    X, _ = tall
    count = []
    run = sd._DaskDesign._run

    def counting(self, *a, **k):
        count.append(a[0])
        return run(self, *a, **k)

    monkeypatch.setattr(sd._DaskDesign, "_run", counting)
    out = []
    for ch in _chunkings(X.shape[0])[:3]:
        count.clear()
        with _sync():
            out.append(sd.leverage_scores(_as_dask(X, ch), method=method, seed=0))
        assert len(count) == passes, count
    for o in out[1:]:
        np.testing.assert_array_equal(o, out[0])
    exact = np.sum(np.linalg.qr(X)[0] ** 2, axis=1)
    mem = sparsketch.leverage_scores(X, method=method, seed=0)
    if method == "exact":
        np.testing.assert_allclose(out[0], exact, rtol=1e-9)
    else:  # the in-memory approximation, to rounding; within its documented factor of exact
        np.testing.assert_allclose(out[0], mem, rtol=1e-9)
        # subspace embedding with distortion e ~ sqrt(d/m) = 0.22 (m = 20 d + 8): every ratio
        # within [1/(1+e)^2, 1/(1-e)^2] = [0.67, 1.65] times the bias factor (m-d-1)/m = 0.95,
        # loosened for the constant in e
        ratio = out[0] / exact
        assert 0.5 <= ratio.min() and ratio.max() <= 2.0
        assert abs(np.median(ratio) - 1.0) < 0.1


def test_sampling_and_lp_regression_match_in_memory_bitwise_for_small_n():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40000, 5))
    y = X @ rng.standard_normal(5) + rng.laplace(size=40000)
    A = _as_dask(X, 9000)
    with _sync():
        s = sd.sample_rows(A, 3000, scores="lewis", p=1, seed=7)
        lp = sd.lp_regression(A, _as_dask(y, 9000), p=1, seed=3)
        SA, Sb = s.apply(A, _as_dask(y, 9000))
    ref = sparsketch.sample_rows(X, 3000, scores="lewis", p=1, seed=7)
    np.testing.assert_array_equal(s.indices, ref.indices)
    np.testing.assert_array_equal(s.weights, ref.weights)
    RA, Rb = ref.apply(X, y)
    np.testing.assert_array_equal(SA, RA)
    np.testing.assert_array_equal(Sb, Rb)
    lref = sparsketch.lp_regression(X, y, p=1, seed=3)
    np.testing.assert_array_equal(lp.x, lref.x)
    assert lp.objective == lref.objective
    # p > 2: scores of [A, b] (the design with b appended as a column)
    with _sync():
        lp3 = sd.lp_regression(A, y, p=3, seed=4)
    np.testing.assert_array_equal(lp3.x, sparsketch.lp_regression(X, y, p=3, seed=4).x)


def _sparse_dask(Xs, cuts):
    """A Dask array of CSR chunks (rows cuts[i]:cuts[i+1] of Xs)."""
    blocks = [da.from_delayed(dask.delayed(lambda a, b: Xs[a:b])(a, b),
                              shape=(b - a, Xs.shape[1]), dtype=Xs.dtype,
                              meta=sp.csr_matrix((0, 0), dtype=Xs.dtype))
              for a, b in zip(cuts[:-1], cuts[1:])]
    return da.concatenate(blocks, axis=0)


def test_sparse_chunks_lstsq_leverage_and_sampling():
    n, d = T + 20000, 15
    Xs = sp.random(n, d, density=0.3, format="csr", random_state=8)
    Xs = sp.csr_matrix(Xs + sp.eye(n, d, format="csr"))  # full column rank
    y = np.random.default_rng(8).standard_normal(n)
    Xd = Xs.toarray()
    outs = []
    for cuts in ([0, T, n], [0, 30000, 70000, n]):
        A = _sparse_dask(Xs, cuts)
        with _sync():
            outs.append((sd.lstsq(A, y, seed=1).x,
                         sd.leverage_scores(A, method="exact", seed=1),
                         sd.sample_rows(A, 400, seed=1).indices))
    for a, b in zip(outs[0], outs[1]):
        np.testing.assert_array_equal(a, b)
    x, tau, idx = outs[0]
    np.testing.assert_allclose(x, np.linalg.lstsq(Xd, y, rcond=None)[0], rtol=1e-10)
    np.testing.assert_allclose(tau, np.sum(np.linalg.qr(Xd)[0] ** 2, axis=1), rtol=1e-9,
                               atol=1e-15)
    np.testing.assert_array_equal(idx, sparsketch.sample_rows(Xs, 400, seed=1).indices)


def test_sampling_and_lp_regression_are_chunking_independent(tall):
    X, y = tall
    idx, xs = [], []
    for ch in _chunkings(X.shape[0])[:3]:
        with _sync():
            A = _as_dask(X, ch)
            idx.append(sd.sample_rows(A, 500, scores="leverage", seed=1).indices)
            xs.append(sd.lp_regression(A, y, p=1.5, seed=2).x)
    for i, x in zip(idx[1:], xs[1:]):
        np.testing.assert_array_equal(i, idx[0])
        np.testing.assert_array_equal(x, xs[0])
    mem = sparsketch.sample_rows(X, 500, scores="leverage", seed=1).indices
    np.testing.assert_array_equal(idx[0], mem)  # scores equal to rounding: same draws here
    with _sync():
        full = sd.lp_regression(_as_dask(X, T), y, p=3, method="full", tol=1e-8)
    ref = sparsketch.lp_regression(X, y, p=3, method="full", tol=1e-8)
    np.testing.assert_allclose(full.x, ref.x, rtol=1e-6)


def test_sparse_chunks_lp_regression_above_p2():
    # p > 2 samples by the scores of [A, b]: the sparse design gets b as a column per chunk
    n, d = 20000, 6
    Xs = sp.csr_matrix(sp.random(n, d, density=0.5, format="csr", random_state=9)
                       + sp.eye(n, d, format="csr"))
    y = Xs @ np.ones(d) + np.random.default_rng(9).standard_normal(n)
    with _sync():
        res = sd.lp_regression(_sparse_dask(Xs, [0, 7000, n]), y, p=3, seed=5)
    ref = sparsketch.lp_regression(Xs, y, p=3, seed=5)
    np.testing.assert_array_equal(res.x, ref.x)  # n <= ROW_TILE: the same passes, bitwise


def test_same_result_for_one_and_two_threads(tall):
    X, y = tall
    A = _as_dask(X, 50000)
    out = []
    for nt in (1, 2):
        with _sync():
            out.append((sd.sketch(A, 30, "gaussian", seed=1, n_threads=nt),
                        sd.sketch(A, 30, "srht", seed=1, n_threads=nt),
                        sd.lstsq(A, y, seed=1, n_threads=nt).x,
                        sd.leverage_scores(A, method="exact", seed=1, n_threads=nt),
                        sd.sample_rows(A, 300, scores="lewis", p=1, seed=1, n_threads=nt).indices,
                        sd.lp_regression(A, y, p=1, seed=1, n_threads=nt).x))
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)
    S = sparsketch.SketchOperator("sparse_sign", 40, X.shape[0], seed=2)
    np.testing.assert_array_equal(S.apply_rows(X[T:], T, n_threads=1),
                                  S.apply_rows(X[T:], T, n_threads=2))


def test_apply_rows_rejects_bad_blocks():
    S = sparsketch.SketchOperator("srht", 16, 1000, seed=0)
    X = np.ones((100, 2))
    with pytest.raises(ValueError, match="start"):
        S.apply_rows(X, 100)  # an SRHT block of 100 rows starts at a multiple of 128
    with pytest.raises(ValueError, match="does not lie within"):
        S.apply_rows(X, 950)
    with pytest.raises(ValueError, match="start"):
        S.apply_rows(X, -1)
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        S.apply_rows(Xn, 0)


def test_take_rows_dense_and_sparse():
    X = np.arange(60.0).reshape(20, 3)
    A = da.from_array(X, chunks=(6, 3))
    idx = np.array([19, 0, 7, 7, 12])
    with _sync():
        np.testing.assert_array_equal(sd.take_rows(A, idx), X[idx])
        assert sd.take_rows(A, np.array([], dtype=int)).shape == (0, 3)
    Xs = sp.csr_array(np.where(X % 4 == 0, X, 0.0))
    As = da.from_array(sp.csr_matrix(Xs), chunks=(6, 3), asarray=False)
    with _sync():
        got = sd.take_rows(As, idx)
    assert sp.issparse(got)
    np.testing.assert_array_equal(got.toarray(), Xs.toarray()[idx])
    with pytest.raises(IndexError, match="indices"):
        sd.take_rows(A, [20])


def test_column_chunks_are_rechunked_and_bad_input_rejected():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((3000, 6))
    with _sync():
        a = sd.sketch(da.from_array(X, chunks=(1000, 2)), 30, seed=0)
        b = sd.sketch(da.from_array(X, chunks=(1000, 6)), 30, seed=0)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="dask.array.Array"):
        sd.sketch(X, 30)
    with pytest.raises(ValueError, match="2-D"):
        sd.sketch(da.zeros(10, chunks=5), 3)
    with pytest.raises(ValueError, match="empty"):
        sd.sketch(da.zeros((0, 3), chunks=5), 3)
    with pytest.raises(TypeError, match="dtype"):
        sd.sketch(da.zeros((10, 3), chunks=5, dtype=complex), 3)
    A = da.from_array(X, chunks=(1000, 6))
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        sd.sketch(A[A[:, 0] > 0], 3)
    with pytest.raises(ValueError, match="b: expected 3000 rows"):
        sd.lstsq(A, np.ones(10))
    with pytest.raises(ValueError, match="b: contains NaN"):
        sd.lstsq(A, np.full(3000, np.nan))
    with pytest.raises(ValueError, match="tall"):
        sd.lstsq(da.from_array(X[:4]), np.ones(4))
    with pytest.raises(ValueError, match="volume"):
        sd.sample_rows(A, 10, scores="volume")
    with pytest.raises(ValueError, match="kind"):
        sd.sketch(A, 10, kind="nope")
    bad = X.copy()
    bad[2500, 3] = np.nan
    with _sync(), pytest.raises(ValueError, match=r"NaN or Inf \(in rows 0:3000\)"):
        sd.leverage_scores(da.from_array(bad, chunks=(1000, 6)))


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as lc:
        yield lc


def test_local_cluster_results_equal_synchronous_bitwise(cluster, tall):
    from distributed import Client
    X, y = tall
    with _sync():
        ref_sketch = sd.sketch(_as_dask(X, T), 32, "gaussian", seed=9)
        ref_x = sd.lstsq(_as_dask(X, T), y, seed=9).x
        ref_tau = sd.leverage_scores(_as_dask(X, T), method="approx", seed=9)
        ref_idx = sd.sample_rows(_as_dask(X, T), 800, seed=9).indices
    with Client(cluster):
        A = _as_dask(X, 40000)  # another chunking, on 2 worker processes
        np.testing.assert_array_equal(sd.sketch(A, 32, "gaussian", seed=9), ref_sketch)
        res = sd.lstsq(A, _as_dask(y, 50000), seed=9)
        assert res.converged and res.passes == 3
        np.testing.assert_array_equal(res.x, ref_x)
        np.testing.assert_array_equal(sd.leverage_scores(A, method="approx", seed=9), ref_tau)
        np.testing.assert_array_equal(sd.sample_rows(A, 800, seed=9).indices, ref_idx)
        # a worker-side error reaches the client as the same, clear exception
        bad = X[:5000].copy()
        bad[4321, 0] = np.inf
        with pytest.raises(ValueError, match=r"NaN or Inf \(in rows 0:5000\)"):
            sd.sketch(_as_dask(bad, 2500), 10)
