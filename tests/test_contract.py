"""One contract every public array function passes: dtype preserved, non-contiguous input,
empty input, NaN policy, thread-count invariance, documented errors naming the argument.
Each new kernel adds an entry to CASES."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

import sparsketch


@dataclass
class Case:
    name: str
    call: Callable  # call(x, **kw) -> array
    make: Callable  # make(rng, dtype) -> valid input
    empty: Callable  # () -> a valid empty input, or None if empty input must raise
    bad: list  # [(input, exception, match)]
    nan_policy: str  # "raise" (default) with a documented opt-out


CASES = [
    Case(
        name="fwht",
        call=lambda x, **kw: sparsketch.fwht(x, **kw),
        make=lambda rng, dt: rng.standard_normal((6, 64)).astype(dt),
        empty=lambda: np.empty((0, 16)),
        bad=[(np.ones(6), ValueError, "x"), (np.ones(4, complex), TypeError, "x")],
        nan_policy="raise",
    ),
]


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request):
    return request.param


def test_dtype_preserved(case, rng, dtype):
    assert case.call(case.make(rng, dtype)).dtype == dtype


def test_non_contiguous_matches_contiguous(case, rng, dtype):
    x = case.make(rng, dtype)
    wide = np.zeros((x.shape[0], 2 * x.shape[1]), dtype)
    wide[:, ::2] = x
    np.testing.assert_array_equal(case.call(wide[:, ::2]), case.call(np.ascontiguousarray(x)))


def test_empty_input(case):
    e = case.empty()
    assert case.call(e).shape == e.shape


def test_nan_policy(case, rng):
    x = case.make(rng, np.float64)
    x[0, 0] = np.nan
    assert case.nan_policy == "raise"
    with pytest.raises(ValueError, match="NaN"):
        case.call(x)
    case.call(x, check_finite=False)  # documented opt-out


def test_thread_invariance(case, rng):
    x = case.make(rng, np.float64)
    assert np.array_equal(case.call(x, n_threads=1), case.call(x, n_threads=2))


def test_documented_errors(case):
    for x, exc, match in case.bad:
        with pytest.raises(exc, match=match):
            case.call(x)


def test_input_not_modified(case, rng):
    x = case.make(rng, np.float64)
    x0 = x.copy()
    case.call(x)
    assert np.array_equal(x, x0)
