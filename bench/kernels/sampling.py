"""Sampling benchmark (issue 4).

1. Leverage scores, exact and approximate, against the NumPy route users take today
   (``Q = numpy.linalg.qr(A)[0]; tau = (Q**2).sum(1)``): dense 1M x 100 with 100 rows of leverage
   ~1 (coherent), and sparse 1M x 1000 (10 nonzeros per row). NumPy's QR of the sparse problem
   densified would need 16 GB (A and Q), so there the exact reference is sparsketch's exact
   method, checked against NumPy's QR on a 100k-row slice.
2. l1 regression (least absolute deviations) on 100k x 20 and 1M x 50 (Gaussian A, Laplace
   noise, 1% gross outliers) against statsmodels ``QuantReg(q=0.5)`` and scikit-learn
   ``QuantileRegressor(alpha=0, solver="highs")`` (100k only: its LP does not fit beyond);
   objective ratio to the best objective any method reached.
3. Subspace-embedding distortion against sample count for uniform, leverage, root-leverage,
   Lewis, sensitivity and leverage+sensitivity sampling on a coherent matrix, p = 1, 2, 3
   (median over 5 seeds; for p = 2 exact, otherwise a lower bound over test directions).
"""

from __future__ import annotations

import time

import numpy as np

NAME = "sampling"


def grid(quick):
    if quick:
        return [dict(kind="leverage_dense", n=100_000, d=50),
                dict(kind="leverage_sparse", n=100_000, d=300, nnz_row=10),
                dict(kind="l1", n=20_000, d=10),
                dict(kind="distortion", n=5000, d=8)]
    return [dict(kind="leverage_dense", n=1_000_000, d=100),
            dict(kind="leverage_sparse", n=1_000_000, d=1000, nnz_row=10),
            dict(kind="l1", n=100_000, d=20),
            dict(kind="l1", n=1_000_000, d=50),
            dict(kind="distortion", n=20_000, d=10)]


def _timed(fn, repeat):
    ts, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)), out


def _ratio_stats(approx, exact):
    keep = exact > 1e-12
    r = approx[keep] / exact[keep]
    return {"min_ratio": float(r.min()), "max_ratio": float(r.max()),
            "max_rel_err": float(np.max(np.abs(r - 1))), "sum": float(approx.sum())}


def run_point(point, threads, median_time):
    import sparsketch
    res = {"point": point, "times": {}, "accuracy": {}, "notes": [], "info": {}}
    rng = np.random.default_rng(2026)
    kind = point["kind"]
    if kind == "leverage_dense":
        n, d = point["n"], point["d"]
        A = rng.standard_normal((n, d))
        A[:d] *= 1e3  # d coherent rows
        t, Q = _timed(lambda: np.linalg.qr(A)[0], 3 if n * d > 10**7 else 5)
        ref = np.sum(Q * Q, axis=1)
        del Q
        res["times"]["numpy.linalg.qr route"] = t
        for method in ("exact", "approx"):
            t, tau = _timed(lambda: sparsketch.leverage_scores(A, method=method, seed=0,
                                                                n_threads=threads), 5)
            res["times"][f"sparsketch {method}"] = t
            res["accuracy"][f"sparsketch {method}"] = _ratio_stats(tau, ref)
        return res
    if kind == "leverage_sparse":
        import scipy.sparse as sp
        n, d, k = point["n"], point["d"], point["nnz_row"]
        cols = rng.integers(0, d, size=(n, k))
        A = sp.csr_array((rng.standard_normal(n * k), cols.ravel(), np.arange(0, n * k + 1, k)),
                         shape=(n, d))
        A.sum_duplicates()
        for method in ("exact", "approx"):
            t, tau = _timed(lambda: sparsketch.leverage_scores(A, method=method, seed=0,
                                                                n_threads=threads),
                            3 if method == "exact" else 5)
            res["times"][f"sparsketch {method}"] = t
            if method == "exact":
                ex = tau
        res["accuracy"]["sparsketch approx"] = _ratio_stats(tau, ex)
        res["accuracy"]["sparsketch exact"] = {"sum": float(ex.sum())}
        # NumPy QR on a 100k-row slice (densified): time and the exact method's error there.
        m = min(n, 100_000)
        S = A[:m]
        Sd = S.toarray()
        t, Q = _timed(lambda: np.linalg.qr(Sd)[0], 3)
        ref = np.sum(Q * Q, axis=1)
        del Q, Sd
        res["times"][f"numpy.linalg.qr route ({m} rows)"] = t
        t, tau_s = _timed(lambda: sparsketch.leverage_scores(S, method="exact", seed=0,
                                                              n_threads=threads), 5)
        res["times"][f"sparsketch exact ({m} rows)"] = t
        res["accuracy"][f"sparsketch exact ({m} rows)"] = {
            "max_abs_err": float(np.max(np.abs(tau_s - ref))), "sum": float(tau_s.sum())}
        return res
    if kind == "l1":
        return _l1(point, res, threads)
    return _distortion(point, res)


