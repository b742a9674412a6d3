"""Sparse Walsh-Hadamard transform benchmark (issue 5).

1. Array mode, noiseless spectra: N = 2^16 .. 2^26, K = 4 .. 2^14 (K <= N / 4), random supports,
   amplitudes +-U(1, 3). For every (N, K) and both designs (noiseless "none", robust "auto"): the
   success rate over 20 seeds (success flag and exact support and values), samples read, median
   time of one call, and the speed-up over the foundation's dense FWHT of the same precision
   (``sparsketch.fwht``, all threads, out of place into a preallocated array) on the same
   signal. The crossover K is the
   smallest K at which the dense transform is faster.
2. Oracle mode: n in {24, 32, 48, 64, 128, 512}, K = 64, noiseless design, a synthetic O(K n)
   per-query oracle (parities by a float32 matrix product on the query bits): samples, time
   spent outside the oracle (sampling plan + decoding), success over 5 seeds.
3. Noisy: n in {20, 32}, K in {16, 64, 256}, SNR = sum |X_k|^2 / sigma^2 from -3 to 20 dB, fresh
   N(0, sigma^2) noise per query, default (robust) settings, 10 seeds: exact-support rate, NMSE
   ``||X^ - X||^2 / ||X||^2``, false and missed coefficients per run.
4. Peer: the pure-NumPy ``sparse-transform`` package (q-SFT, q = 2) on the same array signals
   (n = 16 and 20, K in {16, 64}), noiseless, with its identity (noiseless SPRIGHT) design.
"""

from __future__ import annotations

import math
import time

import numpy as np

NAME = "sparse_wht"

_SNRS = [-3.0, 0.0, 3.0, 5.0, 10.0, 15.0, 20.0]


def grid(quick):
    if quick:
        return [dict(kind="array", n=16, Ks=[4, 64, 1024], seeds=5),
                dict(kind="oracle", ns=[24, 128], K=16, seeds=2),
                dict(kind="noisy", n=20, Ks=[16], snrs=[0.0, 10.0], seeds=3),
                dict(kind="peer", n=16, Ks=[16])]
    pts = []
    for n in (16, 18, 20, 22, 24, 26):
        Ks = [K for K in (4, 16, 64, 256, 1024, 4096, 16384) if 4 * K <= (1 << n)]
        pts.append(dict(kind="array", n=n, Ks=Ks, seeds=20))
    pts.append(dict(kind="oracle", ns=[24, 32, 48, 64, 128, 512], K=64, seeds=5))
    for n in (20, 32):
        pts.append(dict(kind="noisy", n=n, Ks=[16, 64, 256], snrs=_SNRS, seeds=10))
    pts.append(dict(kind="peer", n=16, Ks=[16, 64]))
    pts.append(dict(kind="peer", n=20, Ks=[16, 64]))
    return pts


def _spectrum(rng, n, K):
    idx = np.sort(rng.choice(1 << n, K, replace=False) if n <= 62 else
                  rng.integers(0, 2**63, K, dtype=np.uint64)).astype(np.uint64)
    val = rng.choice([-1.0, 1.0], K) * rng.uniform(1.0, 3.0, K)
    return idx, val


def _exact(res, idx, val, tol=1e-6):
    return bool(res.success and res.indices.shape == idx.shape and np.array_equal(res.indices, idx)
                and np.allclose(res.values, val, rtol=tol, atol=tol))


def _time_call(fn, reps):
    ts = []
    out = None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return min(ts), out


def run_point(point, threads, median_time):
    import sparsketch
    res = {"point": point, "times": {}, "accuracy": {}, "notes": [], "info": {}}
    kind = point["kind"]
    if kind == "array":
        _array(point, res, median_time)
    elif kind == "oracle":
        _oracle_mode(point, res)
    elif kind == "noisy":
        _noisy(point, res)
    else:
        _peer(point, res)
    res["notes"].append(f"sparsketch {sparsketch.__version__}: sparse WHT single-threaded; dense "
                        f"FWHT on {threads} threads")
    return res


def _array(point, res, median_time):
    import sparsketch
    n, seeds = point["n"], point["seeds"]
    rng = np.random.default_rng(1000 + n)
    rows = []
    dense_t = None
    for K in point["Ks"]:
        idx, val = _spectrum(rng, n, K)
        X = np.zeros(1 << n)
        X[idx.astype(np.int64)] = val
        x = sparsketch.fwht(X)  # x[t] = sum_k X[k] (-1)^<k, t>
        del X
        if dense_t is None:  # out of place into a preallocated buffer (no page faults)
            buf = np.empty_like(x)
            dense_t = median_time(lambda: sparsketch.fwht(x, out=buf), min_samples=5,
                                  min_total=0.3)
            res["times"]["dense fwht"] = dense_t
            # one thread, like the sparse transform (and like the single-threaded FFHT that
            # SparseFHT's published speed-ups are measured against)
            res["info"]["dense_1t"] = median_time(
                lambda: sparsketch.fwht(x, out=buf, n_threads=1), min_samples=5, min_total=0.3)
            del buf
        row = {"K": K}
        for design in ("none", "auto"):
            ok, times, samples = 0, [], []
            reps = 3 if K <= 1024 else 1
            for s in range(seeds):
                t, r = _time_call(lambda: sparsketch.sparse_wht(x, k=K, noise=design, seed=s), reps)
                times.append(t)
                samples.append(r.samples)
                ok += _exact(r, idx, val)
            row[design] = {"time": float(np.median(times)), "success": ok / seeds,
                           "samples": float(np.median(samples))}
        rows.append(row)
        del x
    res["info"]["rows"] = rows
    res["info"]["dense"] = dense_t


def _bits_oracle(n, idx_bits, val, sigma=0.0, rng=None, clock=None):
    """f(bits) = sum_k X_k (-1)^<k, t> (+ noise): parities from a float32 product of the
    (batch, n) query bits with the (n, K) support bits (exact: sums <= n < 2^24)."""
    Kt = idx_bits.T.astype(np.float32)

    def f(bits):
        t0 = time.perf_counter()
        par = (bits.astype(np.float32) @ Kt).astype(np.int64) & 1
        out = (1.0 - 2.0 * par) @ val
        if sigma > 0:
            out = out + sigma * rng.standard_normal(out.size)
        if clock is not None:
            clock[0] += time.perf_counter() - t0
        return out
    return f


def _support_bits(rng, n, K):
    bits = np.unique(rng.integers(0, 2, (K, n), dtype=np.uint8), axis=0)
    return bits, rng.choice([-1.0, 1.0], bits.shape[0]) * rng.uniform(1.0, 3.0, bits.shape[0])


def _oracle_mode(point, res):
    import sparsketch
    K, seeds = point["K"], point["seeds"]
    rows = []
    for n in point["ns"]:
        rng = np.random.default_rng(2000 + n)
        ok, decode, total, samples = 0, [], [], []
        for s in range(seeds):
            bits, val = _support_bits(rng, n, K)
            clock = [0.0]
            t0 = time.perf_counter()
            r = sparsketch.sparse_wht(_bits_oracle(n, bits, val, clock=clock), n, k=len(val),
                                      noise="none", seed=s)
            total.append(time.perf_counter() - t0)
            decode.append(total[-1] - clock[0])
            samples.append(r.samples)
            got = sparsketch.unpack_indices(r.indices, n)
            order = np.lexsort(bits.T)  # ascending as integers: variable n-1 is the primary key
            ok += bool(r.success and got.shape == bits.shape and np.array_equal(got, bits[order])
                       and np.allclose(r.values, val[order], rtol=1e-9))
        rows.append({"n": n, "success": ok / seeds, "samples": float(np.median(samples)),
                     "decode": float(np.median(decode)), "total": float(np.median(total))})
    res["info"]["rows"] = rows


def _noisy(point, res):
    import sparsketch
    n, seeds = point["n"], point["seeds"]
    rows = []
    for K in point["Ks"]:
        for snr in point["snrs"]:
            rng = np.random.default_rng(3000 + 7 * n + K)
            exact, nmse, false, missed = 0, [], [], []
            for s in range(seeds):
                idx, val = _spectrum(rng, n, K)
                bits = sparsketch.unpack_indices(idx, n)
                sigma = math.sqrt(np.sum(val**2) / 10 ** (snr / 10))
                r = sparsketch.sparse_wht(_bits_oracle(n, bits, val, sigma, rng), n, k=K, seed=s)
                truth = dict(zip(idx.tolist(), val))
                got = dict(zip(r.indices.tolist(), r.values))
                err = sum((got.get(k, 0.0) - truth.get(k, 0.0)) ** 2 for k in set(truth) | set(got))
                nmse.append(err / float(np.sum(val**2)))
                false.append(len(set(got) - set(truth)))
                missed.append(len(set(truth) - set(got)))
                exact += set(got) == set(truth)
            rows.append({"K": K, "snr_db": snr, "exact_support": exact / seeds,
                         "nmse": float(np.median(nmse)), "false": float(np.mean(false)),
                         "missed": float(np.mean(missed))})
    res["info"]["rows"] = rows


def _peer(point, res):
    import sparsketch
    n = point["n"]
    rows = []
    try:
        from sparse_transform.qsft.qsft import transform
        from sparse_transform.qsft.signals.input_signal_subsampled import SubsampledSignal
    except ImportError:
        res["notes"].append("sparse-transform not installed: peer skipped")
        res["info"]["rows"] = rows
        return

    class ArraySignal(SubsampledSignal):
        def subsample(self, query_indices):  # (batch, n) bits, bit j = variable j
            q = np.asarray(query_indices, dtype=np.int64)
            t = q @ (np.int64(1) << np.arange(n, dtype=np.int64))
            return self._x[t]

    rng = np.random.default_rng(4000 + n)
    for K in point["Ks"]:
        idx, val = _spectrum(rng, n, K)
        X = np.zeros(1 << n)
        X[idx.astype(np.int64)] = val
        x = sparsketch.fwht(X)
        b = max(1, math.ceil(math.log2(K)))
        seeds = 5
        ok_p, t_p, ok_s, t_s = 0, [], 0, []
        for s in range(seeds):
            np.random.seed(s)
            t0 = time.perf_counter()
            sig = ArraySignal.__new__(ArraySignal)
            sig._x = x
            SubsampledSignal.__init__(sig, n=n, q=2, noise_sd=0.0, query_args={
                "query_method": "complex", "num_subsample": 3, "delays_method_source": "identity",
                "subsampling_method": "qsft", "delays_method_channel": "identity",
                "num_repeat": 1, "b": b})
            out = transform(sig, reconstruct_method_source="identity",
                            reconstruct_method_channel="identity", b=b, num_subsample=3,
                            num_repeat=1, noise_sd=0.0, peeling_method="single-detect")
            t_p.append(time.perf_counter() - t0)
            got = {int(sum(int(v) << j for j, v in enumerate(k))): complex(c).real
                   for k, c in out.items() if abs(c) > 1e-6}
            truth = dict(zip(idx.tolist(), val))
            ok_p += set(got) == set(truth) and all(abs(got[k] - truth[k]) < 1e-6 for k in truth)
            t1 = time.perf_counter()
            r = sparsketch.sparse_wht(x, k=K, noise="none", seed=s)
            t_s.append(time.perf_counter() - t1)
            ok_s += _exact(r, idx, val)
        rows.append({"K": K, "peer_time": float(np.median(t_p)), "peer_success": ok_p / seeds,
                     "time": float(np.median(t_s)), "success": ok_s / seeds})
    res["info"]["rows"] = rows


def _fmt_t(t):
    return f"{t * 1e6:.0f} us" if t < 1e-3 else (f"{t * 1e3:.2f} ms" if t < 1 else f"{t:.2f} s")


def _crossover(rows, design, dense):
    for row in rows:
        if row[design]["time"] >= dense:
            return row["K"]
    return None


