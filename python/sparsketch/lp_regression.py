"""l_p regression, min ||A x - b||_p, by coresets (Lewis weights / sensitivities) and IRLS."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ._random import derive_seed, normalize_seed
from ._validation import check_bool, check_float, check_int, resolve_n_threads
from .exceptions import ConvergenceWarning
from .leverage import _check_p, _Design
from .sampling import _draw, _row_scores

__all__ = ["lp_regression", "LpRegressionResult"]

LP_METHODS = ("auto", "lewis", "sensitivity", "root_leverage", "leverage", "uniform", "full")


@dataclass
class LpRegressionResult:
    """Result of :func:`sparsketch.lp_regression`.

    Attributes
    ----------
    x : ndarray, shape (d,)
    objective : float
        ``||A x - b||_p^p`` on the full data (the sum the method minimizes).
    residual_norm : float
        ``||A x - b||_p``.
    coreset_size : int
        Rows in the sampled coreset (n when ``method="full"``).
    p : float
    method : str
        Scores used for the coreset ("full": no coreset).
    iterations : int
        IRLS iterations (coreset + polish).
    polished : bool
        Whether IRLS continued on the full data from the coreset solution.
    converged : bool
        Whether the last IRLS run met its tolerance.
    seed : int
    times : dict
        Seconds per phase ("scores", "coreset", "solve", "polish", "total").
    """

    x: np.ndarray
    objective: float
    residual_norm: float
    coreset_size: int
    p: float
    method: str
    iterations: int = 0
    polished: bool = False
    converged: bool = True
    seed: int | None = None
    times: dict = field(default_factory=dict)


def _solve_spd(G, C):
    """Solve G x = C for symmetric positive semidefinite G (float64); Cholesky, with an
    eigendecomposition pseudo-inverse when G is singular."""
    import scipy.linalg as sla
    try:
        c = sla.cho_factor(G, check_finite=False)
        x = sla.cho_solve(c, C, check_finite=False)
        if np.isfinite(x).all():
            return x
    except np.linalg.LinAlgError:
        pass
    lam, V = np.linalg.eigh(0.5 * (G + G.T))
    keep = lam > max(lam[-1], 0) * G.shape[0] * 1e-13
    return V[:, keep] @ ((V[:, keep].T @ C) / lam[keep][:, None])


def _objective(D: _Design, x, b, p, c=None):
    r = b - D.matvec(x).astype(np.float64)
    a = np.abs(r) ** p if p != 1 else np.abs(r)
    return r, float(np.sum(a if c is None else c * a))


def _irls(D: _Design, b, p, c=None, *, tol=1e-6, maxiter=100, x0=None):
    r"""min_x sum_i c_i |b_i - a_i^T x|^p by iteratively reweighted least squares.

    Each step solves the weighted normal equations ``A^T Omega A x = A^T Omega b`` (one
    weighted Gram pass over A in C++). For p < 2, ``Omega = c max(|r|, delta)^{p-2}``: the
    majorize-minimize step for the objective smoothed below delta (monotone), with delta
    shrunk geometrically to ``(tol f / sum c)^{1/p}`` so the smoothing changes the objective
    by at most a fraction ~tol. For p >= 2, ``Omega = c |r|^{p-2}`` and the step is damped to
    ``1 / (p - 1)`` of the way to the weighted-LS solution, which is exactly Newton's step
    (Hessian ``p (p-1) A^T Omega A``), with backtracking. Returns (x, f, iterations,
    converged)."""
    b = np.asarray(b, dtype=np.float64)
    cw = np.ones(D.n) if c is None else c
    csum = float(cw.sum())
    if x0 is None:
        G, C = D.gram(None, cw, b)
        x = _solve_spd(G, C)[:, 0]
    else:
        x = np.asarray(x0, dtype=np.float64).copy()
    r, f = _objective(D, x, b, p, c)
    best_x, best_f = x.copy(), f
    delta = (f / csum) ** (1.0 / p) if csum > 0 else 0.0
    converged = False
    it = 0
    for it in range(1, maxiter + 1):
        if f == 0.0:
            converged = True
            break
        delta_min = (0.5 * tol * f / csum) ** (1.0 / p)
        delta = max(delta_min, 0.25 * delta)
        ar = np.abs(r)
        if p < 2:
            omega = cw * np.maximum(ar, delta) ** (p - 2.0)
        else:
            omega = cw * ar ** (p - 2.0)
            omega += 1e-12 * omega.max()  # keep A^T Omega A definite where residuals vanish
        G, C = D.gram(None, omega, b)
        x_ls = _solve_spd(G, C)[:, 0]
        if p <= 2:
            x_new = x_ls
            r_new, f_new = _objective(D, x_new, b, p, c)
        else:
            step = x_ls - x
            t = 1.0 / (p - 1.0)
            for _ in range(30):
                x_new = x + t * step
                r_new, f_new = _objective(D, x_new, b, p, c)
                if f_new <= f:
                    break
                t *= 0.5
        rel = (f - f_new) / max(f_new, 1e-300)
        x, r, f = x_new, r_new, f_new
        if f < best_f:
            best_x, best_f = x.copy(), f
        if abs(rel) <= 0.1 * tol and (p >= 2 or delta <= delta_min * 1.0001):
            converged = True
            break
    return best_x, best_f, it, converged


def _default_sample_size(n, d, p):
    # Lewis-weight sampling needs O(d log d / eps^2) rows for p < 2 and O(d^{p/2} log d / eps^2)
    # for p > 2 (Cohen-Peng 2015; Woodruff-Yasuda 2023); the constant is the measured one that
    # gives objective ratios within ~1% on the benchmark problems (bench/RESULTS.md).
    dd = d + 1
    m = 80 * dd * max(1.0, math.log(dd)) * dd ** max(0.0, p / 2 - 1)
    return int(min(n, math.ceil(m)))


def lp_regression(A, b, p=1, *, method="auto", sample_size=None, tol=None, polish=False,
                  maxiter=100, seed=None, n_threads=None) -> LpRegressionResult:
    r"""l_p regression: ``min_x ||A x - b||_p`` for ``1 <= p < inf``, by an importance-sampled
    coreset solved with IRLS.

    Parameters
    ----------
    A : array_like or scipy.sparse matrix/array, shape (n, d)
    b : array_like, shape (n,)
    p : float, default 1
        p = 1 is least absolute deviations (median regression). p = 2 hands over to
        :func:`sparsketch.lstsq`.
    method : {"auto", "lewis", "sensitivity", "root_leverage", "leverage", "uniform", "full"}
        Scores of the coreset rows, computed from A alone for p < 2 and from ``[A, b]`` for
        p > 2: "lewis" (l_p Lewis weights),
        "sensitivity" (Lewis-weight sensitivity bounds), "root_leverage", "leverage",
        "uniform"; "full" runs IRLS on all rows (no sampling). "auto" is "full" when the
        coreset would hold more than half the rows, else "root_leverage" for p < 2 (Woodruff
        and Yasuda 2023: root-leverage sampling needs ~d rows for l_p embeddings, 1 <= p < 2;
        one leverage computation instead of a Lewis iteration) and "lewis" for p > 2.
    sample_size : int, optional
        Expected coreset rows (Poisson sampling). Default
        ``80 (d+1) ln(d+1) (d+1)^{max(0, p/2 - 1)}``, capped at n.
    tol : float, optional
        Relative objective tolerance of IRLS. Default 1e-6 for IRLS on the full data
        (``method="full"`` or ``polish``) and 1e-4 for a coreset solve without polish (the
        coreset's sampling error, ~d/m relative, is far larger).
    polish : bool, default False
        After solving the coreset, continue IRLS on the full data from its solution (each
        iteration one weighted Gram pass over A, ``2 n d^2`` flops): the answer then meets
        ``tol`` on the full problem rather than only on the coreset.
    maxiter : int, default 100
        IRLS iterations per run.
    seed : None, int or numpy.random.Generator
    n_threads : int, optional

    Returns
    -------
    LpRegressionResult
        ``x``, ``objective`` (``||A x - b||_p^p``), ``residual_norm``, ``coreset_size``, ...

    Notes
    -----
    Guarantee: sampling ``m = O(d log(d/delta) / eps^2)`` rows (p < 2; times ``d^{p/2-1}``
    for p > 2) by the Lewis weights of A gives an l_p subspace embedding of range(A) (Cohen
    and Peng 2015), and the minimizer on the sample is a ``(1 + eps)``-approximate l_p
    regression solution with probability ~ 1 - delta without looking at b (Parulekar,
    Parulekar and Price, "L1 regression with Lewis weights subsampling", 2021, for p = 1;
    Musco, Musco, Woodruff and Yasuda, "Active linear regression for l_p norms and beyond",
    2022, for all p). IRLS solves the coreset to
    relative accuracy ``tol``; the normal equations square the condition number of A, so
    very ill-conditioned A (cond > 1e7) may stall (a ConvergenceWarning says so).

    Examples
    --------
    >>> import numpy as np, sparsketch
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((50000, 5)); x0 = rng.standard_normal(5)
    >>> b = A @ x0 + rng.laplace(size=50000)
    >>> b[:500] += 100.0                              # gross outliers
    >>> res = sparsketch.lp_regression(A, b, p=1, seed=0)
    >>> res.coreset_size < 5000, bool(np.abs(res.x - x0).max() < 0.1)
    (True, True)
    """
    t_start = time.perf_counter()
    from .lstsq import _prepare, lstsq
    opts = _lp_options(p, method, sample_size, tol, polish, maxiter)
    nt = resolve_n_threads(n_threads)
    A, b = _prepare(A, b)
    if b.ndim != 1:
        raise ValueError(f"b: expected a 1-D array, got shape {b.shape}")
    n, d = A.shape
    if n == 0 or d == 0:
        raise ValueError(f"A: empty matrix of shape {A.shape}")
    seed = normalize_seed(seed)
    if opts["p"] == 2.0:
        return _from_lstsq(lstsq(A, b, seed=seed, n_threads=n_threads), n, seed, t_start)
    return _lp_solve(_Design(A, nt), b, seed=seed, t_start=t_start, **opts)


def _lp_options(p, method, sample_size, tol, polish, maxiter) -> dict:
    """lp_regression's options, checked and with their defaults resolved."""
    p = _check_p(p)
    if method not in LP_METHODS:
        raise ValueError(f"method: expected one of {LP_METHODS}, got {method!r}")
    if sample_size is not None:
        sample_size = check_int(sample_size, "sample_size", minimum=1)
    return dict(p=p, method=method, sample_size=sample_size, tol_given=tol is not None,
                tol=1e-6 if tol is None else check_float(tol, "tol", minimum=0.0, strict=True),
                polish=check_bool(polish, "polish"),
                maxiter=check_int(maxiter, "maxiter", minimum=1))


def _from_lstsq(res, n, seed, t_start) -> LpRegressionResult:
    """The p = 2 answer, from a least-squares result."""
    rn = float(res.residual_norm)
    return LpRegressionResult(x=res.x, objective=rn**2, residual_norm=rn, coreset_size=n, p=2.0,
                              method="lstsq", iterations=res.iterations, converged=res.converged,
                              seed=seed, times={"total": time.perf_counter() - t_start})


def _lp_solve(D, b, *, p, method, sample_size, tol, tol_given, polish, maxiter, seed,
              t_start) -> LpRegressionResult:
    """lp_regression (p != 2) on a validated design D (in memory: _Design; Dask:
    sparsketch.dask) and right-hand side b (an in-memory float vector)."""
    n, d, nt = D.n, D.d, D.nt
    times = {}
    m = _default_sample_size(n, d, p) if sample_size is None else min(sample_size, n)
    if method == "auto":  # measured: equal coreset quality, root leverage ~1.7x faster (p < 2)
        method = "full" if 2 * m >= n else ("root_leverage" if p < 2 else "lewis")
    iterations = 0
    if method == "full":
        t0 = time.perf_counter()
        x, f, iterations, conv = _irls(D, b, p, None, tol=tol, maxiter=maxiter)
        times["solve"] = time.perf_counter() - t0
        coreset = n
    else:
        t0 = time.perf_counter()
        # Scores of A alone: sampling by the l_p Lewis weights of A (not of [A, b]) suffices
        # for (1 + eps)-approximate l_p regression (Parulekar, Parulekar and Price 2021 for
        # p = 1; Musco, Musco, Woodruff and Yasuda 2022 for all p), and saves a copy of A.
        # For p > 2 the objective is dominated by the largest residuals, which depend on b:
        # there the scores are those of [A, b] (an embedding of range([A, b]) preserves
        # ||A x - b||_p for every x; Cohen and Peng 2015), at the cost of one copy of A.
        DS = D.with_column(b) if p > 2 else D
        q = _row_scores(DS, method, p, derive_seed(seed, 0), "auto")
        del DS
        times["scores"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        idx, w, _ = _draw(q, m, False, seed, nt)
        coreset = int(idx.shape[0])
        if coreset == 0:
            raise ValueError("A: all sampling scores are zero (A and b numerically zero)")
        Dc = _Design(D.take(idx), nt)
        times["coreset"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        # The coreset's own error (~ d / m relative) dwarfs 1e-6: without polish, solve it to
        # 1e-4 unless the caller set tol.
        tol_c = tol if (tol_given or polish) else 1e-4
        x, _, iterations, conv = _irls(Dc, b[idx], p, w, tol=tol_c, maxiter=maxiter)
        times["solve"] = time.perf_counter() - t0
        if polish:
            t0 = time.perf_counter()
            x, _, it2, conv = _irls(D, b, p, None, tol=tol, maxiter=maxiter, x0=x)
            iterations += it2
            times["polish"] = time.perf_counter() - t0
    _, f = _objective(D, x, b, p)
    if not conv:
        warnings.warn(ConvergenceWarning(
            f"lp_regression: IRLS did not reach tol={tol:.3g} in {maxiter} iterations"),
            stacklevel=2)
    times["total"] = time.perf_counter() - t_start
    return LpRegressionResult(x=x.astype(D.dtype),
                              objective=f, residual_norm=f ** (1.0 / p), coreset_size=coreset,
                              p=p, method=method, iterations=iterations,
                              polished=polish and method != "full", converged=conv, seed=seed,
                              times=times)
