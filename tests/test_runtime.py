"""Runtime plumbing: version, configuration, threads, seeds, the counter-based RNG."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import sparsketch
from sparsketch import _core
from sparsketch._random import normalize_seed


def test_version_matches_metadata():
    from importlib.metadata import version
    assert sparsketch.__version__ == version("sparsketch")


def test_show_config(capsys):
    cfg = sparsketch.show_config(mode="dicts")
    assert cfg["build"]["arch"] in ("native", "baseline")
    assert cfg["build"]["simd"] in ("AVX512F", "AVX2", "AVX", "SSE4.2", "SSE2", "NEON", "scalar")
    assert cfg["build"]["openmp"] and cfg["build"]["eigen"] == "3.4.0"
    assert "-O3" in cfg["build"]["flags"]
    assert sparsketch.show_config() is None
    out = capsys.readouterr().out
    assert "simd" in out and "compiler" in out and "omp_max_threads" in out
    with pytest.raises(ValueError, match="mode"):
        sparsketch.show_config(mode="yaml")


def test_set_and_get_num_threads():
    default = sparsketch.get_num_threads()
    assert default == _core.omp_max_threads()
    sparsketch.set_num_threads(3)
    try:
        assert sparsketch.get_num_threads() == 3
        assert _core.omp_max_threads() == default  # OpenMP's global setting is left alone
    finally:
        sparsketch.set_num_threads(None)
    assert sparsketch.get_num_threads() == default
    with pytest.raises(ValueError, match="n"):
        sparsketch.set_num_threads(0)
    with pytest.raises(TypeError, match="n"):
        sparsketch.set_num_threads(2.5)


def test_omp_num_threads_is_honoured():
    code = "import sparsketch; print(sparsketch.get_num_threads())"
    env = dict(os.environ, OMP_NUM_THREADS="3")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "3"


def test_threadpoolctl_limits_apply():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert sparsketch.get_num_threads() == 1
    info = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "openmp"]
    assert info, "sparsketch's OpenMP runtime should be visible to threadpoolctl"


def test_normalize_seed():
    assert normalize_seed(5) == 5
    assert normalize_seed(2**64 - 1) == 2**64 - 1
    s = normalize_seed(None)
    assert 0 <= s < 2**64
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    assert normalize_seed(g1) == normalize_seed(g2)
    assert normalize_seed(np.random.RandomState(1)) == normalize_seed(np.random.RandomState(1))
    with pytest.raises(ValueError, match="seed"):
        normalize_seed(-1)
    with pytest.raises(ValueError, match="seed"):
        normalize_seed(2**64)
    with pytest.raises(TypeError, match="seed"):
        normalize_seed(1.5)
    with pytest.raises(TypeError, match="seed"):
        normalize_seed(True)


# Random123 tests/kat_vectors, "philox4x32 10": counter[4], key[2] -> output[4].
KAT = [
    ([0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
    ([0xffffffff] * 4, [0xffffffff] * 2, [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]),
    ([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0],
     [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]),
]


@pytest.mark.parametrize("ctr,key,expected", KAT)
def test_philox_known_answers(ctr, key, expected):
    assert list(_core._philox4x32_10(ctr, key)) == expected


def test_rng_streams_independent_of_threads_and_offsets(seed):
    for fn in (_core._random_uniform, _core._random_normal, _core._random_rademacher):
        a = fn(seed, 1, 0, 100_000, 1)
        b = fn(seed, 1, 0, 100_000, 2)
        assert np.array_equal(a, b)
        # position i depends only on (seed, tag, i): a window starting at 1000 matches.
        assert np.array_equal(fn(seed, 1, 1000, 500, 2), a[1000:1500])
        assert not np.array_equal(fn(seed, 2, 0, 1000, 1), a[:1000])


def test_rng_distributions(seed):
    """Kolmogorov-Smirnov at significance 1e-4 for a fixed seed (a false failure then needs an
    event of probability 1e-4, and the seed is fixed so the test is deterministic)."""
    stats = pytest.importorskip("scipy.stats")
    u = _core._random_uniform(seed, 0, 0, 200_000, 2)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-4
    z = _core._random_normal(seed, 0, 0, 200_000, 2)
    assert stats.kstest(z, "norm").pvalue > 1e-4
    r = _core._random_rademacher(seed, 0, 0, 200_000, 2)
    assert set(np.unique(r)) == {-1, 1}
    # Binomial(200000, 1/2): |count - 1e5| < 4.5 sd (sd = 223.6) has probability > 1 - 1e-5.
    assert abs(int((r == 1).sum()) - 100_000) < 4.5 * 223.6


def test_cpp_exceptions_map_to_python_types():
    with pytest.raises(ValueError, match="count"):
        _core._random_uniform(0, 0, 0, -1, 1)
    with pytest.raises(MemoryError, match="count"):
        _core._random_uniform(0, 0, 0, 2**62, 1)
    with pytest.raises(TypeError, match="x"):
        _core.fwht(np.ones((1, 4, 1), np.int64), np.ones((1, 4, 1), np.int64), False, True, 1)
    assert _core.fwht_fast(np.ones(4, np.int64), None, False, True, 1) is None  # declines


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_all_finite_finds_every_position(dtype, bad):
    """The parallel C++ check against NumPy: a bad value anywhere (first, last, block edges of
    a large array, F order) is found; huge finite values and subnormals are not flagged."""
    from sparsketch._validation import all_finite
    n = (1 << 18) + 77  # above the parallel threshold, last block partial
    x = np.full(n, np.finfo(dtype).max, dtype=dtype)
    x[1::3] = np.finfo(dtype).tiny / 4  # subnormal
    assert all_finite(x) and all_finite(x[:0])
    for pos in (0, 1, (1 << 15) - 1, 1 << 15, n // 2, n - 1):
        y = x.copy()
        y[pos] = bad
        assert not all_finite(y), pos
        for nt in (1, 2, 3):
            assert not sparsketch._core.all_finite(y, nt)
    M = np.asfortranarray(np.ones((600, 500), dtype=dtype))
    M[599, 0] = bad
    assert not all_finite(M) and not all_finite(M[:, ::2]) and all_finite(M[:, 1:])