def _l1(point, res, threads):
    import sparsketch
    rng = np.random.default_rng(7)
    n, d = point["n"], point["d"]
    A = rng.standard_normal((n, d))
    b = A @ rng.standard_normal(d) + rng.laplace(size=n)
    k = n // 100
    b[:k] += 50 * rng.standard_normal(k)
    obj = {}

    def f(x):
        return float(np.abs(b - A @ x).sum())

    runs = {
        "sparsketch lp_regression": lambda: sparsketch.lp_regression(A, b, 1, seed=0,
                                                                     n_threads=threads).x,
        "sparsketch lp_regression (lewis)": lambda: sparsketch.lp_regression(
            A, b, 1, method="lewis", seed=0, n_threads=threads).x,
        "sparsketch lp_regression (polish)": lambda: sparsketch.lp_regression(
            A, b, 1, seed=0, polish=True, n_threads=threads).x,
    }
    for name, fn in runs.items():
        t, x = _timed(fn, 5)
        res["times"][name] = t
        obj[name] = f(x)
    import statsmodels.api as sm
    t, q = _timed(lambda: sm.QuantReg(b, A).fit(q=0.5).params, 3 if n >= 10**6 else 5)
    res["times"]["statsmodels QuantReg"] = t
    obj["statsmodels QuantReg"] = f(q)
    if n <= 50_000:  # 20k rows: 11 s; 100k rows: not finished in 4 minutes (HiGHS LP)
        from sklearn.linear_model import QuantileRegressor
        t, qr = _timed(lambda: QuantileRegressor(quantile=0.5, alpha=0, solver="highs",
                                                 fit_intercept=False).fit(A, b).coef_, 1)
        res["times"]["sklearn QuantileRegressor (highs)"] = t
        obj["sklearn QuantileRegressor (highs)"] = f(qr)
    best = min(obj.values())
    for name, v in obj.items():
        res["accuracy"][name] = {"objective": v, "ratio_to_best": v / best}
    r = sparsketch.lp_regression(A, b, 1, seed=0, n_threads=threads)
    res["info"] = {"coreset_size": r.coreset_size, "iterations": r.iterations,
                   "phase_times": r.times}
    return res


