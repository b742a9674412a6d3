"""Command line: ``python -m sparsketch demo | config | --cmake-dir | --include-dir``."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _fwht_reference(x: np.ndarray) -> np.ndarray:
    """Independent NumPy FWHT along the last axis: H_N = H_2 (x) ... (x) H_2 applied one
    factor at a time on an (batch, 2, ..., 2) reshaped copy, in float64."""
    n = x.shape[-1]
    L = n.bit_length() - 1
    y = np.array(x, dtype=np.float64).reshape(x.shape[:-1] + (2,) * L)
    for k in range(L):
        ax = y.ndim - 1 - k
        a = np.take(y, 0, axis=ax)
        b = np.take(y, 1, axis=ax)
        y = np.stack([a + b, a - b], axis=ax)
    return y.reshape(x.shape)


def _time(fn, repeat: int = 5) -> float:
    fn()  # warm-up
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def _lad_optimum(A, b) -> float:
    """min_x ||A x - b||_1 as a linear program (scipy's HiGHS)."""
    import scipy.sparse as sp
    from scipy.optimize import linprog
    n, d = A.shape
    eye = sp.identity(n, format="csr")
    res = linprog(np.r_[np.zeros(d), np.ones(2 * n)],
                  A_eq=sp.hstack([sp.csr_matrix(A), eye, -eye], format="csr"), b_eq=b,
                  bounds=[(None, None)] * d + [(0, None)] * (2 * n), method="highs")
    return float(res.fun)


def demo(out=sys.stdout) -> list[dict]:
    """Run every available kernel on built-in synthetic data; print kernel, size, time, error."""
    import sparsketch

    rng = np.random.default_rng(20261123)
    rows = []

    # FWHT, one long float64 vector: error against the independent NumPy reference.
    x = rng.standard_normal(1 << 20)
    t = _time(lambda: sparsketch.fwht(x))
    y = sparsketch.fwht(x)
    ref = _fwht_reference(x)
    rows.append(dict(kernel="fwht float64", size="2^20", time=t,
                     error=float(np.max(np.abs(y - ref)) / np.max(np.abs(ref))),
                     reference="NumPy Kronecker-factor FWHT"))

    # FWHT, a float32 batch along the last axis.
    xb = rng.standard_normal((256, 1 << 12)).astype(np.float32)
    t = _time(lambda: sparsketch.fwht(xb, normalized=True))
    yb = sparsketch.fwht(xb, normalized=True)
    refb = _fwht_reference(xb) / np.sqrt(xb.shape[-1])
    rows.append(dict(kernel="fwht float32 batch", size="256 x 2^12", time=t,
                     error=float(np.max(np.abs(yb - refb)) / np.max(np.abs(refb))),
                     reference="NumPy Kronecker-factor FWHT"))

    # FWHT round trip H(Hx) = N x on integer data (exact in float64).
    xi = rng.integers(-8, 9, size=1 << 16).astype(np.float64)
    t = _time(lambda: sparsketch.fwht(sparsketch.fwht(xi)))
    back = sparsketch.fwht(sparsketch.fwht(xi)) / xi.size
    rows.append(dict(kernel="fwht round trip", size="2^16", time=t,
                     error=float(np.max(np.abs(back - xi))), reference="H(Hx) = N x, exact"))

    # Sketch operators: S @ A against the explicit matrix S (built column block by column block).
    A = rng.standard_normal((4000, 30))
    for kind in ("sparse_sign", "srht"):
        S = sparsketch.SketchOperator(kind, 300, A.shape[0], seed=1)
        t = _time(lambda: S @ A)
        ref = S.toarray() @ A
        rows.append(dict(kernel=f"sketch {kind}", size="300 x 4000 @ 4000 x 30", time=t,
                         error=float(np.linalg.norm(S @ A - ref) / np.linalg.norm(ref)),
                         reference="explicit S @ A"))

    # Least squares: a tall ill-conditioned problem (kappa 1e6) against LAPACK (numpy).
    n, d = 50_000, 100
    V = np.linalg.qr(rng.standard_normal((d, d)))[0]
    A = rng.standard_normal((n, d)) @ (np.logspace(0, -6, d)[:, None] * V.T)
    b = A @ rng.standard_normal(d) + 1e-3 * rng.standard_normal(n)
    t = _time(lambda: sparsketch.lstsq(A, b, seed=0), repeat=3)
    x = sparsketch.lstsq(A, b, seed=0).x
    x_ref = np.linalg.lstsq(A, b, rcond=None)[0]
    rows.append(dict(kernel="lstsq precondition", size=f"{n} x {d}, k=1e6", time=t,
                     error=float(np.linalg.norm(x - x_ref) / np.linalg.norm(x_ref)),
                     reference="numpy.linalg.lstsq"))

    # Leverage scores and leverage-score sampling on a coherent matrix against LAPACK's QR.
    A = rng.standard_normal((100_000, 20))
    A[:20] *= 1e3
    t = _time(lambda: sparsketch.leverage_scores(A, method="approx", seed=0), repeat=3)
    tau = sparsketch.leverage_scores(A, method="approx", seed=0)
    Q = np.linalg.qr(A)[0]
    ref = np.sum(Q * Q, axis=1)
    # error: the largest relative score error over every row (a ~10% sketch error by design)
    rows.append(dict(kernel="leverage_scores approx", size="100000 x 20", time=t,
                     error=float(np.max(np.abs(tau / ref - 1))), reference="numpy.linalg.qr",
                     tolerance=0.5))
    b = A @ rng.standard_normal(20) + rng.standard_normal(100_000)
    t = _time(lambda: sparsketch.sample_rows(A, 2000, scores="leverage", seed=0), repeat=3)
    SA, Sb = sparsketch.sample_rows(A, 2000, scores="leverage", seed=0).apply(A, b)
    x = np.linalg.lstsq(SA, Sb, rcond=None)[0]
    x_ref = np.linalg.lstsq(A, b, rcond=None)[0]
    rr = np.linalg.norm(A @ x - b) / np.linalg.norm(A @ x_ref - b)
    rows.append(dict(kernel="sample_rows leverage", size="2000 of 100000 rows", time=t,
                     error=float(rr - 1), reference="residual vs lstsq", tolerance=0.05))

    # l1 regression with outliers against a linear program (HiGHS) on the same data.
    n, d = 20_000, 10
    A = rng.standard_normal((n, d))
    b = A @ rng.standard_normal(d) + rng.laplace(size=n)
    b[:200] += 100.0
    t = _time(lambda: sparsketch.lp_regression(A, b, 1, seed=0), repeat=3)
    res = sparsketch.lp_regression(A, b, 1, seed=0)
    opt = _lad_optimum(A, b)
    rows.append(dict(kernel="lp_regression p=1", size=f"{n} x {d}", time=t,
                     error=float(res.objective / opt - 1), reference="scipy linprog (HiGHS)",
                     tolerance=0.01))

    # Sparse WHT: a 50-term pseudo-Boolean function of 40 binary variables, queried with noise
    # (SNR 10 dB), against its known Walsh coefficients.
    nv, K = 40, 50
    support = rng.choice(1 << nv, K, replace=False).astype(np.uint64)
    coef = rng.choice([-1.0, 1.0], K) * rng.uniform(0.5, 2.0, K)
    sigma = float(np.sqrt(np.sum(coef**2) / 10.0))
    weights = np.uint64(1) << np.arange(nv, dtype=np.uint64)
    noise_rng = np.random.default_rng(7)

    def f(bits):  # the black box: one batch of queries, (batch, n) uint8 bits
        t = (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
        y = np.zeros(t.size)
        for k, v in zip(support, coef):
            p = t & k
            for s in (32, 16, 8, 4, 2, 1):
                p ^= p >> np.uint64(s)
            y += v * (1.0 - 2.0 * (p & np.uint64(1)).astype(np.float64))
        return y + sigma * noise_rng.standard_normal(t.size)

    t = _time(lambda: sparsketch.sparse_wht(f, nv, k=K, seed=0), repeat=3)
    res = sparsketch.sparse_wht(f, nv, k=K, seed=0)
    truth = dict(zip(support.tolist(), coef.tolist()))
    got = dict(zip(res.indices.tolist(), res.values.tolist()))
    keys = set(truth) | set(got)
    err = np.sqrt(sum((truth.get(q, 0.0) - got.get(q, 0.0)) ** 2 for q in keys) /
                  sum(v * v for v in truth.values()))
    # error: relative l2 error of the spectrum; noise makes it ~2% here, a wrong support >= 14%
    rows.append(dict(kernel="sparse_wht noisy", size=f"n={nv}, K={K}, {res.samples} queries",
                     time=t, error=float(err), reference="true coefficients (10 dB SNR)",
                     tolerance=0.1))

    # spgemm: the square of a random sparse graph (power-law-free), against SciPy's A @ A
    import scipy.sparse as sp
    G = sp.random_array((20000, 20000), density=4e-4, random_state=rng, format="csr")
    t = _time(lambda: sparsketch.spgemm(G, G))
    C = sparsketch.spgemm(G, G)
    R = G @ G
    err = float(abs(C - R).max() / abs(R).max())
    rows.append(dict(kernel="spgemm A @ A", size=f"20000^2, nnz {G.nnz} -> {C.nnz}", time=t,
                     error=err, reference="scipy A @ A", tolerance=1e-12))

    # completion: a rank-8 matrix (2000 x 1500) from 5% of its entries, against the truth
    Uc = rng.standard_normal((2000, 8))
    Vc = rng.standard_normal((1500, 8))
    mask = rng.random((2000, 1500)) < 0.05
    oi, oj = np.nonzero(mask)
    obs = (oi, oj, np.einsum("ij,ij->i", Uc[oi], Vc[oj]))
    model = sparsketch.MatrixCompletion(8, reg=1e-6, reg_scaling="none", biases=False,
                                        init="random", max_iter=15, dtype=np.float64, seed=0)
    t = _time(lambda: model.fit(obs, shape=(2000, 1500)), repeat=3)
    hi, hj = rng.integers(0, 2000, 5000), rng.integers(0, 1500, 5000)
    truth_c = np.einsum("ij,ij->i", Uc[hi], Vc[hj])
    err = float(np.linalg.norm(model.predict(hi, hj) - truth_c) / np.linalg.norm(truth_c))
    rows.append(dict(kernel="completion ALS rank 8", size=f"2000x1500, {oi.size} observed",
                     time=t, error=err, reference="held-out true entries", tolerance=1e-3))

    # bcd: a Lasso with a known sparse solution (200 x 1000, 10 nonzeros), against the
    # closed form on the recovered support: least squares with the KKT signs, which is the
    # exact Lasso solution when the support and signs are right
    Ab = rng.standard_normal((200, 1000))
    xb = np.zeros(1000)
    xb[rng.choice(1000, 10, replace=False)] = rng.choice([-1.0, 1.0], 10) * (1 + rng.random(10))
    yb = Ab @ xb + 0.01 * rng.standard_normal(200)
    alpha = 0.05 * np.abs(Ab.T @ yb).max() / 200
    t = _time(lambda: sparsketch.bcd.lasso(Ab, yb, alpha, tol=1e-10), repeat=5)
    res = sparsketch.bcd.lasso(Ab, yb, alpha, tol=1e-10)
    S = np.flatnonzero(res.x)
    AS = Ab[:, S]
    x_ref = np.linalg.solve(AS.T @ AS, AS.T @ yb - 200 * alpha * np.sign(res.x[S]))
    err = float(np.abs(res.x[S] - x_ref).max() / np.abs(x_ref).max())
    rows.append(dict(kernel="bcd lasso (GSL+Newton)", size=f"200 x 1000, support {S.size}",
                     time=t, error=err, reference="closed form on the support",
                     tolerance=1e-6))

    # dask (only when Dask is installed: pip install "sparsketch[dask]"): least squares on a
    # row-chunked Dask array with unaligned chunks, synchronous scheduler, against LAPACK
    try:
        import dask
        import dask.array as da
    except ImportError:
        dask = None
    if dask is not None:
        import sparsketch.dask
        Ad = rng.standard_normal((100_000, 20))
        yd = Ad @ rng.standard_normal(20) + rng.standard_normal(100_000)
        Add = da.from_array(Ad, chunks=(30_000, 20))
        with dask.config.set(scheduler="synchronous"):
            t = _time(lambda: sparsketch.dask.lstsq(Add, yd, seed=0), repeat=3)
            xd = sparsketch.dask.lstsq(Add, yd, seed=0).x
        x_ref = np.linalg.lstsq(Ad, yd, rcond=None)[0]
        rows.append(dict(kernel="dask lstsq (3 passes)", size="100000 x 20, 4 chunks",
                         time=t, error=float(np.linalg.norm(xd - x_ref) / np.linalg.norm(x_ref)),
                         reference="numpy.linalg.lstsq", tolerance=1e-10))

    print(f"sparsketch {sparsketch.__version__} demo  "
          f"(threads: {sparsketch.get_num_threads()}, "
          f"simd: {sparsketch.show_config(mode='dicts')['build']['simd']})", file=out)
    hdr = f"{'kernel':<24} {'size':<32} {'time':>10}  {'rel. error':>10}  reference"
    print(hdr, file=out)
    print("-" * len(hdr), file=out)
    for r in rows:
        print(f"{r['kernel']:<24} {r['size']:<32} {r['time'] * 1e3:>8.3f}ms  {r['error']:>10.2e}  "
              f"{r['reference']}", file=out)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m sparsketch",
                                description="sparsketch: fast sparse and randomized linear algebra")
    p.add_argument("command", nargs="?", choices=["demo", "config"],
                   help="demo: run every kernel on built-in data; config: show build configuration")
    p.add_argument("--cmake-dir", action="store_true",
                   help="print the directory of sparsketchConfig.cmake and exit")
    p.add_argument("--include-dir", action="store_true",
                   help="print the C++ include directory and exit")
    args = p.parse_args(argv)
    import sparsketch

    if args.cmake_dir:
        print(sparsketch.get_cmake_dir())
        return 0
    if args.include_dir:
        print(sparsketch.get_include())
        return 0
    if args.command == "demo":
        rows = demo()
        bad = [r for r in rows if not r["error"] < r.get("tolerance", 1e-5)]
        return 1 if bad else 0
    if args.command == "config":
        sparsketch.show_config()
        return 0
    p.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
