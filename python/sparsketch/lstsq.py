"""Least squares for tall matrices: sketch-and-solve and sketch-and-precondition."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from . import _core
from ._random import normalize_seed
from ._validation import (all_finite, as_float_array, check_int, is_sparse, prepare_matrix,
                          resolve_n_threads)
from .sketch import SKETCH_KINDS, SketchOperator

__all__ = ["lstsq", "LstsqResult"]

METHODS = ("auto", "precondition", "sketch", "lapack")


@dataclass
class LstsqResult:
    """Result of :func:`sparsketch.lstsq`.

    Attributes
    ----------
    x : ndarray, shape (d,) or (d, k)
        The solution.
    residual_norm : float or ndarray of shape (k,)
        ``||b - A x||_2`` (per right-hand side).
    iterations : int
        Inner iterations (passes over A of the form A^T A w) of the iterative solver.
    passes : int
        Passes over A after the sketch (each gradient / inner iteration reads A once).
    converged : bool
        Whether every right-hand side meets the stopping test (see :func:`lstsq`) at ``x``.
        For ``method="sketch"`` this is usually False: that answer is approximate by design.
    rank : int
        Numerical rank of A (of the sketch S A for the sketched methods).
    method : str
        The method used ("precondition", "sketch" or "lapack").
    sketch : str or None
        The sketch kind used, ``sketch_size`` its number of rows, ``seed`` its seed.
    gradient_norm : float or ndarray
        ``||A^T (b - A x)|| / (||A||_F ||b - A x||)`` at x (the LSQR stopping measure).
    times : dict
        Seconds spent in each phase.
    """

    x: np.ndarray
    residual_norm: object
    iterations: int = 0
    passes: int = 0
    converged: bool = True
    rank: int = 0
    method: str = ""
    sketch: str | None = None
    sketch_size: int = 0
    seed: int | None = None
    gradient_norm: object = None
    times: dict = field(default_factory=dict)


class _Operator:
    """The passes over A the iteration needs, dense or CSR, all in C++."""

    def __init__(self, A, nt):
        self.nt = nt
        self.sparse = is_sparse(A)
        self.A = A
        self.shape = A.shape
        self.dtype = A.dtype

    def gram(self, W):  # A^T A W
        out = np.empty_like(W)
        if self.sparse:
            A = self.A
            _core.gram_apply_csr(A.indptr, A.indices, A.data, A.shape[0], A.shape[1], W, out, self.nt)
        else:
            _core.gram_apply_dense(self.A, W, out, self.nt)
        return out

    def residual_gradient(self, B, X, want_frob=False):  # A^T (B - A X), ||B - A X||^2
        G = np.empty_like(X)
        if self.sparse:
            A = self.A
            rr, fro = _core.residual_gradient_csr(A.indptr, A.indices, A.data, A.shape[0],
                                                  A.shape[1], B, X, G, want_frob, self.nt)
        else:
            rr, fro = _core.residual_gradient_dense(self.A, B, X, G, want_frob, self.nt)
        return G, rr, fro


def _prepare(A, b):
    A = prepare_matrix(A)
    dtype = A.data.dtype if is_sparse(A) else A.dtype
    b = as_float_array(b, "b")
    if b.ndim not in (1, 2):
        raise ValueError(f"b: expected a 1-D or 2-D array, got {b.ndim}-D")
    if b.shape[0] != A.shape[0]:
        raise ValueError(f"b: expected {A.shape[0]} rows (A is {A.shape[0]} x {A.shape[1]}), "
                         f"got {b.shape[0]}")
    if not all_finite(b):
        raise ValueError("b: contains NaN or Inf")
    dtype = np.result_type(dtype, b.dtype)
    if is_sparse(A):
        if A.data.dtype != dtype:
            A = A.astype(dtype)
    elif A.dtype != dtype:
        A = A.astype(dtype)
    return A, b.astype(dtype, copy=False)


def _lapack(A, B, vec):
    Ad = A.toarray() if is_sparse(A) else A
    x, _, rank, _ = np.linalg.lstsq(Ad, B, rcond=None)
    rnorm = np.linalg.norm(B - Ad @ x, axis=0)
    return LstsqResult(x=x[:, 0] if vec else x, residual_norm=rnorm[0] if vec else rnorm,
                       rank=int(rank), method="lapack")


def lstsq(A, b, *, method="auto", sketch="auto", sketch_size=None, rtol=None, maxiter=None,
          seed=None, n_threads=None):
    r"""Least-squares solution of ``min ||A x - b||_2`` for tall ``A`` (n >> d), dense or sparse.

    Parameters
    ----------
    A : array_like or scipy.sparse matrix/array, shape (n, d)
    b : array_like, shape (n,) or (n, k)
        One or several right-hand sides.
    method : {"auto", "precondition", "sketch", "lapack"}
        - ``"precondition"``: sketch-and-precondition to full accuracy (the answer
          ``numpy.linalg.lstsq`` gives). Factor ``S A = Q R`` (an SVD when ``S A`` is
          numerically rank deficient), start from the sketch-and-solve solution, then iterative
          refinement: each round recomputes ``r = b - A x`` and ``A^T r`` exactly in one pass and
          solves the preconditioned normal equations ``(A R^-1)^T (A R^-1) y = R^-T A^T r`` by
          conjugate gradients (one fused pass ``A^T (A w)`` per iteration), ``x += R^-1 y``.
          This is the SPIR / FOSSILS scheme of Epperly, Meier and Nakatsukasa (arXiv
          2406.03468), which is backward stable where plain sketch-and-precondition is not.
        - ``"sketch"``: sketch-and-solve, ``x' = argmin ||S (A x - b)||``: one sketch, one small
          factorization, no iteration; an approximate answer. With a dense sketch (``"srht"`` or
          ``"gaussian"``) and ``m ~ eps^-2 d log^3(n / delta)`` rows, with probability
          ``1 - delta``: ``||x' - x*||_inf <= (eps / sqrt(d)) ||A x* - b||_2 ||A^+||_2``
          (Song, Woodruff et al., "A nearly-optimal bound for fast regression with l-infinity
          guarantee"); sparse sketches do not carry this entrywise guarantee.
        - ``"lapack"``: ``numpy.linalg.lstsq`` (dense; sparse A is densified).
        - ``"auto"``: LAPACK for small, square or wide problems (n < 4 d or n d < 10^5 for
          dense A), sketch-and-precondition otherwise.
    sketch : {"auto", "sparse_sign", "srht", "gaussian", "countsketch"}
        Sketch kind; "auto" is "sparse_sign" (zeta = 8) for "precondition" and "srht" for
        "sketch" (the dense sketch that carries the l-infinity guarantee).
    sketch_size : int, optional
        Rows ``m`` of the sketch. Default for "precondition": ``m = c d`` with
        ``c = clip(work / (25 d^2), 4, 40)``, ``work`` = ``n d`` (dense) or ``nnz(A)``: a larger
        sketch means fewer CG passes over A (the distortion ~ sqrt(d/m) sets the convergence
        rate) but a bigger QR (``2 m d^2`` flops), so tall-and-thin problems get larger ``c``.
        For "sketch": ``min(n, 20 d)``.
    rtol : float, optional
        Stop when ``||A^T r|| <= rtol ||A||_F ||r||`` (least-squares optimality, LSQR's test) or
        ``||r|| <= rtol (||A||_F ||x|| + ||b||)`` (consistent systems). Default
        ``10 sqrt(n) eps`` of the dtype: the rounding floor of computing ``A^T r`` itself, the
        level a backward-stable solver (LAPACK) reaches. Refinement also stops when a round no longer reduces
        the gradient (the rounding floor), and then reports ``converged`` by this test.
    maxiter : int, optional
        Maximum total CG iterations (default 300).
    seed : None, int or numpy.random.Generator
        Seed of the sketch; the one used is ``result.seed``. Results are identical for any
        number of threads.
    n_threads : int, optional
        Threads for the C++ passes and sketch.

    Returns
    -------
    LstsqResult
        ``x``, ``residual_norm``, ``iterations``, ``passes``, ``converged``, ``rank``,
        ``method``, ``sketch``, ``sketch_size``, ``seed``, ``gradient_norm``, ``times``.

    Raises
    ------
    ValueError
        Shapes that do not match, NaN/Inf in A or b, ``n < d`` for the sketched methods, an
        unknown method or sketch.

    Examples
    --------
    >>> import numpy as np, sparsketch
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((20000, 50)); b = rng.standard_normal(20000)
    >>> res = sparsketch.lstsq(A, b, seed=0)
    >>> res.method, res.converged
    ('precondition', True)
    >>> bool(np.allclose(res.x, np.linalg.lstsq(A, b, rcond=None)[0], rtol=1e-10, atol=1e-12))
    True
    """
    t_start = time.perf_counter()
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    if sketch != "auto" and sketch not in SKETCH_KINDS:
        raise ValueError(f"sketch: expected 'auto' or one of {SKETCH_KINDS}, got {sketch!r}")
    nt = resolve_n_threads(n_threads)
    A, b = _prepare(A, b)
    n, d = A.shape
    vec = b.ndim == 1
    B = b[:, None] if vec else b
    k = B.shape[1]
    if n == 0 or d == 0:
        raise ValueError(f"A: empty matrix of shape {A.shape}")
    if k == 0:
        raise ValueError("b: no right-hand sides (shape (n, 0))")
    if method == "auto":
        small = (not is_sparse(A)) and n * d < 100_000
        method = "lapack" if (n < 4 * d or small) else "precondition"
    if method == "lapack":
        res = _lapack(A, B, vec)
        res.times["total"] = time.perf_counter() - t_start
        return res
    if n < d:
        raise ValueError(f"A: the sketched methods need a tall matrix (n >= d), got {n} x {d}; "
                         f"use method='lapack'")
    kind = sketch if sketch != "auto" else ("srht" if method == "sketch" else "sparse_sign")
    if sketch_size is None:
        if method == "precondition":
            # Balance the QR of S A (~2 m d^2 flops) against CG passes over A (~nnz(A) each;
            # their number falls like 1/log(m/d)): m/d = work per pass / (25 d^2), in [4, 40].
            work = A.nnz if is_sparse(A) else n * d
            m = d * int(min(40, max(4, round(work / (25 * d * d)))))
        else:
            m = 20 * d
        m = max(d + k + 1, min(m, n))
    else:
        m = _check_sketch_size(sketch_size, d)
    if kind == "srht":
        m = min(m, 1 << max(0, (n - 1).bit_length()))
    rtol = _resolve_rtol(rtol, n, A.dtype)
    maxiter = 300 if maxiter is None else check_int(maxiter, "maxiter", minimum=0)
    times = {}

    # 1. Sketch A and b with the same S.
    t0 = time.perf_counter()
    S = SketchOperator(kind, m, n, seed=normalize_seed(seed))
    if is_sparse(A):
        SA, SB = S._apply(A, nt, validated=True), S._apply(B, nt, validated=True)
    else:
        SA, SB = S._apply_dense_multi([A, B], nt)
    times["sketch"] = time.perf_counter() - t0

    # 2. Factor S A; x0 = sketch-and-solve solution.
    t0 = time.perf_counter()
    import scipy.linalg as sla
    SA64 = SA.astype(np.float64) if SA.dtype != np.float64 else SA
    SB64 = SB.astype(np.float64) if SB.dtype != np.float64 else SB
    R = sla.qr(np.hstack([SA64, SB64]), mode="r", check_finite=False)[0] if m >= d + k else None
    use_svd = True
    if R is not None:
        R11 = R[:d, :d]
        diag = np.abs(np.diag(R11))
        use_svd = not (diag.min() > max(m, d) * np.finfo(np.float64).eps * diag.max())
    if use_svd:
        U, s, Vt = np.linalg.svd(SA64, full_matrices=False)
        rank = int(np.sum(s > max(m, d) * np.finfo(np.float64).eps * s[0])) if s[0] > 0 else 0
        if rank == 0:
            raise ValueError("A: the matrix is numerically zero")
        Pm = Vt[:rank].T / s[:rank]  # d x rank preconditioner
        x = Pm @ (U[:, :rank].T @ SB64)
        apply_P = lambda y: Pm @ y  # noqa: E731
        apply_Pt = lambda g: Pm.T @ g  # noqa: E731
    else:
        rank = d
        x = sla.solve_triangular(R11, R[:d, d:d + k], check_finite=False)
        apply_P = lambda y: sla.solve_triangular(R11, y, check_finite=False)  # noqa: E731
        apply_Pt = lambda g: sla.solve_triangular(R11, g, trans="T", check_finite=False)  # noqa: E731
    times["factor"] = time.perf_counter() - t0
    dtype = A.dtype
    x = x.astype(dtype)

    op = _Operator(A, nt)
    iterations = passes = 0
    if method == "sketch":
        t0 = time.perf_counter()
        G, rr, fro = op.residual_gradient(B, np.asfortranarray(x), want_frob=True)
        passes = 1
        times["residual"] = time.perf_counter() - t0
        return _result(x, G, rr, fro, np.linalg.norm(B, axis=0), vec, rtol, iterations, passes,
                       rank, "sketch", kind, m,
                       S.seed, times, t_start)

    # 3. Iterative refinement rounds, CG on the preconditioned normal equations in each.
    t0 = time.perf_counter()
    inner_floor = 1e-8 if dtype == np.float64 else 1e-4
    bnorm = np.linalg.norm(B, axis=0)
    G, rr, fro = op.residual_gradient(B, np.asfortranarray(x), want_frob=True)
    passes += 1
    best = None
    for _round in range(4):
        if _stop_test(G, rr, fro, x, bnorm, rtol).all():
            break
        gnorm = np.linalg.norm(G, axis=0)
        if best is not None and np.all(gnorm >= 0.5 * best):
            break  # refinement no longer helps: the rounding floor
        best = gnorm if best is None else np.minimum(best, gnorm)
        # Reduce the preconditioned residual by what the stopping test still needs (with a
        # factor 10 of margin), but not below what one round can deliver in floating point.
        afro, rn = math.sqrt(max(fro, 0.0)), np.sqrt(np.maximum(rr, 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            need = np.nanmin(0.1 * rtol * afro * rn / np.maximum(gnorm, np.finfo(np.float64).tiny))
        inner_tol = min(0.5, max(float(need), inner_floor))
        h = apply_Pt(G.astype(np.float64))  # preconditioned gradient, rank x k
        y = np.zeros_like(h)
        res = h.copy()
        p = res.copy()
        rs = np.sum(res * res, axis=0)
        h0 = np.sqrt(rs)
        for _ in range(max(0, maxiter - iterations)):
            q = apply_Pt(op.gram(np.asfortranarray(apply_P(p).astype(dtype))).astype(np.float64))
            iterations += 1
            passes += 1
            pq = np.sum(p * q, axis=0)
            alpha = np.divide(rs, pq, out=np.zeros_like(rs), where=pq > 0)
            y += alpha * p
            res -= alpha * q
            rs_new = np.sum(res * res, axis=0)
            if np.all(np.sqrt(rs_new) <= inner_tol * h0):
                break
            beta = np.divide(rs_new, rs, out=np.zeros_like(rs), where=rs > 0)
            p = res + beta * p
            rs = rs_new
        x = (x.astype(np.float64) + apply_P(y)).astype(dtype)
        G, rr, fro = op.residual_gradient(B, np.asfortranarray(x), want_frob=True)
        passes += 1
        if iterations >= maxiter:
            break
    times["iterate"] = time.perf_counter() - t0
    return _result(x, G, rr, fro, bnorm, vec, rtol, iterations, passes, rank, "precondition", kind,
                   m, S.seed, times, t_start)


def _check_sketch_size(sketch_size, d) -> int:
    m = check_int(sketch_size, "sketch_size", minimum=1)
    if m < d:
        raise ValueError(f"sketch_size: must be >= d = {d} to embed range(A), got {m}")
    return m


def _resolve_rtol(rtol, n, dtype) -> float:
    """rtol, default 10 sqrt(n) eps of the dtype (the rounding floor of A^T r)."""
    rtol = 10 * math.sqrt(n) * float(np.finfo(dtype).eps) if rtol is None else float(rtol)
    if not rtol > 0:
        raise ValueError(f"rtol: must be > 0, got {rtol}")
    return rtol


def _stop_test(G, rr, fro, x, bnorm, rtol):
    """Per right-hand side: LSQR's optimality test or a consistent system's (bnorm: ||b||)."""
    afro = math.sqrt(max(fro, 0.0))
    rnorm = np.sqrt(np.maximum(rr, 0))
    gnorm = np.linalg.norm(G, axis=0)
    xnorm = np.linalg.norm(x, axis=0)
    return (gnorm <= rtol * afro * rnorm) | (rnorm <= rtol * (afro * xnorm + bnorm))


def _result(x, G, rr, fro, bnorm, vec, rtol, iterations, passes, rank, method, kind, m, seed,
            times, t_start):
    """Package the answer; `converged` is the stopping test evaluated at the returned x."""
    ok = _stop_test(G, rr, fro, x, bnorm, rtol)
    afro = math.sqrt(max(fro, 0.0))
    rnorm = np.sqrt(np.maximum(rr, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        gn = np.linalg.norm(G, axis=0) / (afro * rnorm)
    times["total"] = time.perf_counter() - t_start
    return LstsqResult(
        x=x[:, 0] if vec else x,
        residual_norm=float(rnorm[0]) if vec else rnorm,
        iterations=iterations, passes=passes,
        converged=bool(ok.all()),
        rank=rank, method=method, sketch=kind, sketch_size=m, seed=seed,
        gradient_norm=float(gn[0]) if vec else gn, times=times)
