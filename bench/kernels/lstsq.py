"""Least-squares benchmark: sparsketch.lstsq against numpy.linalg.lstsq (gelsd),
scipy.linalg.lstsq (gelsy), Householder QR + triangular solve, and the (inaccurate) normal
equations on dense tall problems with kappa = 1e6; against scipy.sparse.linalg.lsqr / lsmr on a
sparse 1M x 2000 problem (0.1% density, columns scaled to kappa ~ 1e6). Also the l-infinity
error of sketch-and-solve against the sketch size for the four sketch kinds (plot).

Accuracy of every answer is reported as the relative residual gradient
||A^T (b - A x)|| / (||A||_F ||b - A x||) (LSQR's stopping measure; a backward-stable solution
reaches ~1e-13..1e-15) and the relative difference to numpy.linalg.lstsq's x (dense)."""

from __future__ import annotations

import time

import numpy as np

NAME = "lstsq"

DENSE = [(100_000, 200), (100_000, 1000), (1_000_000, 100), (100_000, 2000)]
QUICK_DENSE = [(20_000, 200)]
SPARSE = [(1_000_000, 2000, 0.001)]
QUICK_SPARSE = [(100_000, 500, 0.002)]


def grid(quick):
    pts = [dict(kind="dense", n=n, d=d, kappa=1e6) for n, d in (QUICK_DENSE if quick else DENSE)]
    pts += [dict(kind="sparse", n=n, d=d, density=rho, kappa=1e6)
            for n, d, rho in (QUICK_SPARSE if quick else SPARSE)]
    pts.append(dict(kind="linf", n=4096 if quick else 16384, d=20))
    return pts


def _dense_problem(n, d, kappa, rng):
    # A = G diag(s) V^T: Gaussian G, singular-value profile logspace(0, -log10 kappa), random
    # rotation V (so the ill-conditioning is not aligned with the columns).
    V = np.linalg.qr(rng.standard_normal((d, d)))[0]
    A = rng.standard_normal((n, d)) @ (np.logspace(0, -np.log10(kappa), d)[:, None] * V.T)
    b = A @ rng.standard_normal(d) + 1e-3 * rng.standard_normal(n)
    return np.ascontiguousarray(A), b


def _grad(A, b, x, afro):
    r = b - A @ x
    return float(np.linalg.norm(A.T @ r) / (afro * np.linalg.norm(r)))


