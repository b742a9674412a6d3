"""FWHT benchmark: sparsketch.fwht against fht-cpu (FFHT-based), pyfwht (CPU and OpenMP
backends), scipy.linalg.hadamard(n) @ x (where the matrix fits), and the memory floor.

Every implementation's answer is checked before it is timed: against an independent NumPy
reference (Kronecker factors) up to 2^20 elements, above that by the involution H(y) = N x
(y is the transform of x iff that holds), so a fast wrong kernel cannot win.

Modes:
- "new":     out-of-place, returns a new array (our default; fht-cpu inplace=False).
- "inplace": transform the input buffer (ours out=x; fht-cpu default; pyfwht). The data are
             restored from a pristine copy before each sample (untimed) and the number of
             calls per sample is capped so values stay far from overflow.
Floor: the time NumPy takes for one read-and-write pass, x * 2.0 (new array) and
np.multiply(x, 2, out=x) (in place).
"""

from __future__ import annotations

import math

import numpy as np

NAME = "fwht"

SINGLE = [10, 12, 14, 16, 18, 20, 22, 24, 26]
BATCH = [(256, 10), (256, 14), (64, 18)]
QUICK_SINGLE = [10, 14, 18, 22]
QUICK_BATCH = [(64, 12)]


def grid(quick: bool):
    pts = []
    for dt in ("float64", "float32"):
        for L in (QUICK_SINGLE if quick else SINGLE):
            pts.append(dict(dtype=dt, batch=1, L=L))
        for b, L in (QUICK_BATCH if quick else BATCH):
            pts.append(dict(dtype=dt, batch=b, L=L))
    return pts


def _reference(x):
    n = x.shape[-1]
    L = n.bit_length() - 1
    y = np.array(x, dtype=np.float64).reshape(x.shape[:-1] + (2,) * L)
    for k in range(L):
        ax = y.ndim - 1 - k
        a, b = np.take(y, 0, axis=ax), np.take(y, 1, axis=ax)
        y = np.stack([a + b, a - b], axis=ax)
    return y.reshape(x.shape)


def _check(x, y, ours):
    """Relative max error of y as the transform of x."""
    n = x.shape[-1]
    if x.size <= (1 << 20):
        ref = _reference(x)
        return float(np.max(np.abs(y - ref)) / np.max(np.abs(ref)))
    back = ours(np.ascontiguousarray(y, dtype=x.dtype)) / n
    return float(np.max(np.abs(back - x)) / np.max(np.abs(x)))


def implementations(point, threads):
    """name -> (mode, fn(x) -> y, in_place). Missing peers are skipped with a note."""
    import sparsketch
    impls = {}
    notes = []
    impls["sparsketch"] = ("new", lambda x: sparsketch.fwht(x, n_threads=threads), False)
    impls["sparsketch (in place)"] = ("inplace", lambda x: sparsketch.fwht(x, out=x, n_threads=threads), True)
    try:
        import fht_cpu
        impls["fht-cpu"] = ("new", lambda x: fht_cpu.fht(x, inplace=False, num_threads=threads), False)
        impls["fht-cpu (in place)"] = ("inplace", lambda x: fht_cpu.fht(x, inplace=True, num_threads=threads), True)
    except ImportError:
        notes.append("fht-cpu not installed")
    if point["dtype"] == "float64":
        try:
            import pyfwht
            for bname in ("CPU", "OPENMP"):
                be = getattr(pyfwht.Backend, bname)
                if point["batch"] == 1:
                    fn = (lambda be: lambda x: pyfwht.transform(x, backend=be))(be)
                else:  # no CPU batch entry point (its batch API runs on CUDA): loop over rows
                    fn = (lambda be: lambda x: [pyfwht.transform(r, backend=be) for r in x])(be)
                impls[f"pyfwht {bname.lower()} (in place)"] = ("inplace", fn, True)
        except ImportError:
            notes.append("pyfwht not installed")
        if point["batch"] > 1:
            notes.append("pyfwht batches: a Python loop over rows (its batch API is CUDA-only)")
    else:
        notes.append("pyfwht: float64 only")
    n = 1 << point["L"]
    if n <= 4096:
        import scipy.linalg
        H = scipy.linalg.hadamard(n).astype(point["dtype"])
        impls["scipy hadamard @"] = ("new", lambda x: x @ H.T, False)
    return impls, notes


def run_point(point, threads, median_time):
    dt = np.dtype(point["dtype"])
    n = 1 << point["L"]
    shape = (n,) if point["batch"] == 1 else (point["batch"], n)
    rng = np.random.default_rng(12345)
    x0 = rng.standard_normal(shape).astype(dt)
    import sparsketch
    ours = lambda v: sparsketch.fwht(v)  # noqa: E731
    impls, notes = implementations(point, threads)
    res = {"point": dict(point, n=n, shape=list(shape)), "times": {}, "errors": {}, "notes": notes}
    # Overflow guard for in-place repetition: max |entry| grows by at most sqrt(n)*... per call;
    # allow calls while log2 growth stays under half the exponent range.
    bits = 500 if dt == np.float64 else 60
    max_inner = max(1, int(bits / (point["L"] / 2 + 1)))
    for name, (mode, fn, in_place) in impls.items():
        work = x0.copy()
        y = fn(work)
        y = work if in_place else y
        err = _check(x0, np.asarray(y), ours)
        tol = 1e-4 if dt == np.float32 else 1e-10
        res["errors"][name] = err
        if not err <= tol:
            res["notes"].append(f"{name}: wrong answer (rel. error {err:.1e}), not timed")
            continue
        if in_place:
            buf = x0.copy()
            res["times"][name] = median_time(lambda: fn(buf), setup=lambda: np.copyto(buf, x0),
                                             max_inner=max_inner)
        else:
            res["times"][name] = median_time(lambda: fn(x0))
    res["times"]["floor: x * 2.0"] = median_time(lambda: x0 * dt.type(2))
    buf = x0.copy()
    res["times"]["floor: x *= 2 (in place)"] = median_time(
        lambda: np.multiply(buf, dt.type(2), out=buf), setup=lambda: np.copyto(buf, x0),
        max_inner=60)
    res["bytes"] = x0.nbytes
    return res


def table(results):
    """Markdown tables: one per (dtype, single/batch) with medians and ratios."""
    out = []
    groups = {}
    for r in results:
        p = r["point"]
        key = (p["dtype"], "single vector" if p["batch"] == 1 else "batch")
        groups.setdefault(key, []).append(r)
    for (dt, kind), rs in groups.items():
        out.append(f"\n### {dt}, {kind}\n")
        out.append("Median time per call; ratio = peer time / sparsketch time in the same mode "
                   "(> 1: sparsketch faster). Floor ratio = sparsketch time / floor time.\n")
        out.append("| shape | sparsketch | GB/s | vs fht-cpu | in place | vs fht-cpu (in place) "
                   "| vs pyfwht cpu | vs pyfwht omp | vs scipy H@x | / floor x*2.0 | / floor in place |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rs:
            t = r["times"]
            p = r["point"]
            shape = f"2^{p['L']}" if p["batch"] == 1 else f"{p['batch']} x 2^{p['L']}"
            ours = t.get("sparsketch")
            ours_ip = t.get("sparsketch (in place)")
            def ratio(peer, base):
                return f"{t[peer] / base:.2f}x" if peer in t and base else "n/a"
            gbs = 2 * r["bytes"] / ours / 1e9 if ours else float("nan")
            out.append(
                f"| {shape} | {_fmt(ours)} | {gbs:.1f} | {ratio('fht-cpu', ours)} | {_fmt(ours_ip)} "
                f"| {ratio('fht-cpu (in place)', ours_ip)} | {ratio('pyfwht cpu (in place)', ours_ip)} "
                f"| {ratio('pyfwht openmp (in place)', ours_ip)} | {ratio('scipy hadamard @', ours)} "
                f"| {ours / t['floor: x * 2.0']:.2f} | {ours_ip / t['floor: x *= 2 (in place)']:.2f} |")
    return "\n".join(out)


def summary(results):
    """The short table the README shows (single vectors, both dtypes)."""
    rows = ["| n | dtype | sparsketch | vs fht-cpu | vs fht-cpu, in place "
            "| vs pyfwht (OpenMP, in place) | / memory floor `x*2.0` |",
            "|---|---|---|---|---|---|---|"]
    for r in results:
        p, t = r["point"], r["times"]
        if p["batch"] != 1 or p["L"] not in (10, 14, 18, 22, 24, 26):
            continue
        ours, ip = t["sparsketch"], t["sparsketch (in place)"]
        fc = f"{t['fht-cpu'] / ours:.2f}x" if "fht-cpu" in t else "n/a"
        fci = f"{t['fht-cpu (in place)'] / ip:.2f}x" if "fht-cpu (in place)" in t else "n/a"
        py = (f"{t['pyfwht openmp (in place)'] / ip:.2f}x" if "pyfwht openmp (in place)" in t
              else "n/a (float64 only)")
        rows.append(f"| 2^{p['L']} | {p['dtype']} | {_fmt(ours)} | {fc} | {fci} | {py} "
                    f"| {ours / t['floor: x * 2.0']:.2f} |")
    return "\n".join(rows)


def _fmt(t):
    if t is None:
        return "n/a"
    if t < 1e-3:
        return f"{t * 1e6:.1f} us"
    return f"{t * 1e3:.2f} ms"


def plot(results, path_prefix):
    from common import pyplot
    plt = pyplot()
    if plt is None:
        return []
    paths = []
    for dt in ("float64", "float32"):
        rs = [r for r in results if r["point"]["dtype"] == dt and r["point"]["batch"] == 1]
        if not rs:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.5))
        names = sorted({k for r in rs for k in r["times"]})
        for name in names:
            xs = [r["point"]["L"] for r in rs if name in r["times"]]
            ys = [r["times"][name] / (r["point"]["n"] * r["point"]["L"]) * 1e9 for r in rs
                  if name in r["times"]]
            style = "-" if name.startswith("sparsketch") else ("--" if "floor" in name else ":")
            ax.plot(xs, ys, style, marker="o", label=name)
        ax.set_yscale("log")
        ax.set_xlabel("log2 n")
        ax.set_ylabel("ns per element per stage (n log2 n)")
        ax.set_title(f"FWHT {dt}, single vector")
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
        p = f"{path_prefix}_{dt}.png"
        fig.tight_layout()
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths
