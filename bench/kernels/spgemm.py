"""SpGEMM benchmark (issue 6).

Inputs: R-MAT graphs (Graph500 a, b, c = 0.57, 0.19, 0.19; duplicates merged, unit weights)
squared; 3-D 7-point and 27-point Poisson matrices squared; the Galerkin product P^T (A P) with
P from pyamg's smoothed-aggregation hierarchy (first level) on pyamg's 3-D poisson and 2-D
linear_elasticity problems and on the real matrices of its example data (airfoil, bar, knot,
unit_cube); X X^T for a TF-IDF-like matrix (Zipf-distributed terms, the 100 most frequent
dropped as stop words; rows normalized), also as a top-10 product. R-MAT stops at scale 16,
edge factor 8: the scale-16, edge-factor-16 square (163M nonzeros) ran this 23 GiB machine out
of memory with the reference and a peer's output held together.

Timing: the implementations of a point are sampled in 3 rounds, each running every one in
turn (an untimed call, then 3 samples; 1 sample for calls over 0.2 s; medians;
`common.interleaved_times`), so the slow phases of this shared VM hit all alike.
Peers, same inputs, same process: SciPy ``A @ B`` (single-threaded, unsorted output; also timed
with the ``sort_indices()`` a user needs afterwards), python-graphblas ``mxm`` (SuiteSparse:
GraphBLAS), ``sparse_dot_mkl.dot_product_mkl`` (MKL; ``reorder_output=True`` for sorted output, also
timed without), ``sparse_dot_topn.sp_matmul`` (its rows come out unsorted: timed with and without
``sort_indices()``), and for the top-k product ``sparse_dot_topn.sp_matmul_topn``. Threads 1
and 2 (the machine's cores) for every threaded library. Reported: median time, GFLOP/s (2 x multiply-adds / time), peak extra memory of
sparsketch's call (high-water RSS above the start, less the output), ratios.
"""

from __future__ import annotations

import glob
import os
import sys

import numpy as np

NAME = "spgemm"


def grid(quick):
    if quick:
        return [dict(kind="rmat", scale=12, ef=8), dict(kind="poisson7", k=20),
                dict(kind="galerkin", problem="poisson", size=20), dict(kind="tfidf", n=5000,
                terms=3000, per_row=20), dict(kind="topk", n=5000, terms=3000, per_row=20, k=10)]
    return [dict(kind="rmat", scale=14, ef=8), dict(kind="rmat", scale=14, ef=16),
            dict(kind="rmat", scale=15, ef=16), dict(kind="rmat", scale=16, ef=8),
            dict(kind="poisson7", k=60), dict(kind="poisson27", k=40),
            dict(kind="galerkin", problem="poisson", size=60),
            dict(kind="galerkin", problem="linear_elasticity", size=400),
            dict(kind="galerkin", problem="airfoil"), dict(kind="galerkin", problem="bar"),
            dict(kind="galerkin", problem="knot"), dict(kind="galerkin", problem="unit_cube"),
            dict(kind="tfidf", n=50_000, terms=100_000, per_row=20),
            dict(kind="topk", n=50_000, terms=100_000, per_row=20, k=10)]


def _rmat(scale, ef, rng, a=0.57, b=0.19, c=0.19):
    import scipy.sparse as sp
    n, m = 1 << scale, (1 << scale) * ef
    r = np.zeros(m, np.int64)
    col = np.zeros(m, np.int64)
    for lvl in range(scale):
        u = rng.random(m)
        r |= (u >= a + b).astype(np.int64) << lvl
        col |= (((u >= a) & (u < a + b)) | (u >= a + b + c)).astype(np.int64) << lvl
    A = sp.csr_array((np.ones(m), (r, col)), shape=(n, n))
    A.sum_duplicates()
    A.data[:] = 1.0
    return A


def _poisson(k, points):
    import scipy.sparse as sp
    if points == 7:
        I = sp.identity(k, format="csr")
        T = sp.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(k, k))
        return sp.csr_array(sp.kron(sp.kron(T, I), I) + sp.kron(sp.kron(I, T), I) +
                            sp.kron(sp.kron(I, I), T))
    T = sp.diags_array([1.0, 1.0, 1.0], offsets=[-1, 0, 1], shape=(k, k))  # 27-point pattern
    A = sp.csr_array(sp.kron(sp.kron(T, T), T))
    A.data[:] = -1.0
    A.setdiag(26.0)
    return A


def _galerkin_inputs(point):
    import pyamg
    import scipy.sparse as sp
    prob = point["problem"]
    if prob == "poisson":
        A = pyamg.gallery.poisson((point["size"],) * 3, format="csr")
        B = None
    elif prob == "linear_elasticity":
        A, B = pyamg.gallery.linear_elasticity((point["size"], point["size"]), format="bsr")
        A = A.tocsr()
    else:
        ex = pyamg.gallery.load_example(prob)
        A, B = sp.csr_matrix(ex["A"]), ex.get("B")
    ml = pyamg.smoothed_aggregation_solver(A, B=B, max_levels=2, max_coarse=10)
    P = sp.csr_array(ml.levels[0].P)
    A = sp.csr_array(A)
    return A, P, sp.csr_array(P.T)


def _tfidf(n, terms, per_row, rng):
    import scipy.sparse as sp
    ranks = np.arange(1, terms + 101)
    p = 1.0 / ranks**1.1
    p /= p.sum()
    cols = rng.choice(terms + 100, size=(n, per_row), p=p) - 100  # the 100 top ones: stop words
    rows = np.repeat(np.arange(n), per_row)
    keep = cols.ravel() >= 0
    X = sp.csr_array((np.ones(keep.sum()), (rows[keep], cols.ravel()[keep])), shape=(n, terms))
    X.sum_duplicates()
    idf = np.log(n / (1.0 + np.bincount(X.indices, minlength=terms)))
    X = sp.csr_array(X @ sp.diags_array(idf))
    norms = np.sqrt(np.asarray((X.multiply(X)).sum(axis=1)).ravel())
    X = sp.csr_array(sp.diags_array(1.0 / np.maximum(norms, 1e-12)) @ X)
    X.sort_indices()
    return X


def _flops(A, B):
    return int(np.diff(B.indptr)[A.indices].sum())


def _mkl():
    # MKL's OpenMP threads spin for 200 ms after each call by default; the round-robin timing
    # would charge that to whatever runs next on this 2-core machine
    os.environ.setdefault("KMP_BLOCKTIME", "0")
    if "MKL_RT" not in os.environ:
        hits = glob.glob(os.path.join(sys.prefix, "lib", "libmkl_rt.so*"))
        if hits:
            os.environ["MKL_RT"] = hits[0]
    try:
        import sparse_dot_mkl
        return sparse_dot_mkl
    except Exception:  # noqa: BLE001 - missing library or MKL runtime
        return None


def _rss():
    vals = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":")
                vals[k] = int(v.split()[0]) * 1024
    return vals