def _timed(fn, repeat=1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run_point(point, threads, median_time):
    import sparsketch
    rng = np.random.default_rng(2026)
    res = {"point": point, "times": {}, "accuracy": {}, "notes": [], "info": {}}
    if point["kind"] == "linf":
        return _linf(point, res)
    if point["kind"] == "dense":
        import scipy.linalg as sla
        A, b = _dense_problem(point["n"], point["d"], point["kappa"], rng)
        afro = float(np.linalg.norm(A))
        big = point["n"] * point["d"] >= 10**8
        rep = 1 if big else 3
        t, x_np = _timed(lambda: np.linalg.lstsq(A, b, rcond=None)[0], rep)
        res["times"]["numpy.linalg.lstsq"] = t
        runs = {
            "sparsketch precondition": lambda: sparsketch.lstsq(A, b, method="precondition",
                                                                seed=0, n_threads=threads).x,
            "sparsketch sketch (srht, m=20d)": lambda: sparsketch.lstsq(
                A, b, method="sketch", seed=0, n_threads=threads).x,
            "scipy.linalg.lstsq gelsy": lambda: sla.lstsq(A, b, lapack_driver="gelsy",
                                                          check_finite=False)[0],
            "QR + solve_triangular": lambda: _qr_solve(A, b),
            "normal equations": lambda: sla.solve(A.T @ A, A.T @ b, assume_a="pos",
                                                  check_finite=False),
        }
        xs = {"numpy.linalg.lstsq": x_np}
        for name, fn in runs.items():
            t, x = _timed(fn, 3 if name.startswith("sparsketch") else rep)
            res["times"][name] = t
            xs[name] = x
        for name, x in xs.items():
            res["accuracy"][name] = {
                "grad": _grad(A, b, x, afro),
                "rel_diff_numpy": float(np.linalg.norm(x - x_np) / np.linalg.norm(x_np))}
        r = sparsketch.lstsq(A, b, method="precondition", seed=0, n_threads=threads)
        res["info"] = {"iterations": r.iterations, "passes": r.passes, "sketch_size": r.sketch_size,
                       "phase_times": r.times}
        return res
    # sparse
    import scipy.sparse as sp
    import scipy.sparse.linalg as spl
    n, d = point["n"], point["d"]
    A = sp.random(n, d, density=point["density"], random_state=7, format="csr")
    A = sp.csr_array(A @ sp.diags(np.logspace(0, -6, d)))
    b = rng.standard_normal(n)
    afro = float(spl.norm(A))
    target = 1e-10
    t, r = _timed(lambda: sparsketch.lstsq(A, b, rtol=target, seed=0, n_threads=threads), 3)
    res["times"]["sparsketch precondition"] = t
    res["accuracy"]["sparsketch precondition"] = {"grad": _grad(A, b, r.x, afro)}
    res["info"] = {"iterations": r.iterations, "passes": r.passes, "sketch_size": r.sketch_size,
                   "phase_times": r.times}
    for name, solver in (("scipy lsqr", spl.lsqr), ("scipy lsmr", spl.lsmr)):
        t0 = time.perf_counter()
        out = solver(A, b, atol=target, btol=target, maxiter=20000) if name.endswith("lsmr") else \
            solver(A, b, atol=target, btol=target, iter_lim=20000)
        res["times"][name] = time.perf_counter() - t0
        its = int(out[2])
        g = _grad(A, b, out[0], afro)
        res["accuracy"][name] = {"grad": g, "iterations": its}
        if not g <= target:
            res["notes"].append(f"{name} did not reach relative residual gradient {target:g} in "
                                f"{its} iterations (reached {g:.1e})")
    return res


def _qr_solve(A, b):
    import scipy.linalg as sla
    Q, R = sla.qr(A, mode="economic", check_finite=False)
    return sla.solve_triangular(R, Q.T @ b, check_finite=False)


def _linf(point, res):
    """l-infinity error of sketch-and-solve vs m, relative to ||r|| ||A^+|| / sqrt(d), on a
    problem with a few high-leverage rows (where sparse sketches collide)."""
    import sparsketch
    rng = np.random.default_rng(5)
    n, d = point["n"], point["d"]
    A = 1e-2 * rng.standard_normal((n, d))
    A[:d] += 10 * np.eye(d)  # d rows with leverage ~1: the coherent case
    xs = rng.standard_normal(d)
    z = rng.standard_normal(n)
    Q = np.linalg.qr(A)[0]
    z -= Q @ (Q.T @ z)
    b = A @ xs + z
    x_opt = np.linalg.lstsq(A, b, rcond=None)[0]
    scale = np.linalg.norm(b - A @ x_opt) / np.linalg.svd(A, compute_uv=False)[-1] / np.sqrt(d)
    ms = [int(v) for v in np.unique(np.geomspace(2 * d, n // 2, 9).astype(int))]
    curves = {}
    for kind in ("srht", "gaussian", "countsketch", "sparse_sign"):
        errs = []
        for m in ms:
            vals = [np.max(np.abs(sparsketch.lstsq(A, b, method="sketch", sketch=kind,
                                                    sketch_size=m, seed=s).x - x_opt)) / scale
                    for s in range(5)]
            errs.append(float(np.median(vals)))
        curves[kind] = errs
    res["linf"] = {"m": ms, "curves": curves, "n": n, "d": d}
    return res


def table(results):
    out = []
    dense = [r for r in results if r["point"]["kind"] == "dense"]
    if dense:
        out.append("\n### Dense, kappa = 1e6\n")
        out.append("Time (best of 3, 1 for the largest) and accuracy: relative residual gradient "
                   "`||A^T r|| / (||A||_F ||r||)`; `diff` = relative difference to numpy's x. "
                   "Speed-up = peer time / sparsketch precondition time.\n")
        out.append("| n x d | method | time | speed-up | rel. grad | diff vs numpy |")
        out.append("|---|---|---|---|---|---|")
        for r in dense:
            p = r["point"]
            ours = r["times"]["sparsketch precondition"]
            for name, t in r["times"].items():
                acc = r["accuracy"].get(name, {})
                out.append(f"| {p['n']} x {p['d']} | {name} | {t:.3f} s | {t / ours:.2f}x | "
                           f"{acc.get('grad', float('nan')):.1e} | "
                           f"{acc.get('rel_diff_numpy', float('nan')):.1e} |")
            i = r["info"]
            out.append(f"| | (sparsketch: m = {i['sketch_size']}, {i['iterations']} CG iterations, "
                       f"{i['passes']} passes; phases " + ", ".join(
                           f"{k} {v:.2f}s" for k, v in i["phase_times"].items()) + ") | | | | |")
    sparse = [r for r in results if r["point"]["kind"] == "sparse"]
    if sparse:
        out.append("\n### Sparse, columns scaled to kappa ~ 1e6, target relative residual "
                   "gradient 1e-10\n")
        out.append("| n x d (density) | method | time | speed-up | iterations | rel. grad reached |")
        out.append("|---|---|---|---|---|---|")
        for r in sparse:
            p = r["point"]
            ours = r["times"]["sparsketch precondition"]
            for name, t in r["times"].items():
                acc = r["accuracy"][name]
                its = acc.get("iterations", r["info"]["iterations"])
                out.append(f"| {p['n']} x {p['d']} ({p['density']}) | {name} | {t:.2f} s | "
                           f"{t / ours:.1f}x | {its} | {acc['grad']:.1e} |")
    lin = [r for r in results if r["point"]["kind"] == "linf"]
    for r in lin:
        L = r["linf"]
        out.append(f"\n### l-infinity error of sketch-and-solve (n = {L['n']}, d = {L['d']}, d "
                   "high-leverage rows)\n")
        out.append("Median over 5 seeds of `||x' - x*||_inf / (||r|| ||A^+|| / sqrt(d))`.\n")
        out.append("| m | " + " | ".join(L["curves"]) + " |")
        out.append("|---|" + "---|" * len(L["curves"]))
        for i, m in enumerate(L["m"]):
            out.append(f"| {m} | " + " | ".join(f"{L['curves'][k][i]:.3f}" for k in L["curves"]) + " |")
    return "\n".join(out)


def summary(results):
    rows = ["| problem | sparsketch | numpy.linalg.lstsq | normal equations | LSQR |",
            "|---|---|---|---|---|"]
    for r in results:
        p, t = r["point"], r["times"]
        if p["kind"] == "dense":
            ours = t["sparsketch precondition"]
            rows.append(f"| dense {p['n']} x {p['d']}, kappa 1e6 | {ours:.2f} s | "
                        f"{t['numpy.linalg.lstsq']:.2f} s ({t['numpy.linalg.lstsq'] / ours:.1f}x) | "
                        f"{t['normal equations']:.2f} s ({t['normal equations'] / ours:.2f}x) | |")
        elif p["kind"] == "sparse":
            ours = t["sparsketch precondition"]
            lq = r["accuracy"]["scipy lsqr"]
            rows.append(f"| sparse {p['n']} x {p['d']}, density {p['density']}, kappa 1e6 | "
                        f"{ours:.2f} s | | | {t['scipy lsqr']:.1f} s ({t['scipy lsqr'] / ours:.0f}x; "
                        f"rel. grad {lq['grad']:.0e} after {lq['iterations']} its) |")
    return "\n".join(rows)


def plot(results, path_prefix):
    from common import pyplot
    plt = pyplot()
    if plt is None:
        return []
    paths = []
    for r in results:
        if r["point"]["kind"] != "linf":
            continue
        L = r["linf"]
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        for kind, errs in L["curves"].items():
            ax.loglog(L["m"], errs, marker="o", label=kind,
                      linestyle="-" if kind in ("srht", "gaussian") else "--")
        ax.set_xlabel("sketch size m")
        ax.set_ylabel("||x' - x*||_inf / (||r|| ||A^+|| / sqrt(d))")
        ax.set_title(f"sketch-and-solve l-inf error, n={L['n']}, d={L['d']}, coherent A")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        p = f"{path_prefix}_linf.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths
