"""Timing and machine-description helpers shared by the kernel benchmarks."""

from __future__ import annotations

import os
import platform
import subprocess
import time

import numpy as np


def _warm_up(fn, setup, target_sample, max_inner):
    """One untimed-for-the-result call of fn (after setup()): its time, and the calls per
    sample k so that a sample lasts ~target_sample (at most max_inner)."""
    if setup:
        setup()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    k = max(1, int(target_sample / once))
    if max_inner is not None:
        k = max(1, min(k, max_inner))
    return once, k


def interleaved_times(items, *, rounds: int = 3, block: int = 3, max_inner: int | None = None,
                      target_sample: float = 0.01, quick_call: float = 0.2,
                      round_time: float = 0.03) -> dict:
    """Median seconds per call of each (name, fn, setup) in items, sampled in rounds: each
    round runs every fn in turn (setup() untimed first), so a slow phase of a shared machine
    hits every implementation alike and the ratios stay fair. Per round and fn: one untimed
    call when a call is quicker than quick_call (it absorbs threads another library left
    spinning), then `block` samples of k calls, or more for very quick calls (up to 100 or
    ~round_time; a sample lasts ~target_sample, k at most max_inner); slower fns take one
    sample per round."""
    plans = []
    for name, fn, setup in items:
        once, k = _warm_up(fn, setup, target_sample, max_inner)
        # quick calls: more samples per round (about round_time of them), at least `block`
        per_round = max(block, min(100, int(round_time / (k * once)))) if once < quick_call else 1
        plans.append((name, fn, setup, k, once < quick_call, per_round, []))
    for _ in range(rounds):
        for name, fn, setup, k, quick, per_round, samples in plans:
            if setup:
                setup()
            if quick:
                fn()
            for _ in range(per_round):
                t0 = time.perf_counter()
                for _ in range(k):
                    fn()
                samples.append((time.perf_counter() - t0) / k)
    return {p[0]: float(np.median(p[6])) for p in plans}


def median_time(fn, *, setup=None, min_samples: int = 5, min_total: float = 0.2,
                max_inner: int | None = None, target_sample: float = 0.01) -> float:
    """Median seconds per call of fn(): one warm-up, then >= min_samples samples of k calls
    each (k chosen so a sample lasts ~target_sample, at most max_inner), sampling until
    min_total seconds have been spent. setup() (untimed) runs before every sample."""
    _, k = _warm_up(fn, setup, target_sample, max_inner)
    samples = []
    spent = 0.0
    while len(samples) < min_samples or (spent < min_total and len(samples) < 200):
        if setup:
            setup()
        t0 = time.perf_counter()
        for _ in range(k):
            fn()
        dt = time.perf_counter() - t0
        spent += dt
        samples.append(dt / k)
    return float(np.median(samples))


def machine_info() -> dict:
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["memory_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in lscpu.splitlines():
            key = line.split(":")[0].strip()
            if key in ("L1d cache", "L2 cache", "L3 cache", "Flags"):
                val = line.split(":", 1)[1].strip()
                if key == "Flags":
                    val = " ".join(f for f in val.split() if f.startswith(("avx", "sse4_2")))
                info[key] = val
    except OSError:
        pass
    try:
        import sparsketch
        cfg = sparsketch.show_config(mode="dicts")
        info["sparsketch"] = cfg["sparsketch"]
        info["compiler"] = cfg["build"]["compiler"]
        info["flags"] = cfg["build"]["flags"]
        info["simd"] = cfg["build"]["simd"]
        info["threads"] = sparsketch.get_num_threads()
    except Exception:  # noqa: BLE001 - the table still says what it can
        pass
    try:
        info["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                        capture_output=True, text=True,
                                        cwd=os.path.dirname(__file__)).stdout.strip()
    except OSError:
        pass
    return info


def pyplot():
    """matplotlib.pyplot on the Agg backend, or None when matplotlib is not installed (the
    kernels' plot() then returns no paths)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt
