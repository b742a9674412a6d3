"""Importance sampling of rows: uniform, leverage, root-leverage, Lewis, sensitivity, their
mixture, and volume (projection-DPP) sampling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _core
from ._random import derive_seed, normalize_seed
from ._validation import (as_float_array, check_bool, check_int, is_sparse, prepare_matrix,
                          resolve_n_threads)
from .leverage import _check_p, _Design, _lewis, _resolve_method, _scores, _sensitivity_bound

__all__ = ["sample_rows", "RowSample", "SCORE_KINDS"]

SCORE_KINDS = ("uniform", "leverage", "root_leverage", "lewis", "sensitivity",
               "leverage+sensitivity", "volume")
_TAG_SAMPLE = 6  # StreamTag::sample_uniform
_TAG_VOLUME = 7  # StreamTag::volume_uniform
_SAMPLING_TOL = 0.05


@dataclass
class RowSample:
    """Result of :func:`sample_rows`.

    Attributes
    ----------
    indices : ndarray of int64, shape (m_s,)
        Sampled row indices, sorted (repeats possible with ``replace=True`` or "volume").
    weights : ndarray of float64, shape (m_s,)
        Importance weights ``1 / E[count of row i]`` per sampled row: for any f,
        ``sum_j weights[j] f(indices[j])`` is an unbiased estimate of ``sum_i f(i)``.
    probabilities : ndarray of float64, shape (n,)
        Poisson sampling: the inclusion probability of each row. With replacement: the
        per-draw probability. Volume: the marginal inclusion probability per repetition.
    scores : str
        The score kind ("array" for user scores); ``p`` the exponent; ``seed`` the seed used.
    replace : bool
    n_rows : int
        Rows of the sampled matrix.
    """

    indices: np.ndarray
    weights: np.ndarray
    probabilities: np.ndarray
    scores: str
    p: float
    seed: int
    replace: bool
    n_rows: int

    @property
    def size(self) -> int:
        return int(self.indices.shape[0])

    def apply(self, A, b=None):
        """The sampled, reweighted problem: rows ``indices`` of A (and b) scaled by
        ``weights ** (1/p)``, so that ``||S A x - S b||_p^p`` is an unbiased estimate of
        ``||A x - b||_p^p`` for every x. Sparse A stays sparse (CSR).

        Returns ``SA`` or ``(SA, Sb)``.
        """
        if A.shape[0] != self.n_rows:
            raise ValueError(f"A: expected {self.n_rows} rows (the sample was drawn from a "
                             f"matrix with {self.n_rows} rows), got {A.shape[0]}")
        scale = self.weights ** (1.0 / self.p)
        A = self._rows(A)
        if is_sparse(A):
            import scipy.sparse as sp
            dt = A.dtype if A.dtype.kind == "f" else np.float64
            SA = sp.csr_array(sp.diags_array(scale.astype(dt)) @ sp.csr_array(A).astype(dt))
        else:
            A = as_float_array(A, "A")
            SA = A * scale.astype(A.dtype)[:, None] if A.ndim == 2 else A * scale.astype(A.dtype)
        if b is None:
            return SA
        if b.shape[0] != self.n_rows:
            raise ValueError(f"b: expected {self.n_rows} rows, got {b.shape[0]}")
        b = as_float_array(self._rows(b), "b")
        sb = scale.astype(b.dtype)
        Sb = b * (sb if b.ndim == 1 else sb[:, None])
        return SA, Sb

    def _rows(self, X):
        """Rows ``indices`` of X (a Dask array: gathered on the client)."""
        from .dask import is_dask_array, take_rows
        if is_dask_array(X):
            return take_rows(X, self.indices)
        if is_sparse(X):
            import scipy.sparse as sp
            return sp.csr_array(X)[self.indices]
        return np.asarray(X)[self.indices]


def _poisson_probabilities(q: np.ndarray, m: int) -> np.ndarray:
    """pi_i = min(1, c q_i) with sum(pi) = m (water-filling over the largest q)."""
    n = q.shape[0]
    if m >= np.count_nonzero(q):
        return (q > 0).astype(np.float64)
    # Fixed point on the capped set: c = (m - #capped) / sum(q over the others); c grows
    # monotonically, so the capped set only grows and this stops after a few O(n) passes.
    capped = np.zeros(n, dtype=bool)
    while True:
        c = (m - np.count_nonzero(capped)) / q[~capped].sum()
        new = q * c >= 1.0
        if np.array_equal(new, capped):
            break
        capped = new
    pi = np.where(capped, 1.0, np.minimum(1.0, c * q))
    return pi


def _uniforms(seed, tag, n, nt):
    return _core._random_uniform(seed, tag, 0, n, nt)


def _draw(q: np.ndarray, m: int, replace: bool, seed: int, nt: int):
    """(indices, weights, probabilities) for Poisson or with-replacement sampling from q."""
    n = q.shape[0]
    if replace:
        prob = q / q.sum()
        cdf = np.cumsum(prob)
        # u * total < cdf[-1], so the first cdf entry above it is a step of positive
        # probability: a zero-probability row is never drawn.
        u = _uniforms(seed, _TAG_SAMPLE, m, nt) * cdf[-1]
        idx = np.searchsorted(cdf, u, side="right")
        idx.sort()
        return idx.astype(np.int64), 1.0 / (m * prob[idx]), prob
    pi = _poisson_probabilities(q, m)
    u = _uniforms(seed, _TAG_SAMPLE, n, nt)
    idx = np.flatnonzero(u < pi).astype(np.int64)
    return idx, 1.0 / pi[idx], pi


def _volume(D: _Design, m: int, seed: int):
    """Independent repetitions of the projection DPP with kernel U U^T, U an orthonormal basis
    of range(A) (Hough, Krishnapur, Peres and Virag's sequential algorithm): each repetition
    draws exactly rank(A) distinct rows; P(i in one repetition) = tau_i."""
    tau, r, P = _scores(D, method="exact", seed=seed)
    if r == 0:
        raise ValueError("A: the matrix is numerically zero; nothing to sample")
    if P is None:  # small problem: orthonormal basis from an SVD
        X = D.dense().astype(np.float64)
        U, sv, _ = np.linalg.svd(X, full_matrices=False)
        U = U[:, :r]
    else:
        U = np.asarray(D.A @ P.astype(D.dtype), dtype=np.float64)
    reps = max(1, int(round(m / r)))
    u = _uniforms(seed, _TAG_VOLUME, reps * r, D.nt)
    tau64 = np.sum(U * U, axis=1)
    out = []
    for rep in range(reps):
        norms = tau64.copy()
        Q = np.zeros((r, 0))
        for j in range(r):
            cdf = np.cumsum(np.maximum(norms, 0.0))
            i = int(min(np.searchsorted(cdf, u[rep * r + j] * cdf[-1], side="right"),
                        D.n - 1))
            v = U[i] - Q @ (Q.T @ U[i])
            v /= np.linalg.norm(v)
            Q = np.hstack([Q, v[:, None]])
            norms -= (U @ v) ** 2
            norms[i] = 0.0
            out.append(i)
    idx = np.sort(np.asarray(out, dtype=np.int64))
    return idx, 1.0 / (reps * tau64[idx]), tau64


def _row_scores(D: _Design, kind: str, p: float, seed: int, method: str) -> np.ndarray:
    """Nonnegative sampling scores q (float64) of the given kind."""
    if kind == "uniform":
        return np.ones(D.n)
    if kind in ("leverage", "root_leverage"):
        tau = _scores(D, method=_resolve_method(method, D), seed=seed)[0].astype(np.float64)
        return np.sqrt(tau) if kind == "root_leverage" else tau
    # Sampling needs scores only up to a constant factor (the sample size scales with the
    # factor; Cohen-Peng 2015, Lemma 2.4): Lewis weights to 5% (max |log change| <= 0.05).
    if kind == "lewis":  # the exact iteration costs what the approximate one does: one pass
        return _lewis(D, p, method="exact" if method == "auto" else method, tol=_SAMPLING_TOL, maxiter=100, seed=seed)[0]
    if kind == "sensitivity":
        return _sensitivity_bound(D, p, seed, tol=_SAMPLING_TOL)
    if kind == "leverage+sensitivity":  # equal mixture of the two distributions
        tau = _scores(D, method=_resolve_method(method, D), seed=seed)[0].astype(np.float64)
        sig = _sensitivity_bound(D, p, seed, tol=_SAMPLING_TOL)
        return 0.5 * (tau / tau.sum() + sig / sig.sum())
    raise AssertionError(kind)


def sample_rows(A, m, *, scores="leverage", p=2, replace=False, method="auto", seed=None,
                n_threads=None) -> RowSample:
    r"""Sample about m rows of A by importance, with weights that make the sample unbiased.

    Parameters
    ----------
    A : array_like or scipy.sparse matrix/array, shape (n, d)
    m : int
        Expected sample size (Poisson), number of draws (``replace=True``), or for "volume"
        the target size: ``round(m / r)`` repetitions of ``r = rank(A)`` rows each.
    scores : str or array_like of shape (n,)
        Sampling scores q (probabilities proportional to q):

        - ``"uniform"``: q = 1.
        - ``"leverage"``: leverage scores (l_2 subspace embeddings with
          ``O(d log(d) / eps^2)`` rows).
        - ``"root_leverage"``: square roots of the leverage scores; Woodruff and Yasuda
          ("Sharper bounds for l_p sensitivity sampling", 2023) show ~d samples suffice for
          l_p embeddings with 1 <= p < 2.
        - ``"lewis"``: l_p Lewis weights (Cohen and Peng 2015).
        - ``"sensitivity"``: upper bounds on l_p sensitivities (:func:`sensitivities`,
          Lewis-weight bound).
        - ``"leverage+sensitivity"``: the equal mixture
          ``q = tau / sum(tau) + sigma / sum(sigma)``, which Woodruff and Yasuda show needs
          ~``d^{2/p} S^{2 - 4/p}`` samples for p > 2 (S: total sensitivity).
        - ``"volume"``: repeated projection-DPP (volume) sampling for weighted least squares
          (Nouy and Michel, "Weighted least-squares approximation with determinantal point
          processes and generalized volume sampling"): each repetition picks exactly rank(A)
          distinct rows, row i with probability tau_i; weights ``1 / (reps tau_i)``. Cost
          ``O(n d^2)`` per repetition.
        - an array of n nonnegative finite numbers with a positive sum.
    p : float, default 2
        The l_p norm the sample should preserve; sets the Lewis weights / sensitivities and
        the row scaling ``weights ** (1/p)`` of :meth:`RowSample.apply`.
    replace : bool, default False
        False: Poisson sampling, row i kept independently with probability
        ``pi_i = min(1, c q_i)``, ``sum(pi) = m``, weight ``1 / pi_i``. True: m i.i.d. draws
        with probability ``q_i / sum(q)``, weight ``1 / (m q_i / sum(q))`` per draw.
    method : {"auto", "exact", "approx"}
        How leverage scores / Lewis weights are computed (see :func:`leverage_scores`).
    seed : None, int or numpy.random.Generator
        The draws use Philox streams keyed by the seed: the decision for row i depends only
        on (seed, i), whatever the number of threads.
    n_threads : int, optional

    Returns
    -------
    RowSample
        ``indices``, ``weights``, ``probabilities``, ``seed``; ``apply(A, b)`` gives the
        reweighted sampled problem.

    Examples
    --------
    >>> import numpy as np, sparsketch
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((20000, 10)); b = rng.standard_normal(20000)
    >>> s = sparsketch.sample_rows(A, 2000, scores="leverage", seed=0)
    >>> SA, Sb = s.apply(A, b)
    >>> x = np.linalg.lstsq(SA, Sb, rcond=None)[0]
    >>> x_star = np.linalg.lstsq(A, b, rcond=None)[0]
    >>> r = np.linalg.norm(A @ x - b) / np.linalg.norm(A @ x_star - b)
    >>> bool(1.0 <= r < 1.01)
    True
    """
    D = _Design(prepare_matrix(A), resolve_n_threads(n_threads))
    return _sample(D, m, scores=scores, p=p, replace=replace, method=method, seed=seed)


def _sample(D, m, *, scores, p, replace, method, seed) -> RowSample:
    """sample_rows on a validated design (in memory: _Design; Dask: sparsketch.dask)."""
    nt = D.nt
    m = check_int(m, "m", minimum=1)
    p = _check_p(p)
    replace = check_bool(replace, "replace")
    seed = normalize_seed(seed)
    if D.n == 0:
        raise ValueError("A: no rows to sample (shape (0, d))")
    if isinstance(scores, str):
        if scores not in SCORE_KINDS:
            raise ValueError(f"scores: expected one of {SCORE_KINDS} or an array, got {scores!r}")
        kind = scores
    else:
        q = as_float_array(scores, "scores")
        if q.ndim != 1 or q.shape[0] != D.n:
            raise ValueError(f"scores: expected a 1-D array of length {D.n}, got shape {q.shape}")
        if not np.isfinite(q).all() or (q < 0).any():
            raise ValueError("scores: must be finite and nonnegative")
        if not q.sum() > 0:
            raise ValueError("scores: must have a positive sum")
        kind = "array"
        q = q.astype(np.float64)
    if method not in ("auto", "exact", "approx"):
        raise ValueError(f"method: expected one of ('auto', 'exact', 'approx'), got {method!r}")
    sub = derive_seed(seed, 0)  # scores' sketches; draws use `seed` itself
    if kind == "volume":
        if D.d == 0:
            raise ValueError("A: no columns; volume sampling needs rank(A) >= 1")
        idx, w, prob = _volume(D, m, seed)
        return RowSample(idx, w, prob, kind, p, seed, True, D.n)
    if kind != "array":
        if D.d == 0 and kind != "uniform":
            raise ValueError(f"A: no columns; scores={kind!r} needs d >= 1")
        q = _row_scores(D, kind, p, sub, method)
        if not q.sum() > 0:
            raise ValueError("A: all scores are zero (A is numerically zero); "
                             "use scores='uniform'")
    idx, w, prob = _draw(q, m, replace, seed, nt)
    return RowSample(idx, w, prob, kind, p, seed, replace, D.n)