def table(results):
    out = []
    arrays = [r for r in results if r["point"]["kind"] == "array"]
    if arrays:
        out.append("\n### Array mode, noiseless spectra\n")
        out.append("Success = success flag, exact support and values, over the seeds; time = median "
                   "over seeds of the best of 3 calls (1 for K > 1024), single-threaded; "
                   "speed-up = dense FWHT time (into a preallocated output) / sparse time, same "
                   "signal, float64, with the dense transform on all threads and (1t) on one "
                   "thread like the sparse one.\n")
        out.append("| N | K | dense FWHT | dense 1t | noiseless: time | speed-up | vs 1t | "
                   "success | samples | robust: time | speed-up | success | samples |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in arrays:
            dense = r["info"]["dense"]
            d1 = r["info"].get("dense_1t", float("nan"))
            for row in r["info"]["rows"]:
                a, b = row["none"], row["auto"]
                out.append(f"| 2^{r['point']['n']} | {row['K']} | {_fmt_t(dense)} | "
                           f"{_fmt_t(d1)} | {_fmt_t(a['time'])} | {dense / a['time']:.1f}x | "
                           f"{d1 / a['time']:.1f}x | {a['success']:.0%} | "
                           f"{a['samples']:.0f} | {_fmt_t(b['time'])} | {dense / b['time']:.1f}x | "
                           f"{b['success']:.0%} | {b['samples']:.0f} |")
        out.append("\nCrossover K (smallest K in the grid where the dense FWHT is faster):\n")
        out.append("| N | noiseless design | robust design |")
        out.append("|---|---|---|")
        for r in arrays:
            rows, dense = r["info"]["rows"], r["info"]["dense"]
            c1, c2 = _crossover(rows, "none", dense), _crossover(rows, "auto", dense)
            out.append(f"| 2^{r['point']['n']} | {c1 if c1 else '> ' + str(rows[-1]['K'])} | "
                       f"{c2 if c2 else '> ' + str(rows[-1]['K'])} |")
    for r in results:
        p = r["point"]
        if p["kind"] == "oracle":
            out.append(f"\n### Oracle mode, K = {p['K']}, noiseless design\n")
            out.append("A synthetic oracle (float32 parity product, O(K n) per query); decode = "
                       "total time less the time inside the oracle; medians over seeds.\n")
            out.append("| n | success | samples | decode time | total time |")
            out.append("|---|---|---|---|---|")
            for row in r["info"]["rows"]:
                out.append(f"| {row['n']} | {row['success']:.0%} | {row['samples']:.0f} | "
                           f"{_fmt_t(row['decode'])} | {_fmt_t(row['total'])} |")
        elif p["kind"] == "noisy":
            out.append(f"\n### Noisy queries, n = {p['n']}, default robust design\n")
            out.append("SNR = sum |X_k|^2 / sigma^2 (per-query noise); exact = fraction of seeds "
                       "with exactly the true support; NMSE median; false/missed = mean count per run.\n")
            out.append("| K | SNR (dB) | exact support | NMSE | false | missed |")
            out.append("|---|---|---|---|---|---|")
            for row in r["info"]["rows"]:
                out.append(f"| {row['K']} | {row['snr_db']:g} | {row['exact_support']:.0%} | "
                           f"{row['nmse']:.2e} | {row['false']:.2f} | {row['missed']:.2f} |")
        elif p["kind"] == "peer":
            out.append(f"\n### Peer: sparse-transform (q-SFT, q = 2), n = {p['n']}, noiseless\n")
            if not r["info"]["rows"]:
                out.append("(not installed)")
                continue
            out.append("Median of 5 seeds, each a full run (sampling plan, queries, decoding) on "
                       "the same in-memory signal.\n")
            out.append("| K | sparse-transform | success | sparsketch | success | speed-up |")
            out.append("|---|---|---|---|---|---|")
            for row in r["info"]["rows"]:
                out.append(f"| {row['K']} | {_fmt_t(row['peer_time'])} | {row['peer_success']:.0%} "
                           f"| {_fmt_t(row['time'])} | {row['success']:.0%} | "
                           f"{row['peer_time'] / row['time']:.0f}x |")
    return "\n".join(out)


def summary(results):
    rows = ["| problem | sparsketch | peer | speed-up | accuracy |", "|---|---|---|---|---|"]
    for r in results:
        p = r["point"]
        if p["kind"] == "array" and p["n"] == 20:
            dense = r["info"]["dense"]
            for row in r["info"]["rows"]:
                if row["K"] in (64, 256):
                    a = row["none"]
                    rows.append(f"| sparse WHT N = 2^20, K = {row['K']}, noiseless | "
                                f"{_fmt_t(a['time'])} | dense FWHT {_fmt_t(dense)} | "
                                f"{dense / a['time']:.1f}x | success {a['success']:.0%} |")
        elif p["kind"] == "peer":
            for row in r["info"]["rows"]:
                rows.append(f"| sparse WHT n = {p['n']}, K = {row['K']} | {_fmt_t(row['time'])} | "
                            f"sparse-transform {_fmt_t(row['peer_time'])} | "
                            f"{row['peer_time'] / row['time']:.0f}x | success "
                            f"{row['success']:.0%} (peer {row['peer_success']:.0%}) |")
    return "\n".join(rows)


def plot(results, path_prefix):
    from common import pyplot
    plt = pyplot()
    if plt is None:
        return []
    noisy = [r for r in results if r["point"]["kind"] == "noisy"]
    if not noisy:
        return []
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.3))
    for r in noisy:
        n = r["point"]["n"]
        for K in r["point"]["Ks"]:
            rows = [row for row in r["info"]["rows"] if row["K"] == K]
            snr = [row["snr_db"] for row in rows]
            axes[0].plot(snr, [row["exact_support"] for row in rows], marker="o",
                         label=f"n={n}, K={K}")
            axes[1].semilogy(snr, [max(row["nmse"], 1e-12) for row in rows], marker="o",
                             label=f"n={n}, K={K}")
    axes[0].set_ylabel("exact-support rate")
    axes[1].set_ylabel("NMSE (median)")
    for ax in axes:
        ax.set_xlabel("SNR (dB)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Sparse WHT with noisy queries (default robust design)")
    fig.tight_layout()
    path = f"{path_prefix}_noise.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [path]