def _distortion(point, res):
    import sparsketch
    rng = np.random.default_rng(11)
    n, d = point["n"], point["d"]
    A = rng.standard_normal((n, d))
    A[:d] += 30 * np.eye(d)  # d rows of leverage ~1
    A[d:4 * d] *= 5  # and a band of medium-leverage rows
    Q, R = np.linalg.qr(A)
    Rinv = np.linalg.inv(R)
    X = np.hstack([rng.standard_normal((d, 1500)), Rinv, np.eye(d),
                   Rinv @ rng.standard_normal((d, 1500))])
    ms = [int(v) for v in np.geomspace(5 * d, n // 4, 7)]
    curves = {}
    for p in (1, 2, 3):
        AX = np.sum(np.abs(A @ X) ** p, axis=0) ** (1 / p)
        kinds = ["uniform", "leverage", "root_leverage", "lewis", "sensitivity"]
        if p == 3:
            kinds.append("leverage+sensitivity")
        for kind in kinds:
            vals = []
            for m in ms:
                dist = []
                for s in range(5):
                    smp = sparsketch.sample_rows(A, m, scores=kind, p=p, seed=s)
                    SA = smp.apply(A)
                    if p == 2:
                        sv = np.linalg.svd(SA @ Rinv, compute_uv=False)
                        dist.append(max(sv.max(), 1 / max(sv.min(), 1e-300)) - 1)
                    else:
                        ratio = np.sum(np.abs(SA @ X) ** p, axis=0) ** (1 / p) / AX
                        dist.append(max(ratio.max(), 1 / max(ratio.min(), 1e-300)) - 1)
                vals.append(float(np.median(dist)))
            curves[f"p={p} {kind}"] = vals
    res["distortion"] = {"m": ms, "curves": curves, "n": n, "d": d}
    return res


def table(results):
    out = []
    for r in results:
        p = r["point"]
        if p["kind"].startswith("leverage"):
            title = ("dense, d coherent rows" if p["kind"] == "leverage_dense"
                     else f"sparse, {p['nnz_row']} nonzeros per row")
            out.append(f"\n### Leverage scores, {p['n']} x {p['d']} {title}\n")
            out.append("Median of 5 runs (3 for NumPy's QR and the sparse exact method). Accuracy: ratio of the scores to "
                       "the exact ones, over every row.\n")
            out.append("| method | time | speed-up vs NumPy QR | min ratio | max ratio | sum |")
            out.append("|---|---|---|---|---|---|")
            # speed-up only against NumPy on the same rows (the sparse point times NumPy on a
            # 100k-row slice: the suffix "(100000 rows)" pairs the two)
            ref_name = next(k for k in r["times"] if k.startswith("numpy"))
            ref, suffix = r["times"][ref_name], ref_name[len("numpy.linalg.qr route"):]
            for name, t in r["times"].items():
                acc = r["accuracy"].get(name, {})
                same = name.endswith(suffix) and not name.startswith("numpy")
                su = f"{ref / t:.1f}x" if same else ""
                out.append(f"| {name} | {t:.3f} s | {su} | {acc.get('min_ratio', float('nan')):.3f} | "
                           f"{acc.get('max_ratio', float('nan')):.3f} | "
                           f"{acc.get('sum', float('nan')):.4f} |")
            for name, acc in r["accuracy"].items():
                if "max_abs_err" in acc:
                    out.append(f"\n{name}: max |tau - tau_numpy| = {acc['max_abs_err']:.1e}.")
        elif p["kind"] == "l1":
            out.append(f"\n### l1 regression (least absolute deviations), {p['n']} x {p['d']}\n")
            out.append("Gaussian A, Laplace noise, 1% gross outliers. Median of 5 runs (3 for "
                       "the 1M QuantReg, 1 for QuantileRegressor, which takes minutes). Objective ratio = "
                       "sum |b - A x| / best objective reached by any method.\n")
            out.append("| method | time | speed-up of sparsketch (default) | objective ratio |")
            out.append("|---|---|---|---|")
            ours = r["times"]["sparsketch lp_regression"]
            for name, t in r["times"].items():
                out.append(f"| {name} | {t:.3f} s | {t / ours:.1f}x | "
                           f"{r['accuracy'][name]['ratio_to_best']:.5f} |")
            i = r["info"]
            out.append(f"\n(default: root-leverage coreset of {i['coreset_size']} rows, "
                       f"{i['iterations']} IRLS iterations; phases " +
                       ", ".join(f"{k} {v:.3f}s" for k, v in i["phase_times"].items()) + ")")
        elif p["kind"] == "distortion":
            D = r["distortion"]
            out.append(f"\n### Subspace-embedding distortion vs sample count (n = {D['n']}, "
                       f"d = {D['d']}, coherent)\n")
            out.append("Median over 5 seeds of max(||SAx||/||Ax||, ||Ax||/||SAx||) - 1: exact "
                       "for p = 2, a lower bound over ~3000 test directions for p = 1, 3.\n")
            out.append("| scores | " + " | ".join(f"m={m}" for m in D["m"]) + " |")
            out.append("|---|" + "---|" * len(D["m"]))
            for name, vals in D["curves"].items():
                out.append(f"| {name} | " + " | ".join(f"{v:.3g}" for v in vals) + " |")
    return "\n".join(out)


def summary(results):
    rows = ["| problem | sparsketch | peer | speed-up | accuracy |", "|---|---|---|---|---|"]
    for r in results:
        p, t = r["point"], r["times"]
        if p["kind"] == "leverage_dense":
            ref = t["numpy.linalg.qr route"]
            for m in ("approx", "exact"):
                a = r["accuracy"][f"sparsketch {m}"]
                rows.append(f"| leverage scores {m}, dense {p['n']} x {p['d']} | "
                            f"{t[f'sparsketch {m}']:.2f} s | NumPy QR {ref:.1f} s | "
                            f"{ref / t[f'sparsketch {m}']:.0f}x | ratio to exact in "
                            f"[{a['min_ratio']:.3f}, {a['max_ratio']:.3f}] |")
        elif p["kind"] == "l1":
            ours = t["sparsketch lp_regression"]
            q = t["statsmodels QuantReg"]
            rows.append(f"| l1 regression {p['n']} x {p['d']} | {ours:.2f} s | QuantReg {q:.1f} s | "
                        f"{q / ours:.0f}x | objective "
                        f"{r['accuracy']['sparsketch lp_regression']['ratio_to_best']:.4f}x best |")
    return "\n".join(rows)


def plot(results, path_prefix):
    from common import pyplot
    plt = pyplot()
    if plt is None:
        return []
    paths = []
    for r in results:
        if r["point"]["kind"] != "distortion":
            continue
        D = r["distortion"]
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.3), sharey=True)
        for ax, p in zip(axes, (1, 2, 3)):
            for name, vals in D["curves"].items():
                if name.startswith(f"p={p} "):
                    ax.loglog(D["m"], vals, marker="o", label=name.split(" ", 1)[1])
            ax.set_title(f"p = {p}")
            ax.set_xlabel("sample count m")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
        axes[0].set_ylabel("distortion (median of 5)")
        fig.suptitle(f"l_p subspace-embedding distortion, coherent {D['n']} x {D['d']}")
        fig.tight_layout()
        path = f"{path_prefix}_distortion.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths
