"""Optional real-data check: MovieLens-100K (fetched with pip from the recbole==1.2.1 wheel by
bench/realdata.py; skipped when it cannot be fetched).

Reference figures on this exact seeded 90/10 split (bench/RESULTS.md, completion section): the
same objective in cmfrec (ALS, lambda 0.1 scaled by counts, rank 50) reaches test RMSE 0.9104-
0.9109, LIBMF 0.906, Spark ALS 0.915, scikit-surprise SVD 0.934; sparsketch measured 0.9101.
The bound 0.915 leaves a margin of 0.005 for BLAS/compiler rounding differences and sits well
below Surprise's figure and the bias-only baseline's."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import sparsketch

HERE = Path(__file__).resolve().parent


def _load():
    spec = importlib.util.spec_from_file_location("sparsketch_bench_realdata",
                                                  HERE.parent / "bench" / "realdata.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    try:
        return mod.movielens_100k(), mod.split
    except (OSError, Exception) as e:  # noqa: BLE001 - no network, no pip: skip cleanly
        pytest.skip(f"MovieLens-100K unavailable: {e}")


def test_movielens_100k_rank50():
    (u, i, r, shape), split = _load()
    assert shape == (943, 1682) and len(r) == 100_000
    tr, te = split(len(r), seed=0)
    m = sparsketch.MatrixCompletion(50, reg=0.1, max_iter=25, tol=1e-5, seed=0)
    m.fit((u[tr], i[tr], r[tr]), shape=shape)
    p = np.clip(m.predict(u[te], i[te]), 1, 5)
    rmse = float(np.sqrt(np.mean((p - r[te]) ** 2)))
    # bias-only baseline from the fitted biases: the factors must add real signal
    base = np.clip(m.mean_ + m.row_bias_[u[te]] + m.col_bias_[i[te]], 1, 5)
    base_rmse = float(np.sqrt(np.mean((base - r[te]) ** 2)))
    assert rmse <= 0.915, rmse
    assert rmse < base_rmse - 0.005, (rmse, base_rmse)


def test_movielens_100k_bayesian_rank50_reaches_0_900():
    # The target: test RMSE <= 0.900 at rank 50 on the seeded 90/10 split. BPMF with
    # the paper's settings (alpha 2, beta0 2, nu0 = rank, W0 = I), 10 burn-in sweeps and 100
    # averaged samples measured 0.8947 (seed 0) and 0.8957-0.8964 (seeds 1-3).
    (u, i, r, shape), split = _load()
    tr, te = split(len(r), seed=0)
    m = sparsketch.BayesianMatrixCompletion(50, n_samples=100, burn_in=10, seed=0)
    m.fit((u[tr], i[tr], r[tr]), shape=shape)
    p = np.clip(m.predict(u[te], i[te]), 1, 5)
    rmse = float(np.sqrt(np.mean((p - r[te]) ** 2)))
    assert rmse <= 0.900, rmse
