"""Shared fixtures: one seed for every random test (printed in the header, overridable with
SPARSKETCH_TEST_SEED), and the dtype / thread-count parametrisations."""

from __future__ import annotations

import os

import numpy as np
import pytest

SEED = int(os.environ.get("SPARSKETCH_TEST_SEED", "20261123"))
THREADS = [1, 2] + ([4] if (os.cpu_count() or 1) >= 4 else [])


def pytest_report_header(config):
    import sparsketch
    cfg = sparsketch.show_config(mode="dicts")
    return [f"sparsketch {sparsketch.__version__}: simd {cfg['build']['simd']}, "
            f"arch {cfg['build']['arch']}, threads {sparsketch.get_num_threads()}",
            f"test seed: {SEED} (set SPARSKETCH_TEST_SEED to override)"]


@pytest.fixture
def seed() -> int:
    return SEED


@pytest.fixture
def rng(seed) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture(params=THREADS, ids=[f"threads{t}" for t in THREADS])
def n_threads(request) -> int:
    return request.param


def eps(dtype) -> float:
    return float(np.finfo(dtype).eps)
