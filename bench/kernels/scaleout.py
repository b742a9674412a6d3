"""Scale-out benchmark: sparsketch.dask on a tall float64 matrix stored on local disk as a
.npy file, read chunk by chunk by the workers of a dask.distributed LocalCluster (2 worker
processes, 1 thread each: the 2 cores of the benchmark machine).

- least squares: sparsketch.dask.lstsq against dask.array.linalg.lstsq (TSQR) on the same
  Dask array, and against in-memory numpy.linalg.lstsq and sparsketch.lstsq (the whole
  matrix loaded into memory, which still fits here);
- leverage scores: sparsketch.dask.leverage_scores (approx: 2 passes; exact: 3 passes)
  against the exact scores from Dask's TSQR (row norms of Q).

Each Dask answer is also computed for a second, unaligned chunking, and the benchmark checks
that it is bitwise the same. Accuracy: the relative residual gradient
||A^T r|| / (||A||_F ||r||) and the relative difference to numpy's x (computed in memory).
The data file is written once to $SPARSKETCH_BENCH_DIR (default /tmp/sparsketch_bench)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

NAME = "scaleout"
ROWS_PER_CHUNK = 1 << 18  # 262144 rows, a multiple of sparsketch.dask.ROW_TILE
UNALIGNED_CHUNK = 250_000


def grid(quick):
    if quick:
        return [dict(n=200_000, d=50, kappa=1e6)]
    return [dict(n=2_000_000, d=200, kappa=1e6)]


def _data_file(n, d, kappa) -> tuple[Path, Path]:
    """A.npy (n x d, kappa: singular values logspace(0, -log10 kappa)) and b.npy, made once,
    block by block: A = G diag(s) V^T with Gaussian G and a random rotation V."""
    root = Path(os.environ.get("SPARSKETCH_BENCH_DIR", "/tmp/sparsketch_bench"))
    root.mkdir(parents=True, exist_ok=True)
    fa, fb = root / f"A_{n}x{d}_k{kappa:g}.npy", root / f"b_{n}x{d}_k{kappa:g}.npy"
    if fa.exists() and fb.exists():
        return fa, fb
    rng = np.random.default_rng(2026)
    V = np.linalg.qr(rng.standard_normal((d, d)))[0]
    M = np.logspace(0, -np.log10(kappa), d)[:, None] * V.T
    xt = rng.standard_normal(d)
    A = np.lib.format.open_memmap(str(fa) + ".tmp", mode="w+", dtype=np.float64, shape=(n, d))
    b = np.empty(n)
    for r0 in range(0, n, 1 << 17):
        r1 = min(n, r0 + (1 << 17))
        blk = rng.standard_normal((r1 - r0, d)) @ M
        A[r0:r1] = blk
        b[r0:r1] = blk @ xt + 1e-3 * rng.standard_normal(r1 - r0)
    A.flush()
    del A
    os.replace(str(fa) + ".tmp", fa)
    np.save(fb, b)
    return fa, fb


def _load_rows(path, r0, r1):
    return np.load(path, mmap_mode="r")[r0:r1]  # a view of the page cache, no copy


def _dask_from_npy(path, chunk):
    """A Dask array whose tasks each read their rows of the .npy file (nothing is shipped
    from the client)."""
    import dask
    import dask.array as da
    mm = np.load(path, mmap_mode="r")
    n = mm.shape[0]
    shape_tail, dtype = mm.shape[1:], mm.dtype
    del mm
    blocks = [da.from_delayed(dask.delayed(_load_rows)(str(path), r0, min(n, r0 + chunk)),
                              shape=(min(n, r0 + chunk) - r0,) + shape_tail, dtype=dtype)
              for r0 in range(0, n, chunk)]
    return da.concatenate(blocks, axis=0)


def _timed(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def run_point(point, threads, median_time):
    import dask.array as da
    from distributed import Client, LocalCluster

    import sparsketch
    import sparsketch.dask as sd
    n, d = point["n"], point["d"]
    fa, fb = _data_file(n, d, point["kappa"])
    res = {"point": point, "times": {}, "accuracy": {}, "notes": [], "info": {}}
    rep = 3
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, memory_limit="10GiB") as cluster, Client(cluster):
        A = _dask_from_npy(fa, ROWS_PER_CHUNK)
        b = _dask_from_npy(fb, ROWS_PER_CHUNK)
        t, r = _timed(lambda: sd.lstsq(A, b, seed=0), rep)
        res["times"]["sparsketch.dask.lstsq"] = t
        xs = {"sparsketch.dask.lstsq": r.x}
        res["info"]["passes"] = r.passes
        res["info"]["phase_times"] = r.times
        r2 = sd.lstsq(_dask_from_npy(fa, UNALIGNED_CHUNK), _dask_from_npy(fb, UNALIGNED_CHUNK),
                      seed=0)
        res["info"]["lstsq_bitwise_across_chunkings"] = bool(np.array_equal(r2.x, r.x))
        t, x = _timed(lambda: da.linalg.lstsq(A, b)[0].compute(), rep)
        res["times"]["dask.array.linalg.lstsq"] = t
        xs["dask.array.linalg.lstsq"] = x
        # leverage scores
        t, tau_a = _timed(lambda: sd.leverage_scores(A, method="approx", seed=0), rep)
        res["times"]["sparsketch.dask.leverage_scores approx"] = t
        t, tau_e = _timed(lambda: sd.leverage_scores(A, method="exact", seed=0), rep)
        res["times"]["sparsketch.dask.leverage_scores exact"] = t

        def tsqr_scores():
            Q, _ = da.linalg.tsqr(A)
            return (Q ** 2).sum(axis=1).compute()

        t, tau_q = _timed(tsqr_scores, rep)
        res["times"]["dask TSQR leverage scores"] = t
        tau_a2 = sd.leverage_scores(_dask_from_npy(fa, UNALIGNED_CHUNK), method="approx", seed=0)
        res["info"]["leverage_bitwise_across_chunkings"] = bool(np.array_equal(tau_a2, tau_a))
        res["accuracy"]["leverage"] = {
            "approx_max_ratio_err": float(np.max(np.abs(tau_a / tau_q - 1))),
            "approx_median_ratio_err": float(np.median(np.abs(tau_a / tau_q - 1))),
            "exact_max_rel_err": float(np.max(np.abs(tau_e - tau_q) / tau_q))}
    # in memory (the matrix still fits here): the accuracy reference and two more peers
    Am = np.load(fa)
    bm = np.load(fb)
    t, x_np = _timed(lambda: np.linalg.lstsq(Am, bm, rcond=None)[0], 1)
    res["times"]["numpy.linalg.lstsq (in memory)"] = t
    xs["numpy.linalg.lstsq (in memory)"] = x_np
    t, rm = _timed(lambda: sparsketch.lstsq(Am, bm, seed=0, n_threads=threads), rep)
    res["times"]["sparsketch.lstsq (in memory)"] = t
    xs["sparsketch.lstsq (in memory)"] = rm.x
    afro = float(np.linalg.norm(Am))
    for name, x in xs.items():
        rr = bm - Am @ x
        res["accuracy"][name] = {
            "grad": float(np.linalg.norm(Am.T @ rr) / (afro * np.linalg.norm(rr))),
            "rel_diff_numpy": float(np.linalg.norm(x - x_np) / np.linalg.norm(x_np))}
    res["notes"].append("scaleout: times are medians of 3 runs (numpy.linalg.lstsq: 1 run); "
                        "the .npy file is in the page cache after the first read")
    return res


_LSTSQ = ["sparsketch.dask.lstsq", "dask.array.linalg.lstsq", "numpy.linalg.lstsq (in memory)",
          "sparsketch.lstsq (in memory)"]
_LEV = ["sparsketch.dask.leverage_scores approx", "sparsketch.dask.leverage_scores exact",
        "dask TSQR leverage scores"]


def table(results):
    out = []
    for r in results:
        p, t, i = r["point"], r["times"], r["info"]
        ours = t["sparsketch.dask.lstsq"]
        out.append(f"\n### Least squares, {p['n']} x {p['d']} float64 (kappa {p['kappa']:g}), "
                   f".npy on local disk, chunks of {ROWS_PER_CHUNK} rows, LocalCluster 2 x 1\n")
        out.append("| method | time | speed-up of sparsketch.dask | rel. grad | diff vs numpy |")
        out.append("|---|---|---|---|---|")
        for name in _LSTSQ:
            acc = r["accuracy"][name]
            out.append(f"| {name} | {t[name]:.2f} s | {t[name] / ours:.2f}x | "
                       f"{acc['grad']:.1e} | {acc['rel_diff_numpy']:.1e} |")
        out.append(f"\nsparsketch.dask.lstsq: {i['passes']} passes over A (phases " +
                   ", ".join(f"{k} {v:.2f} s" for k, v in i["phase_times"].items()) +
                   f"); x bitwise identical with chunks of {UNALIGNED_CHUNK} rows: "
                   f"{i['lstsq_bitwise_across_chunkings']}.\n")
        a = r["accuracy"]["leverage"]
        tq = t["dask TSQR leverage scores"]
        out.append("| leverage scores | time | speed-up vs TSQR | error vs TSQR scores |")
        out.append("|---|---|---|---|")
        out.append(f"| sparsketch.dask approx (2 passes) | "
                   f"{t['sparsketch.dask.leverage_scores approx']:.2f} s | "
                   f"{tq / t['sparsketch.dask.leverage_scores approx']:.2f}x | ratio - 1: median "
                   f"{a['approx_median_ratio_err']:.3f}, max {a['approx_max_ratio_err']:.3f} |")
        out.append(f"| sparsketch.dask exact (3 passes) | "
                   f"{t['sparsketch.dask.leverage_scores exact']:.2f} s | "
                   f"{tq / t['sparsketch.dask.leverage_scores exact']:.2f}x | max rel. "
                   f"{a['exact_max_rel_err']:.1e} |")
        out.append(f"| dask TSQR, row norms of Q | {tq:.2f} s | 1.00x | (reference) |")
        out.append(f"\nApproximate scores bitwise identical with chunks of {UNALIGNED_CHUNK} "
                   f"rows: {i['leverage_bitwise_across_chunkings']}.")
    return "\n".join(out)


def summary(results):
    rows = ["| problem | sparsketch.dask | dask.array.linalg.lstsq | numpy.linalg.lstsq (in memory) |",
            "|---|---|---|---|"]
    for r in results:
        p, t = r["point"], r["times"]
        ours = t["sparsketch.dask.lstsq"]
        dk, npl = t["dask.array.linalg.lstsq"], t["numpy.linalg.lstsq (in memory)"]
        rows.append(f"| lstsq {p['n']} x {p['d']}, LocalCluster 2 x 1 | {ours:.2f} s "
                    f"({r['info']['passes']} passes) | {dk:.2f} s ({dk / ours:.1f}x) | "
                    f"{npl:.2f} s ({npl / ours:.1f}x) |")
    return "\n".join(rows)


def plot(results, path_prefix):
    return []
