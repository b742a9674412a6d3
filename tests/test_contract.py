"""One contract every public array function passes: dtype preserved, non-contiguous input,
empty input, NaN policy, thread-count invariance, documented errors naming the argument.
Each new kernel adds an entry to CASES."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

import sparsketch

_BCD_B = np.linspace(-1.0, 2.0, 40)
_BCD_Y = np.arange(40) % 3 == 0
_BCD_Y3 = np.arange(40) % 3
_SPMM_A = __import__("scipy.sparse").sparse.random_array((20, 30), density=0.2, random_state=0,
                                                        format="csr")


@dataclass
class Case:
    name: str
    call: Callable  # call(x, **kw) -> array
    make: Callable  # make(rng, dtype) -> valid input
    empty: Callable  # () -> a valid empty input, or None if empty input must raise
    bad: list  # [(input, exception, match)]
    nan_optout: dict | None  # keyword that lets NaN propagate, or None if NaN always raises


CASES = [
    Case(
        name="fwht",
        call=lambda x, **kw: sparsketch.fwht(x, **kw),
        make=lambda rng, dt: rng.standard_normal((6, 64)).astype(dt),
        empty=lambda: np.empty((0, 16)),
        bad=[(np.ones(6), ValueError, "x"), (np.ones(4, complex), TypeError, "x")],
        nan_optout={"check_finite": False},
    ),
] + [
    Case(
        name=f"sketch-{kind}",
        call=(lambda kind: lambda x, **kw: sparsketch.sketch(x, 16, kind, seed=0, **kw))(kind),
        make=lambda rng, dt: rng.standard_normal((64, 6)).astype(dt),
        empty=lambda: np.empty((40, 0)),
        bad=[(np.ones((3, 2, 2)), ValueError, "A"), (np.ones((4, 2), complex), TypeError, "A"),
             (np.ones((0, 3)), ValueError, "A")],
        nan_optout=None,
    )
    for kind in sparsketch.SKETCH_KINDS
] + [
    Case(
        name=f"leverage_scores-{method}",
        call=(lambda method: lambda x, **kw: sparsketch.leverage_scores(
            x, method=method, seed=0, **kw))(method),
        make=lambda rng, dt: rng.standard_normal((400, 6)).astype(dt),
        empty=lambda: np.empty((0, 4)),
        bad=[(np.ones((3, 2, 2)), ValueError, "A"), (np.ones((4, 2), complex), TypeError, "A")],
        nan_optout=None,
    )
    for method in ("exact", "approx")
] + [
    Case(
        name="lewis_weights",
        call=lambda x, **kw: sparsketch.lewis_weights(x, 1, seed=0, **kw).astype(x.dtype),
        make=lambda rng, dt: rng.standard_normal((300, 5)).astype(dt),
        empty=lambda: np.empty((0, 4)),
        bad=[(np.ones(5), ValueError, "A"), (np.ones((4, 2), complex), TypeError, "A")],
        nan_optout=None,
    ),
    Case(
        name="sensitivities",
        call=lambda x, **kw: sparsketch.sensitivities(x, 3, seed=0, **kw).astype(x.dtype),
        make=lambda rng, dt: rng.standard_normal((300, 5)).astype(dt),
        empty=lambda: np.empty((0, 4)),
        bad=[(np.ones(5), ValueError, "A"), (np.ones((4, 2), complex), TypeError, "A")],
        nan_optout=None,
    ),
    Case(
        name="sample_rows",
        call=lambda x, **kw: sparsketch.sample_rows(x, 50, seed=0, **kw).apply(x),
        make=lambda rng, dt: rng.standard_normal((300, 5)).astype(dt),
        empty=lambda: None,
        bad=[(np.ones(5), ValueError, "A"), (np.ones((4, 2), complex), TypeError, "A")],
        nan_optout=None,
    ),
    Case(
        name="spmm",
        call=lambda x, **kw: sparsketch.spmm(
            _SPMM_A.astype(x.dtype if x.dtype.kind == "f" else np.float64), x, **kw),
        make=lambda rng, dt: rng.standard_normal((30, 4)).astype(dt),
        empty=lambda: np.empty((30, 0)),
        bad=[(np.ones((29, 2)), ValueError, "X"), (np.ones((30, 2), complex), TypeError, "X")],
        nan_optout=None,
    ),
] + [
    Case(
        name=f"bcd-{name}",
        call=call,
        make=lambda rng, dt: rng.standard_normal((40, 6)).astype(dt),
        empty=lambda: None,
        bad=[(np.ones(5), ValueError, "A"), (np.ones((40, 2), complex), TypeError, "A"),
             (np.ones((39, 2)), ValueError, "y" if name in ("logistic", "softmax") else "b")],
        nan_optout=None,
    )
    for name, call in [
        ("least_squares", lambda x, **kw: sparsketch.bcd.least_squares(
            x, _BCD_B, tol=1e-12, **kw).x),
        ("lasso", lambda x, **kw: sparsketch.bcd.lasso(x, _BCD_B, 0.05, tol=1e-12, **kw).x),
        ("logistic", lambda x, **kw: sparsketch.bcd.logistic(
            x, _BCD_Y, penalty="l1", tol=1e-10, **kw).x),
        ("softmax", lambda x, **kw: sparsketch.bcd.softmax(
            x, _BCD_Y3, tol=1e-10, **kw).x),
    ]
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
    # Equal to rounding (a Gaussian sketch's GEMM may block a strided operand differently).
    ref = case.call(np.ascontiguousarray(x))
    np.testing.assert_allclose(case.call(wide[:, ::2]), ref, rtol=0,
                               atol=100 * np.finfo(dtype).eps * np.abs(ref).max())


def test_empty_input(case):
    e = case.empty()
    if e is None:  # documented: empty input raises, naming the argument
        with pytest.raises(ValueError, match="A"):
            case.call(np.empty((0, 4)))
        return
    assert case.call(e).size == 0


def test_nan_policy(case, rng):
    x = case.make(rng, np.float64)
    x[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        case.call(x)
    if case.nan_optout is not None:
        case.call(x, **case.nan_optout)  # documented opt-out


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
