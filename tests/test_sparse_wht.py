"""sparse_wht: exact recovery against the dense FWHT (noiseless design), statistical recovery at
stated SNRs (robust design), no false coefficients on pure noise, the callable and array paths,
determinism and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sparsketch


def _spectrum(rng, n, K, support="random", amplitudes="varied"):
    N = 1 << n
    if support == "random":
        idx = rng.choice(N, K, replace=False)
    elif support == "low_weight":  # all indices of Hamming weight <= 2, K of them
        cand = [0] + [1 << i for i in range(n)] + [(1 << i) | (1 << j) for i in range(n)
                                                   for j in range(i)]
        idx = rng.choice(np.array(cand), K, replace=False)
    elif support == "clustered":  # a run of consecutive indices with a shared prefix
        start = int(rng.integers(0, N - K))
        idx = np.arange(start, start + K)
    else:
        raise AssertionError(support)
    if amplitudes == "pm1":
        val = rng.choice([-1.0, 1.0], K)
    else:  # "varied": |X| ~ U(0.5, 5); or the (low, high) range of |X|
        low, high = (0.5, 5.0) if amplitudes == "varied" else amplitudes
        val = rng.choice([-1.0, 1.0], K) * rng.uniform(low, high, K)
    return np.sort(idx).astype(np.uint64), val[np.argsort(idx)]


def _signal(n, idx, val, dtype=np.float64):
    X = np.zeros(1 << n)
    X[idx.astype(np.int64)] = val
    return sparsketch.fwht(X).astype(dtype)  # x = H X: x[t] = sum_k X[k] (-1)^<k,t>


def _parity(x):
    x = x.copy()
    for s in (32, 16, 8, 4, 2, 1):
        x ^= x >> np.uint64(s)
    return (x & np.uint64(1)).astype(np.float64)


def _oracle(n, idx, val, sigma=0.0, rng=None, calls=None):
    """Black-box f(bits) for the spectrum (idx, val), plus N(0, sigma^2) noise per query."""
    weights = np.uint64(1) << np.arange(n, dtype=np.uint64)

    def f(bits):
        assert bits.dtype == np.uint8 and bits.shape[1] == n
        if calls is not None:
            calls.append(bits.shape[0])
        t = (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
        out = np.zeros(t.size)
        for k, v in zip(idx, val):
            out += v * (1.0 - 2.0 * _parity(t & k))
        if sigma > 0:
            out += sigma * rng.standard_normal(t.size)
        return out
    return f


@pytest.mark.parametrize("n,K", [(8, 1), (8, 16), (12, 64), (16, 256), (18, 1024)])
@pytest.mark.parametrize("amplitudes", ["pm1", "varied"])
def test_noiseless_exact_recovery_matches_dense_fwht(n, K, amplitudes, rng):
    idx, val = _spectrum(rng, n, K, amplitudes=amplitudes)
    x = _signal(n, idx, val)
    dense = sparsketch.fwht(x) / x.size  # the reference spectrum
    res = sparsketch.sparse_wht(x, k=K, noise="none", seed=1)
    assert res.success and res.unresolved == 0
    np.testing.assert_array_equal(res.indices, idx)
    np.testing.assert_allclose(res.to_dense(), dense, rtol=0, atol=1e-9 * np.abs(val).max())
    assert res.samples < x.size or n <= 8


@pytest.mark.parametrize("support", ["low_weight", "clustered"])
def test_noiseless_structured_supports(support, rng):
    # The random re-indexing hashes structured supports like random ones.
    n, K = 20, 128
    idx, val = _spectrum(rng, n, K, support=support)
    x = _signal(n, idx, val, np.float32)
    res = sparsketch.sparse_wht(x, k=K, noise="none", seed=2)
    assert res.success
    np.testing.assert_array_equal(res.indices, idx)
    np.testing.assert_allclose(res.values, val, rtol=1e-5)  # float32 samples


@pytest.mark.parametrize("K", [5, 40])
def test_robust_default_on_exact_float32_signal(K, rng):
    # float32 storage rounds every sample (relative 2^-24): the robust design's noise floor
    # follows the samples' precision, so an exactly sparse float32 signal - and a callable
    # answering in float32 - is recovered with the default noise="auto" (it used to fail on
    # the rounding alone).
    n = 12
    for seed in range(5):
        idx, val = _spectrum(rng, n, K)
        x = _signal(n, idx, val, np.float32)
        for sig in (x, lambda bits: x[bits.astype(np.int64) @ (1 << np.arange(n))]):
            res = sparsketch.sparse_wht(sig, n, k=K, seed=seed)
            assert res.success
            np.testing.assert_array_equal(res.indices, idx)
            np.testing.assert_allclose(res.values, val, rtol=1e-4)


def test_noiseless_success_rate_at_full_load(rng):
    # K / B = 1 with C = 3 groups: well below the peeling threshold of 3-groups hashing (about
    # K / B = 2.4, Scheibler et al. 2015); >= 98 of 100 seeds succeed in one attempt.
    n, K = 14, 64
    ok = 0
    for trial in range(100):
        idx, val = _spectrum(rng, n, K)
        res = sparsketch.sparse_wht(_signal(n, idx, val), k=K, noise="none", seed=trial,
                                    max_attempts=1)
        ok += res.success and np.array_equal(res.indices, idx)
    assert ok >= 98


@pytest.mark.parametrize("n", [24, 40, 64])
def test_callable_large_n(n, rng):
    K = 50
    idx = np.unique(rng.integers(0, 2**63, K, dtype=np.uint64) | np.uint64(1 << (n - 1))
                    if n == 64 else rng.integers(0, 1 << n, K, dtype=np.uint64))
    val = rng.choice([-1.0, 1.0], idx.size) * rng.uniform(1, 3, idx.size)
    calls = []
    res = sparsketch.sparse_wht(_oracle(n, idx, val, calls=calls), n, k=idx.size, noise="none",
                                seed=3)
    assert res.success
    np.testing.assert_array_equal(res.indices, idx)
    np.testing.assert_allclose(res.values, val, rtol=1e-12)
    assert len(calls) == res.attempts and min(calls) >= 1000  # large batches, not per point
    assert res.samples == sum(calls)


def _bitset_spectrum(rng, n, K):
    """K distinct random n-bit indices as (K, n) bits, sorted as integers, and values."""
    bits = np.unique(rng.integers(0, 2, (K, n), dtype=np.uint8), axis=0)
    order = sorted(range(bits.shape[0]), key=lambda i: int("".join(map(str, bits[i, ::-1])), 2))
    bits = bits[order]
    val = rng.choice([-1.0, 1.0], bits.shape[0]) * rng.uniform(1, 3, bits.shape[0])
    return bits, val


def _bitset_oracle(n, kbits, val, sigma=0.0, rng=None, packed=False):
    """f(bits) = sum_k X_k (-1)^<k, t> on (batch, n) bits, or on packed words; O(K n) a query."""
    def f(q):
        if packed:
            assert q.dtype == np.uint64 and q.shape[1] == (n + 63) // 64
            q = sparsketch.unpack_indices(q, n)
        assert q.dtype == np.uint8 and q.shape[1] == n
        par = (q.astype(np.int64) @ kbits.T.astype(np.int64)) & 1
        out = (1.0 - 2.0 * par) @ val
        if sigma > 0:
            out = out + sigma * rng.standard_normal(out.size)
        return out
    return f


@pytest.mark.parametrize("n,K,packed", [(65, 20, False), (130, 40, True), (300, 16, False),
                                        (1024, 8, True)])
def test_bitset_indices_beyond_64(n, K, packed, rng):
    """n > 64: indices come back as (K, ceil(n / 64)) words; unpacked, they are the support."""
    kbits, val = _bitset_spectrum(rng, n, K)
    f = _bitset_oracle(n, kbits, val, packed=packed)
    res = sparsketch.sparse_wht(f, n, k=len(val), noise="none", seed=5,
                                query_format="packed" if packed else "bits")
    assert res.success
    assert res.indices.shape == (len(val), (n + 63) // 64) and res.indices.dtype == np.uint64
    np.testing.assert_array_equal(sparsketch.unpack_indices(res.indices, n), kbits)
    np.testing.assert_allclose(res.values, val, rtol=1e-12)
    t = rng.integers(0, 2, (50, n), dtype=np.uint8)
    np.testing.assert_allclose(res.evaluate(t), f(t) if not packed else
                               _bitset_oracle(n, kbits, val)(t), rtol=1e-12, atol=1e-12)


def test_bitset_noisy_recovery(rng):
    """The robust design through the bitset path: n = 100, K = 16 at 10 dB."""
    n = 100
    kbits, val = _bitset_spectrum(rng, n, 16)
    sigma = _snr_sigma(val, 10.0)
    res = sparsketch.sparse_wht(_bitset_oracle(n, kbits, val, sigma, np.random.default_rng(1)),
                                n, k=len(val), seed=2)
    assert res.success
    np.testing.assert_array_equal(sparsketch.unpack_indices(res.indices, n), kbits)
    np.testing.assert_allclose(res.values, val, atol=6 * sigma / math.sqrt(64 * 3))


def test_unpack_indices_and_words_round_trip(rng):
    idx = rng.integers(0, 2**63, 30, dtype=np.uint64)
    bits = sparsketch.unpack_indices(idx, 64)
    assert bits.shape == (30, 64) and bits.dtype == np.uint8
    weights = [1 << j for j in range(64)]
    assert [sum(w for w, bt in zip(weights, row) if bt) for row in bits] == [int(i) for i in idx]
    words = rng.integers(0, 2**63, (5, 3), dtype=np.uint64)
    words[:, 2] &= np.uint64((1 << 10) - 1)  # n = 138: 10 bits in the last word
    bits = sparsketch.unpack_indices(words, 138)
    for r in range(5):
        value = sum(int(words[r, q]) << (64 * q) for q in range(3))
        assert [(value >> j) & 1 for j in range(138)] == bits[r].tolist()
    with pytest.raises(ValueError, match="bits at or above"):
        sparsketch.unpack_indices(np.array([[0, 0, 1 << 10]], dtype=np.uint64), 138)
    with pytest.raises(ValueError, match="shape"):
        sparsketch.unpack_indices(np.zeros((2, 2), dtype=np.uint64), 138)
    with pytest.raises(TypeError, match="integer"):
        sparsketch.unpack_indices(np.zeros(2), 10)
    with pytest.raises(ValueError, match="n"):
        sparsketch.unpack_indices(np.zeros(2, dtype=np.uint64), 0)


def test_callable_and_array_paths_agree(rng):
    n, K = 12, 20
    idx, val = _spectrum(rng, n, K)
    x = _signal(n, idx, val)
    for noise in ("none", "auto"):
        a = sparsketch.sparse_wht(x, k=K, noise=noise, seed=5)
        f = sparsketch.sparse_wht(lambda bits: x[bits.astype(np.int64) @ (1 << np.arange(n))],
                                  n, k=K, noise=noise, seed=5)
        p = sparsketch.sparse_wht(lambda t: x[t.astype(np.int64)], n, k=K, noise=noise, seed=5,
                                  query_format="packed")
        for r in (f, p):
            np.testing.assert_array_equal(r.indices, a.indices)
            np.testing.assert_array_equal(r.values, a.values)
            assert r.samples == a.samples


@pytest.mark.parametrize("n", [5, 12, 64, 100, 300])
def test_bits_queries_are_the_packed_queries_unpacked(n):
    # the (batch, n) uint8 bits the callable receives are the packed words, bit by bit
    seen = {}

    def keep(name):
        def f(q):
            seen[name] = q.copy()
            return np.zeros(q.shape[0])
        return f

    for fmt in ("bits", "packed"):
        sparsketch.sparse_wht(keep(fmt), n, k=4, noise="none", seed=3, max_attempts=1,
                              query_format=fmt)
    bits, words = seen["bits"], seen["packed"]
    assert bits.dtype == np.uint8 and bits.shape == (words.shape[0], n)
    w = words.reshape(words.shape[0], -1)
    ref = np.array([[(int(w[i, j // 64]) >> (j % 64)) & 1 for j in range(n)]
                    for i in range(0, w.shape[0], 7)], dtype=np.uint8)
    np.testing.assert_array_equal(bits[::7], ref)


def test_determinism_and_seed_reporting(rng):
    n, K = 14, 30
    idx, val = _spectrum(rng, n, K)
    x = _signal(n, idx, val) + 0.05 * rng.standard_normal(1 << n)
    r1 = sparsketch.sparse_wht(x, k=K, seed=11)
    r2 = sparsketch.sparse_wht(x, k=K, seed=11)
    np.testing.assert_array_equal(r1.indices, r2.indices)
    np.testing.assert_array_equal(r1.values, r2.values)
    r3 = sparsketch.sparse_wht(x, k=K, seed=None)
    r4 = sparsketch.sparse_wht(x, k=K, seed=r3.seed)
    np.testing.assert_array_equal(r3.values, r4.values)


def _snr_sigma(val, snr_db):
    return math.sqrt(np.sum(val**2) / 10 ** (snr_db / 10))


@pytest.mark.parametrize("snr_db", [5.0, 10.0, 20.0])
def test_noisy_support_recovery(snr_db, rng):
    # SNR = sum |X_k|^2 / sigma^2 per sample. Exact support in >= 19 of 20 seeded trials at
    # the default settings, and the values within 6 noise standard errors.
    n, K = 20, 32
    ok = 0
    for trial in range(20):
        idx, val = _spectrum(rng, n, K, amplitudes="pm1")
        sigma = _snr_sigma(val, snr_db)
        res = sparsketch.sparse_wht(_oracle(n, idx, val, sigma, rng), n, k=K, seed=trial)
        if res.success and np.array_equal(res.indices, idx):
            ok += 1
            # each value is a mean of P_c observations of noise sd sigma / sqrt(B)
            se = sigma / math.sqrt((1 << res.b) * 3 * (n - res.b + 1))
            assert np.abs(res.values - val).max() < 6 * se + 1e-12
    assert ok >= 19, ok


def test_noisy_support_recovery_varied_amplitudes_5db(rng):
    # The hard case of the robust design: amplitudes uniform in [1, 3] (the smallest ~1/3 of
    # the largest) at 5 dB, K = 128, B = 256 bins: the smallest coefficient is then about one
    # noise standard deviation of a bin observation. Exact support (no false, no missed
    # coefficient) in >= 19 of 20 seeded trials at the default settings.
    n, K = 20, 128
    ok = 0
    for trial in range(20):
        idx, val = _spectrum(rng, n, K, amplitudes=(1.0, 3.0))
        sigma = _snr_sigma(val, 5.0)
        res = sparsketch.sparse_wht(_oracle(n, idx, val, sigma, rng), n, k=K, seed=trial)
        ok += bool(np.array_equal(res.indices, idx))
    assert ok >= 19, ok


def test_no_false_coefficients_on_pure_noise(rng):
    n = 20
    false = 0
    for trial in range(20):
        f = _oracle(n, np.array([], dtype=np.uint64), np.array([]), 1.0, rng)
        res = sparsketch.sparse_wht(f, n, k=16, seed=trial)
        false += len(res)
        assert res.success
        assert 0.8 < res.noise_sigma < 1.25  # estimated from the empty bins
    assert false == 0


def test_unknown_k_grows_bins(rng):
    n, K = 16, 200
    idx, val = _spectrum(rng, n, K)
    res = sparsketch.sparse_wht(_signal(n, idx, val), noise="none", seed=4)
    assert res.success and res.attempts > 1 and (1 << res.b) >= K // 2
    np.testing.assert_array_equal(res.indices, idx)


def test_budget_and_failure_are_reported(rng):
    n, K = 16, 400
    idx, val = _spectrum(rng, n, K)
    x = _signal(n, idx, val)
    res = sparsketch.sparse_wht(x, b=4, noise="none", seed=0, max_attempts=2)
    assert not res.success and res.unresolved > 0 and res.residual_energy > 0
    with pytest.raises(ValueError, match="max_samples"):
        sparsketch.sparse_wht(x, k=K, noise="none", max_samples=10)


def test_evaluate_reproduces_signal(rng):
    n, K = 10, 12
    idx, val = _spectrum(rng, n, K)
    x = _signal(n, idx, val)
    res = sparsketch.sparse_wht(x, k=K, noise="none", seed=0)
    np.testing.assert_allclose(res.evaluate(np.arange(1 << n)), x, atol=1e-9)


class _Boom(Exception):
    pass


def test_bad_input():
    f = lambda bits: np.zeros(bits.shape[0])  # noqa: E731
    with pytest.raises(ValueError, match="n: required"):
        sparsketch.sparse_wht(f)
    with pytest.raises(ValueError, match="n: at most 1024"):
        sparsketch.sparse_wht(f, 1025)
    with pytest.raises(ValueError, match="k"):
        sparsketch.sparse_wht(f, 10, k=0)
    with pytest.raises(ValueError, match="noise"):
        sparsketch.sparse_wht(f, 10, noise="loud")
    with pytest.raises(ValueError, match="noise"):
        sparsketch.sparse_wht(f, 10, noise=-1.0)
    with pytest.raises(ValueError, match="power of two"):
        sparsketch.sparse_wht(np.zeros(1000))
    with pytest.raises(ValueError, match="1-D"):
        sparsketch.sparse_wht(np.zeros((4, 4)))
    with pytest.raises(TypeError, match="dtype"):
        sparsketch.sparse_wht(np.zeros(16, dtype=complex))
    with pytest.raises(ValueError, match="n: the signal has length"):
        sparsketch.sparse_wht(np.zeros(16), n=5)
    with pytest.raises(ValueError, match="query_format"):
        sparsketch.sparse_wht(f, 10, query_format="ints")
    with pytest.raises(ValueError, match="b"):
        sparsketch.sparse_wht(f, 10, b=11)
    # The callable's errors: its own exceptions propagate unchanged; bad answers are named.
    def boom(bits):
        raise _Boom("from the oracle")
    with pytest.raises(_Boom, match="from the oracle"):
        sparsketch.sparse_wht(boom, 10)
    with pytest.raises(ValueError, match="shape"):
        sparsketch.sparse_wht(lambda bits: np.zeros(3), 10)
    with pytest.raises(ValueError, match="non-finite"):
        sparsketch.sparse_wht(lambda bits: np.full(bits.shape[0], np.nan), 10)
    with pytest.raises(TypeError, match="real numbers"):
        sparsketch.sparse_wht(lambda bits: np.zeros(bits.shape[0], dtype=complex), 10)
    with pytest.raises(TypeError, match="real numbers"):
        sparsketch.sparse_wht(lambda bits: ["a"] * bits.shape[0], 10)
    x = np.zeros(1 << 10)
    x[:] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        sparsketch.sparse_wht(x)


def test_docstring_example_runs():
    import doctest
    import sys
    res = doctest.testmod(sys.modules["sparsketch.sparse_wht"])
    assert res.attempted > 0 and res.failed == 0