def _peak_extra(fn, out_bytes):
    """High-water RSS during fn() above the RSS before it, less the output (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS
    except OSError:
        return float("nan")
    before = _rss()["VmRSS"]
    out = fn()
    peak = _rss()["VmHWM"]
    del out
    return max(0.0, float(peak - before - out_bytes))


def _check(C, ref):
    """max |C - ref| / max |ref|, ref canonical; compares the arrays directly when the
    patterns agree (no large temporaries)."""
    import scipy.sparse as sp
    C = sp.csr_array(C)
    C.sort_indices()
    scale = max(float(np.abs(ref.data).max()) if ref.nnz else 1.0, 1e-300)
    if (C.nnz == ref.nnz and np.array_equal(C.indptr, ref.indptr)
            and np.array_equal(C.indices, ref.indices)):
        return float(np.abs(C.data - ref.data).max() / scale) if C.nnz else 0.0
    D = C - ref
    return float(abs(D).max() / scale) if D.nnz else 0.0


def run_point(point, threads, median_time):
    import scipy.sparse as sp
    from common import interleaved_times

    import sparsketch
    res = {"point": point, "times": {}, "accuracy": {}, "notes": [], "info": {}}
    rng = np.random.default_rng(6)
    kind = point["kind"]
    if kind == "rmat":
        A = _rmat(point["scale"], point["ef"], rng)
        pairs = [(A, A)]
        desc = f"R-MAT scale {point['scale']}, edge factor {point['ef']}: A^2"
    elif kind in ("poisson7", "poisson27"):
        A = _poisson(point["k"], 7 if kind == "poisson7" else 27)
        pairs = [(A, A)]
        desc = f"3-D {kind[7:]}-point Poisson, {point['k']}^3: A^2"
    elif kind == "galerkin":
        A, P, Pt = _galerkin_inputs(point)
        AP = sp.csr_array(A @ P)
        AP.sort_indices()
        pairs = [(A, P), (Pt, AP)]
        desc = (f"Galerkin P^T (A P), pyamg {point['problem']}"
                + (f" {point['size']}" if "size" in point else "") + f" (A {A.shape[0]} rows)")
    else:
        X = _tfidf(point["n"], point["terms"], point["per_row"], rng)
        pairs = [(X, sp.csr_array(X.T))]
        desc = (f"TF-IDF-like {point['n']} x {point['terms']}, {point['per_row']} terms/row: "
                + ("top-" + str(point["k"]) + " of " if kind == "topk" else "") + "X X^T")
    flops = sum(_flops(a, b) for a, b in pairs)
    res["info"].update(desc=desc, flops=flops, shape=list(pairs[0][0].shape),
                       nnz=[int(a.nnz) for a, _ in pairs])

    def chain(mult):
        def run():
            out = None
            for a, b in pairs:
                out = mult(a, b)
            return out
        return run

    queue = []  # (name, fn, setup): timed together, round-robin, at the end

    def timed(fn, name, setup=None):
        queue.append((name, fn, setup))

    def run_queue():
        res["times"].update(interleaved_times(queue, rounds=3, block=3, max_inner=1))

    if kind == "topk":
        k = point["k"]
        ref = sparsketch.spgemm_topk(*pairs[0], k, n_threads=threads)
        res["info"]["out_nnz"] = int(ref.nnz)
        for t in sorted({1, threads}):
            timed(lambda t=t: sparsketch.spgemm_topk(*pairs[0], k, n_threads=t), f"sparsketch ({t}t)")
        try:
            from sparse_dot_topn import sp_matmul_topn
            for t in sorted({1, threads}):
                def f(t=t):
                    return sp_matmul_topn(sp.csr_matrix(pairs[0][0]), sp.csr_matrix(pairs[0][1]),
                                          top_n=k, sort=True, n_threads=t)
                timed(f, f"sparse_dot_topn ({t}t)")
            C = f()
            # sparse_dot_topn keeps the k largest per row too; compare the values kept
            a = np.sort(sp.csr_array(C).data)
            b = np.sort(ref.data)
            res["accuracy"]["sparse_dot_topn"] = float(np.max(np.abs(a - b))) if a.size == b.size else float("nan")
        except ImportError:
            res["notes"].append("sparse_dot_topn not installed")
        run_queue()
        res["info"]["peak_extra"] = _peak_extra(
            lambda: sparsketch.spgemm_topk(*pairs[0], k, n_threads=threads), ref.nnz * 12)
        return res

    ref = chain(lambda a, b: a @ b)()
    ref = sp.csr_array(ref)
    ref.sum_duplicates()
    ref.sort_indices()
    res["info"]["out_nnz"] = int(ref.nnz)
    timed(chain(lambda a, b: a @ b), "scipy")

    def scipy_sorted(a, b):
        C = a @ b
        C.sort_indices()
        return C
    timed(chain(scipy_sorted), "scipy + sort_indices")
    for t in sorted({1, threads}):
        timed(chain(lambda a, b, t=t: sparsketch.spgemm(a, b, n_threads=t)), f"sparsketch ({t}t)")
        timed(chain(lambda a, b, t=t: sparsketch.spgemm(a, b, n_threads=t, sort_indices=False)),
              f"sparsketch unsorted ({t}t)")
    res["accuracy"]["sparsketch"] = _check(chain(lambda a, b: sparsketch.spgemm(a, b))(), ref)
    out_bytes = ref.nnz * (ref.data.itemsize + ref.indices.itemsize)
    res["info"]["peak_extra"] = _peak_extra(
        chain(lambda a, b: sparsketch.spgemm(a, b, n_threads=threads)), out_bytes)
    try:
        import graphblas as gb
        gpairs = [(gb.io.from_scipy_sparse(a), gb.io.from_scipy_sparse(b)) for a, b in pairs]

        def gb_run():
            out = None
            for a, b in gpairs:
                out = a.mxm(b).new()
                out.wait()
            return out
        for t in sorted({1, threads}):
            timed(gb_run, f"graphblas ({t}t)",
                  lambda t=t: gb.ss.config.__setitem__("nthreads", t))
        res["accuracy"]["graphblas"] = _check(gb.io.to_scipy_sparse(gb_run()), ref)
    except ImportError:
        res["notes"].append("python-graphblas not installed")
    mkl = _mkl()
    if mkl is not None:
        mpairs = [(sp.csr_matrix(a), sp.csr_matrix(b)) for a, b in pairs]

        def mkl_run(reorder=True):
            out = None
            for a, b in mpairs:
                out = mkl.dot_product_mkl(a, b, reorder_output=reorder)
            return out
        for t in sorted({1, threads}):
            timed(mkl_run, f"mkl ({t}t)", lambda t=t: mkl.mkl_set_num_threads(t))
            timed(lambda: mkl_run(False), f"mkl unsorted ({t}t)",
                  lambda t=t: mkl.mkl_set_num_threads(t))
        res["accuracy"]["mkl"] = _check(mkl_run(), ref)
    else:
        res["notes"].append("sparse_dot_mkl / MKL runtime not available")
    try:
        from sparse_dot_topn import sp_matmul
        tpairs = [(sp.csr_matrix(a), sp.csr_matrix(b)) for a, b in pairs]

        def topn_run(t, sort=True):  # sp_matmul's rows come out unsorted
            out = None
            for a, b in tpairs:
                out = sp_matmul(a, b, n_threads=t)
                if sort:
                    out.sort_indices()
            return out
        for t in sorted({1, threads}):
            timed(lambda t=t: topn_run(t), f"sparse_dot_topn ({t}t)")
            timed(lambda t=t: topn_run(t, False), f"sparse_dot_topn unsorted ({t}t)")
        res["accuracy"]["sparse_dot_topn"] = _check(topn_run(threads), ref)
    except ImportError:
        res["notes"].append("sparse_dot_topn not installed")
    run_queue()
    return res


def _fmt_t(t):
    return f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s"


def _t_or_na(times, key):
    return _fmt_t(times[key]) if key in times else "n/a"


def _best_peer(times, t):
    cands = {k: v for k, v in times.items() if k.endswith(f"({t}t)") and
             not k.startswith("sparsketch") and "unsorted" not in k}
    if not cands:
        return None, None
    k = min(cands, key=cands.get)
    return k, cands[k]


def table(results):
    out = ["\nTimes are medians; GFLOP/s = 2 x multiply-adds / time. Ratios = peer time / "
           "sparsketch time with sorted output at the same thread count (> 1: sparsketch "
           "faster); SciPy is single-threaded and its ratio uses 'scipy + sort_indices' "
           "(its raw unsorted time is shown too). Peak extra = sparsketch's high-water memory "
           "above the start, less the output (Galerkin rows: the intermediate A P, held while "
           "P^T (A P) is computed, is part of it).\n"]
    out.append("| product | flops | nnz(C) | sparsketch 1t | 2t | GFLOP/s (2t) | scipy | scipy+sort | "
               "vs scipy+sort (2t) | graphblas 2t | mkl 2t | sparse_dot_topn 2t | vs best peer (2t) | "
               "1t vs scipy unsorted | unsorted 2t: sparsketch / mkl / sparse_dot_topn | peak extra |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        i, t = r["info"], r["times"]
        if r["point"]["kind"] == "topk":
            continue
        threads = max(int(k.split("(")[1][:-2]) for k in t if k.startswith("sparsketch ("))
        s1, s2 = t["sparsketch (1t)"], t[f"sparsketch ({threads}t)"]
        name, best = _best_peer(t, threads)
        out.append(
            f"| {i['desc']} | {i['flops']:.3g} | {i['out_nnz']:.3g} | {_fmt_t(s1)} | {_fmt_t(s2)} | "
            f"{2 * i['flops'] / s2 / 1e9:.2f} | {_fmt_t(t['scipy'])} | {_fmt_t(t['scipy + sort_indices'])} | "
            f"{t['scipy + sort_indices'] / s2:.2f}x | "
            f"{_t_or_na(t, f'graphblas ({threads}t)')} | {_t_or_na(t, f'mkl ({threads}t)')} | "
            f"{_t_or_na(t, f'sparse_dot_topn ({threads}t)')} | "
            f"{(best / s2) if best else float('nan'):.2f}x ({name.split(' (')[0] if name else '-'}) | "
            f"{t['scipy'] / s1:.2f}x | {_fmt_t(t[f'sparsketch unsorted ({threads}t)'])} / "
            f"{_t_or_na(t, f'mkl unsorted ({threads}t)')} / "
            f"{_t_or_na(t, f'sparse_dot_topn unsorted ({threads}t)')} | "
            f"{i['peak_extra'] / 2**20:.0f} MiB |")
    geo = [r["times"]["scipy + sort_indices"] / r["times"][max(
        (k for k in r["times"] if k.startswith("sparsketch (")), key=lambda k: int(k.split("(")[1][:-2]))]
        for r in results if r["point"]["kind"] != "topk"]
    if geo:
        out.append(f"\nGeometric mean speed-up over scipy + sort_indices at the most threads: "
                   f"{float(np.exp(np.mean(np.log(geo)))):.2f}x over {len(geo)} products.")
    for r in results:
        if r["point"]["kind"] != "topk":
            continue
        i, t = r["info"], r["times"]
        out.append(f"\n### {i['desc']} (k = {r['point']['k']})\n")
        out.append("| implementation | time | ratio to sparsketch, same threads |")
        out.append("|---|---|---|")
        for name, v in t.items():
            th = name.split("(")[1]
            ours = t[f"sparsketch ({th}"]
            out.append(f"| {name} | {_fmt_t(v)} | {v / ours:.2f}x |")
        if "sparse_dot_topn" in r["accuracy"]:
            out.append(f"\nmax |kept value difference| vs sparse_dot_topn: {r['accuracy']['sparse_dot_topn']:.1e}")
    acc = [f"{r['info']['desc']}: " + ", ".join(f"{k} {v:.1e}" for k, v in r["accuracy"].items())
           for r in results if r["point"]["kind"] != "topk"]
    out.append("\nMax |C - C_scipy| / max |C_scipy|: " + "; ".join(acc) + ".")
    return "\n".join(out)


def summary(results):
    rows = ["| product | sparsketch (2t) | scipy + sort | graphblas (2t) | mkl (2t) | sparse_dot_topn (2t) |",
            "|---|---|---|---|---|---|"]
    for r in results:
        if r["point"]["kind"] == "topk":
            continue
        t = r["times"]
        s2 = t.get("sparsketch (2t)")
        if s2 is None:
            continue

        def cell(k):
            return f"{_fmt_t(t[k])} ({t[k] / s2:.1f}x)" if k in t else "n/a"
        rows.append(f"| {r['info']['desc']} | {_fmt_t(s2)} | {cell('scipy + sort_indices')} | "
                    f"{cell('graphblas (2t)')} | {cell('mkl (2t)')} | {cell('sparse_dot_topn (2t)')} |")
    return "\n".join(rows)


def plot(results, path_prefix):
    return []
