"""Leverage scores, ridge leverage scores, l_p Lewis weights and l_p sensitivity bounds."""

from __future__ import annotations

import math
import warnings

import numpy as np

from . import _core
from ._random import derive_seed, normalize_seed
from ._validation import (check_float, check_int, is_sparse, prepare_matrix, resolve_n_threads)
from .exceptions import ConvergenceWarning
from .sketch import SKETCH_KINDS, SketchOperator

__all__ = ["leverage_scores", "lewis_weights", "sensitivities"]

LEVERAGE_METHODS = ("auto", "exact", "approx")
_TAG_JL = 5  # StreamTag::jl_gaussian (random.hpp)
_EPS64 = float(np.finfo(np.float64).eps)


class _Design:
    """A validated matrix (dense ndarray or canonical csr_array) and the C++ passes over it."""

    def __init__(self, A, nt: int):
        self.A = A
        self.sparse = is_sparse(A)
        self.n, self.d = A.shape
        self.dtype = A.data.dtype if self.sparse else A.dtype
        self.nt = nt

    @property
    def small(self) -> bool:
        """Small enough for a direct SVD of the dense matrix (no sketch, no CholeskyQR)."""
        return self.n <= max(4 * self.d, 64) or self.n * self.d <= 20_000

    def _csr(self):
        A = self.A
        return A.indptr, A.indices, A.data, self.n, self.d

    def row_norms(self, M, w=None, float32_product=False) -> np.ndarray:
        """w_i ||a_i M||^2 for every row (M: d x k); float32_product: the product a_i M in
        float32 (dense float64 A only; see _F32_SCORE_ERROR)."""
        M = np.ascontiguousarray(M, dtype=self.dtype)
        out = np.empty(self.n, dtype=self.dtype)
        if self.n == 0:
            return out
        w = None if w is None else np.ascontiguousarray(w, dtype=self.dtype)
        if self.sparse:
            _core.row_norms_product_csr(*self._csr(), M, w, out, self.nt)
        else:
            _core.row_norms_product_dense(self.A, M, w, out, self.nt, float32_product)
        return out

    def gram(self, P=None, w=None, B=None, upper=False):
        """(A P)^T diag(w) (A P) and (A P)^T diag(w) B, as float64 arrays (w >= 0; upper: P is
        upper triangular, a cheaper product for dense A)."""
        r = self.d if P is None else P.shape[1]
        P = None if P is None else np.ascontiguousarray(P, dtype=self.dtype)
        w = None if w is None else np.ascontiguousarray(w, dtype=self.dtype)
        G = np.empty((r, r), dtype=self.dtype, order="F")
        C = None
        if B is not None:
            B = np.asarray(B, dtype=self.dtype)
            B = B[:, None] if B.ndim == 1 else B
            C = np.empty((r, B.shape[1]), dtype=self.dtype, order="F")
        if self.sparse:
            _core.weighted_gram_csr(*self._csr(), P, w, B, G, C, self.nt)
        else:
            _core.weighted_gram_dense(self.A, P, w, B, G, C, self.nt, upper and P is not None)
        G = G.astype(np.float64)
        return (G, None) if C is None else (G, C.astype(np.float64))

    def lewis_step(self, M, w, p, eta):
        """One fused Lewis iteration (see leverage.hpp): (w', G, max |log w' - log w|)."""
        M = np.ascontiguousarray(M, dtype=self.dtype)
        r = M.shape[1]
        w_out = np.empty(self.n)
        G = np.empty((r, r), dtype=self.dtype, order="F")
        if self.sparse:
            ch = _core.lewis_step_csr(*self._csr(), M, w, p, eta, w_out, G, self.nt)
        else:
            ch = _core.lewis_step_dense(self.A, M, w, p, eta, w_out, G, self.nt)
        return w_out, G.astype(np.float64), ch

    def scaled(self, s):
        """diag(s) A (a copy)."""
        if s is None:
            return self.A
        s = s.astype(self.dtype, copy=False)
        if self.sparse:
            B = self.A.copy()
            B.data = B.data * np.repeat(s, np.diff(B.indptr))
            return B
        return self.A * s[:, None]

    def sketch(self, kind, m, seed, s=None) -> np.ndarray:
        """S diag(s) A for a fresh sketch operator (m x d, float64)."""
        S = SketchOperator(kind, m, self.n, seed=seed)
        return S._apply(self.scaled(s), self.nt, validated=True).astype(np.float64)

    def matvec(self, x) -> np.ndarray:
        return self.A @ np.asarray(x, dtype=self.dtype)

    def dense(self) -> np.ndarray:
        return self.A.toarray() if self.sparse else np.asarray(self.A)

    def take(self, idx):
        """Rows idx of A (a dense copy, or CSR)."""
        return self.A[idx].tocsr() if self.sparse else self.A[idx]

    def with_column(self, b) -> "_Design":
        """The design of [A, b] (a copy of A with b appended as a last column)."""
        if self.sparse:
            import scipy.sparse as sp
            Ab = sp.csr_array(sp.hstack([self.A, sp.csr_array(b[:, None])], format="csr"))
        else:
            Ab = np.hstack([self.A, b[:, None]])
        return _Design(Ab, self.nt)


def _rank_tol(sv, shape, dtype) -> float:
    """numpy.linalg.matrix_rank's default threshold, with the eps of the data's dtype."""
    if sv.size == 0 or sv[0] == 0:
        return math.inf
    return sv[0] * max(shape) * float(np.finfo(dtype).eps)


def _sketch_preconditioner(D: _Design, s, ridge, kind, m, seed):
    """P (d x r) with S diag(s) A P (augmented by sqrt(ridge) P when ridge > 0) orthonormal:
    from a QR of the sketch followed by an SVD of its R factor (rank-revealing)."""
    Y = D.sketch(kind, m, seed, s)
    if ridge > 0:
        Y = np.vstack([Y, math.sqrt(ridge) * np.eye(D.d)])
    sv, Vt = _core.small_svd(Y)  # QR + SVD in C++: no BLAS pool woken between OpenMP passes
    r = int(np.sum(sv > _rank_tol(sv, (D.n, D.d), D.dtype)))
    return Vt[:r].T / sv[:r], r


def _cholqr(D: _Design, P, w=None, ridge=0.0, max_rounds=3):
    """Refine P (d x r) so that diag(sqrt(w)) A P (with sqrt(ridge) P appended) has orthonormal
    columns to rounding: CholeskyQR on the preconditioned matrix, repeated (CholeskyQR2) while
    the Cholesky factor is not close to the identity. Columns the Gram matrix shows to be
    numerically dependent are dropped (eigendecomposition fallback)."""
    for _ in range(max_rounds):
        G, _ = D.gram(P, w)
        if ridge > 0:
            G += ridge * (P.T @ P)
        P, _, cond = _cholesky_step(G, P, None, D.dtype)
        if cond < 100.0:  # CholeskyQR's orthogonality error ~ eps cond(A P)^2 <= 1e4 eps
            break
    return P


def _cholesky_step(G, P, C, dtype):
    """One CholeskyQR step from G, the Gram matrix of A P: returns (P T, T^T C, cond) with
    A P T orthonormal to rounding, T = L^-T for G = L L^T (an upper triangular P stays upper
    triangular), or, when G is numerically singular or ill-conditioned, T = V_k diag(lam_k^-1/2)
    over the eigenpairs kept (cond = inf). C (r x k, e.g. P^T A^T b) may be None."""
    import scipy.linalg as sla
    G = 0.5 * (G + G.T)
    try:
        L = np.linalg.cholesky(G)
        dl = np.abs(np.diag(L))
        if not dl.min() > 1e-6 * dl.max():
            raise np.linalg.LinAlgError("ill-conditioned")
        P = sla.solve_triangular(L, P.T, lower=True, check_finite=False).T
        if C is not None:
            C = sla.solve_triangular(L, C, lower=True, check_finite=False)
        return P, C, dl.max() / dl.min()
    except np.linalg.LinAlgError:
        lam, V = np.linalg.eigh(G)
        keep = lam > max(lam[-1], 0) * G.shape[0] * 1e3 * float(np.finfo(dtype).eps)
        scale = 1.0 / np.sqrt(lam[keep])
        return ((P @ V[:, keep]) * scale, None if C is None else (V[:, keep].T @ C) * scale[:, None],
                math.inf)


def _direct_scores(D: _Design, s, ridge):
    """Scores from an SVD of the (small) dense matrix diag(s) A: rank-revealing, exact."""
    X = D.dense().astype(np.float64)
    if s is not None:
        X = X * s[:, None].astype(np.float64)
    U, sv, _ = np.linalg.svd(X, full_matrices=False)
    if ridge > 0:
        f = sv**2 / (sv**2 + ridge)
        return (U**2) @ f, int(np.sum(sv > _rank_tol(sv, X.shape, D.dtype)))
    r = int(np.sum(sv > _rank_tol(sv, X.shape, D.dtype)))
    return np.sum(U[:, :r] ** 2, axis=1), r


def _default_sketch_size(D: _Design, exact: bool) -> int:
    # exact: the sketch only preconditions (kappa(A P) <= (1 + 1/2) / (1 - 1/2) = 3 at m = 4 d);
    # approx: the sketch's distortion is the error, m = 20 d (see leverage_scores' Notes).
    return min(D.n, (4 if exact else 20) * D.d + 8)


def _scores(D: _Design, *, s=None, ridge=0.0, method="exact", kind="sparse_sign",
            sketch_size=None, jl_dim=None, seed=0):
    """tau_i(diag(s) A) (ridge: of [diag(s) A; sqrt(ridge) I], first n rows).
    Returns (scores, rank, P) with P the orthonormalizer used (None on the direct route)."""
    w = None if s is None else (s.astype(np.float64) ** 2)
    if D.n == 0 or D.d == 0:
        return np.zeros(D.n, dtype=D.dtype), 0, None
    if D.small:
        sc, r = _direct_scores(D, s, ridge)
        return sc.astype(D.dtype), r, None
    m = _default_sketch_size(D, method == "exact") if sketch_size is None else sketch_size
    m = min(m, D.n)
    P, r = _sketch_preconditioner(D, s, ridge, kind, m, derive_seed(seed, 0))
    if r == 0:
        return np.zeros(D.n, dtype=D.dtype), 0, P
    if method == "exact":
        P = _cholqr(D, P, w, ridge)
        return D.row_norms(P, w), P.shape[1], P
    # Bias correction: for a Gaussian sketch E[(A^T S^T S A)^-1] = m / (m - r - 1) (A^T A)^-1
    # (inverse-Wishart mean), so the raw scores overestimate by that factor on average; the
    # sparse sketches behave the same to within a few percent (measured).
    M = P * math.sqrt((m - r - 1) / m) if m > r + 1 else P
    k = _jl_dim(jl_dim, D.n, r)
    if k < r:
        G = _core._random_normal(derive_seed(seed, 1), _TAG_JL, 0, r * k, D.nt)
        M = M @ (G.reshape(r, k) / math.sqrt(k))
    return D.row_norms(M, w, float32_product=_float32_ok(D, P, k)), r, P


# Largest relative error that float32 rounding of the product a_i M may add to an approximate
# score (the sketch's own error is ~15%, see leverage_scores' Notes).
_F32_SCORE_ERROR = 1e-2


def _float32_ok(D: _Design, P, k) -> bool:
    """Whether approximate scores may take the product a_i M in float32: dense float64 A of
    full column rank, no JL projection (M = c P, rank d), and the rounding bound
    ||fl(a_i M) - a_i M|| / ||a_i M|| <= (d + 2) u32 sqrt(d) kappa(P) (u32 = 2^-24; see
    row_norms_product_f32) small enough that the score, a square, moves by at most
    _F32_SCORE_ERROR."""
    if D.sparse or D.dtype != np.float64 or P.shape[1] != D.d or k < P.shape[1]:
        return False
    norms = np.linalg.norm(P, axis=0)  # P = V diag(1/sv): columns orthogonal, norms 1/sv
    kappa = norms.max() / norms.min()
    bound = 2 * (D.d + 2) * 2.0**-24 * math.sqrt(D.d) * kappa
    return bool(bound <= _F32_SCORE_ERROR)


def _jl_dim(jl_dim, n, r) -> int:
    if jl_dim is None:  # JL only where it saves work: k = 24 ln n, used when k < r / 2
        k = int(math.ceil(24 * math.log(max(n, 2))))
        return k if 2 * k < r else r
    return min(jl_dim, r)


def _resolve_method(method, D: _Design) -> str:
    if method not in LEVERAGE_METHODS:
        raise ValueError(f"method: expected one of {LEVERAGE_METHODS}, got {method!r}")
    if method == "auto":  # exact costs ~ n d^2 (a few hundred ms at n d^2 = 2e9 here)
        return "exact" if D.n * D.d * D.d <= 2e9 else "approx"
    return method


def _check_sketch(sketch, sketch_size, D):
    if sketch not in SKETCH_KINDS:
        raise ValueError(f"sketch: expected one of {SKETCH_KINDS}, got {sketch!r}")
    if sketch_size is not None:
        sketch_size = check_int(sketch_size, "sketch_size", minimum=1)
        if sketch_size < D.d:
            raise ValueError(f"sketch_size: must be >= d = {D.d} to embed range(A), "
                             f"got {sketch_size}")
    return sketch_size


def leverage_scores(A, *, method="auto", ridge=0.0, sketch="sparse_sign", sketch_size=None,
                    jl_dim=None, seed=None, n_threads=None):
    r"""Statistical leverage scores :math:`\tau_i = a_i^T (A^T A)^+ a_i` of the rows of A.

    ``tau_i`` is the squared norm of row i of an orthonormal basis of range(A): each is in
    [0, 1] and they sum to rank(A). With ``ridge = lam > 0``, the ridge leverage scores
    :math:`a_i^T (A^T A + \lambda I)^{-1} a_i`, which sum to the effective dimension
    :math:`\sum_j \sigma_j^2 / (\sigma_j^2 + \lambda)`.

    Parameters
    ----------
    A : array_like or scipy.sparse matrix/array, shape (n, d)
        float32 stays float32 (the scores are float32), float64 stays float64.
    method : {"auto", "exact", "approx"}
        - ``"exact"``: a thin QR of A, rank-revealing. Computed as randomized-preconditioned
          CholeskyQR: a sparse sketch ``S A`` (4 d rows) is factored by QR and an SVD of its R
          factor (which reveals the numerical rank r, threshold ``max(n, d) eps sigma_1`` as in
          ``numpy.linalg.matrix_rank``) into ``P`` with ``kappa(A P) <= 3``; then CholeskyQR
          of ``A P`` (repeated while its factor's condition number exceeds 100) gives
          ``Q = A M`` orthonormal to rounding (error ~ ``eps kappa(A P)^2``), and ``tau_i = ||a_i M||^2``. Exact to rounding
          (the sketch only affects speed). Cost: about 5 n d r flops in three passes over A
          (``nnz(A) r + n r^2`` for sparse A). Small problems use an SVD of A directly.
        - ``"approx"``: Drineas, Magdon-Ismail, Mahoney and Woodruff (JMLR 2012, Alg. 1):
          factor a sketch ``S A`` (``sketch_size`` rows, default ``20 d``) into ``P`` as above,
          then ``tau_i ~ ||a_i P G||^2`` with a Gaussian Johnson-Lindenstrauss matrix G
          (``jl_dim`` columns). Cost ``O(nnz(A) zeta + m d^2 + nnz(A) k)``, two passes over A.
          For dense float64 A of full rank without a JL step, the product ``a_i P`` runs in
          float32 when its rounding provably moves no score by more than 1%
          (``2 (d + 2) 2^-24 sqrt(d) kappa(P) <= 0.01``, i.e. ``kappa(A) <~ 80`` at d = 100).
        - ``"auto"``: "exact" when ``n d^2 <= 2e9``, "approx" otherwise.
    ridge : float, default 0
        Ridge parameter ``lam >= 0``.
    sketch : {"sparse_sign", "countsketch", "srht", "gaussian"}
        Sketch used for the preconditioner / approximation (see :class:`SketchOperator`).
    sketch_size : int, optional
        Rows of the sketch (>= d). Defaults: ``4 d + 8`` (exact), ``20 d + 8`` (approx).
    jl_dim : int, optional
        Columns k of G for "approx". Default: ``k = ceil(24 ln n)`` when that is below r/2,
        else no JL projection (G = I: the product A P costs no more than A P G would).
    seed : None, int or numpy.random.Generator
        Seed of the sketch and of G. Same seed, same scores, for any number of threads.
    n_threads : int, optional
        Threads for the C++ passes (default :func:`sparsketch.get_num_threads`).

    Returns
    -------
    ndarray of shape (n,)
        The scores, in A's float dtype.

    Notes
    -----
    Accuracy of "approx": if the sketch is a subspace embedding with
    ``(1 - e) ||A x|| <= ||S A x|| <= (1 + e) ||A x||`` then every approximate score satisfies
    ``tau_i / (1 + e)^2 <= tau~_i <= tau_i / (1 - e)^2`` before the JL step (Drineas et al.,
    Lemma 4). For a sparse sign sketch of ``m`` rows, ``e ~ sqrt(d / m)``, i.e. the scores
    lie within ``[0.64, 1.66] tau_i`` at ``m = 20 d``, and for a typical row the error
    concentrates much better: the ratio is ``m / (m - d) +- sqrt(2 / m)`` (inverse-Wishart
    moments). The JL step multiplies each score by an independent ``chi^2_k / k`` factor
    (relative standard deviation ``sqrt(2 / k)``). Measured on the benchmark problems, every
    row was within a factor 1.5 (see bench/RESULTS.md).

    Examples
    --------
    >>> import numpy as np, sparsketch
    >>> A = np.random.default_rng(0).standard_normal((5000, 10))
    >>> tau = sparsketch.leverage_scores(A, method="exact", seed=0)
    >>> Q = np.linalg.qr(A)[0]
    >>> bool(np.allclose(tau, np.sum(Q**2, axis=1)))
    True
    >>> round(float(tau.sum()), 6)
    10.0
    >>> approx = sparsketch.leverage_scores(A, method="approx", seed=0)
    >>> bool(np.all((approx / tau > 0.66) & (approx / tau < 1.5)))
    True
    """
    D = _Design(prepare_matrix(A), resolve_n_threads(n_threads))
    return _leverage(D, method=method, ridge=ridge, sketch=sketch, sketch_size=sketch_size,
                     jl_dim=jl_dim, seed=seed)


def _leverage(D, *, method, ridge, sketch, sketch_size, jl_dim, seed) -> np.ndarray:
    """leverage_scores on a validated design (in memory: _Design; Dask: sparsketch.dask)."""
    method = _resolve_method(method, D)
    ridge = check_float(ridge, "ridge", minimum=0.0)
    sketch_size = _check_sketch(sketch, sketch_size, D)
    if jl_dim is not None:
        jl_dim = check_int(jl_dim, "jl_dim", minimum=1)
    scores, _, _ = _scores(D, ridge=ridge, method=method, kind=sketch, sketch_size=sketch_size,
                           jl_dim=jl_dim, seed=normalize_seed(seed))
    return scores


def _check_p(p) -> float:
    p = check_float(p, "p")
    if not (1.0 <= p < math.inf):
        raise ValueError(f"p: expected 1 <= p < inf, got {p}")
    return p


def _lewis(D: _Design, p: float, *, method="exact", tol=1e-6, maxiter=100, seed=0, warn=True):
    """l_p Lewis weights; returns (w, rank, iterations, change)."""
    n = D.n
    if p == 2.0:  # the fixed point is the leverage scores
        tau, r, _ = _scores(D, method=method, seed=seed)
        return tau.astype(np.float64), r, 0, 0.0
    # Cohen-Peng (2015, "l_p row sampling by Lewis weights", Sec. 3): for p < 4 the map
    # w_i <- (a_i^T (A^T W^{1-2/p} A)^+ a_i)^{p/2} contracts log w in the max norm by |1 - p/2|.
    # For p >= 4 it does not; we damp it in log space, log w <- (1 - eta) log w + eta log T(w),
    # eta = 4 / (p + 2), whose Jacobian (1 - eta) I - eta (p/2 - 1) Q (Q = D^-1 (P o P), with
    # eigenvalues in [0, 1]) has spectrum in [-(p-2)/(p+2), (p-2)/(p+2)]: local linear
    # convergence at rate (p - 2)/(p + 2).
    eta = 1.0 if p < 4 else 4.0 / (p + 2.0)
    if method != "approx" and not D.small and D.d > 0:
        return _lewis_fused(D, p, eta, tol=tol, maxiter=maxiter, seed=seed, warn=warn)
    w = np.ones(n)
    alive = np.ones(n, dtype=bool)
    r = 0
    change = math.inf
    it = 0
    for it in range(1, maxiter + 1):
        if it == 1:
            s = None  # w = 1: the leverage scores of A itself (no row scaling, no copy)
        else:
            s = np.where(alive, w, 1.0) ** (0.5 - 1.0 / p)
            s[~alive] = 0.0
        # "approx": the same sketch every iteration, a fixed map converging exactly (see docs)
        tau, r, _ = _scores(D, s=s, method="exact" if D.small else method, seed=seed)
        tau = tau.astype(np.float64)
        alive = tau > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(alive, tau / np.where(alive, w, 1.0) ** (1.0 - 2.0 / p), 0.0)
            logT = np.where(alive, (p / 2.0) * np.log(np.where(alive, t, 1.0)), 0.0)
            logw = np.log(np.where(alive, w, 1.0))
            e = 2.0 / p if it == 1 else eta  # first step: land on w = tau (as _lewis_fused)
            new_logw = (1.0 - e) * logw + e * logT
        w_new = np.where(alive, np.exp(new_logw), 0.0)
        change = float(np.max(np.abs(new_logw - logw)[alive])) if alive.any() else 0.0
        w = w_new
        if change <= tol and it > 1:
            break
    else:
        _warn_lewis(warn, maxiter, change, tol)
    return w, r, it, change


def _warn_lewis(warn, maxiter, change, tol, stacklevel=4):
    if warn:
        warnings.warn(ConvergenceWarning(
            f"lewis_weights: not converged after {maxiter} iterations "
            f"(max |log w change| = {change:.3g} > tol = {tol:.3g})"), stacklevel=stacklevel)


def _lewis_fused(D: _Design, p, eta, *, tol, maxiter, seed, warn):
    """The exact Lewis iteration with one fused C++ pass per iteration (lewis_step): the
    orthonormalizer M of diag(s) A is carried from one iteration to the next and updated by
    the Cholesky factor of the Gram matrix the pass returns (CholeskyQR, preconditioned by the
    previous M; a fresh sketch when the weights moved too much for that)."""
    import scipy.linalg as sla
    P, r = _sketch_preconditioner(D, None, 0.0, "sparse_sign", _default_sketch_size(D, True),
                                  derive_seed(seed, 0))
    if r == 0:
        return np.zeros(D.n), 0, 0, 0.0
    M = _cholqr(D, P)  # diag(s) A M orthonormal for w = 1 (s = 1)
    w = np.ones(D.n)
    change = math.inf
    it = 0
    for it in range(1, maxiter + 1):
        # First step from w = 1 with eta = 2/p lands on w = tau(A), the leverage scores: a
        # much better start than 1 (rows of leverage ~1 have Lewis weight ~1, typical rows ~d/n).
        w, G, change = D.lewis_step(M, w, p, 2.0 / p if it == 1 else eta)
        if change <= tol and it > 1:
            break
        s2 = w ** (1.0 - 2.0 / p) if p >= 2 else np.where(w > 0, w, 1.0) ** (1.0 - 2.0 / p)
        s2[w == 0] = 0.0
        try:
            L = np.linalg.cholesky(0.5 * (G + G.T))
            dl = np.abs(np.diag(L))
            if not dl.min() > 1e-6 * dl.max():
                raise np.linalg.LinAlgError("ill-conditioned")
            M = sla.solve_triangular(L, M.T, lower=True, check_finite=False).T
            if dl.max() / dl.min() >= 100.0:  # orthogonality error ~ eps cond^2: refine
                M = _cholqr(D, M, s2)
        except np.linalg.LinAlgError:  # re-precondition from a sketch of diag(s) A
            P, r = _sketch_preconditioner(D, np.sqrt(s2), 0.0, "sparse_sign",
                                          _default_sketch_size(D, True), derive_seed(seed, it))
            M = _cholqr(D, P, s2)
    else:
        _warn_lewis(warn, maxiter, change, tol, stacklevel=5)
    return w, M.shape[1], it, change


def lewis_weights(A, p, *, method="auto", tol=1e-6, maxiter=100, seed=None, n_threads=None):
    r"""l_p Lewis weights of the rows of A: the unique ``w > 0`` with
    :math:`w_i = \tau_i(W^{1/2 - 1/p} A)`, i.e.
    :math:`w_i^{2/p} = a_i^T (A^T W^{1 - 2/p} A)^+ a_i`.

    They sum to rank(A); for p = 2 they are the leverage scores. Sampling rows with
    probabilities proportional to them gives l_p subspace embeddings with
    ``O(d log(d) / eps^2)`` rows for p < 2 (Cohen and Peng, 2015).

    Parameters
    ----------
    A : array_like or scipy.sparse matrix/array, shape (n, d)
    p : float, 1 <= p < inf
    method : {"auto", "exact", "approx"}
        How the leverage scores inside each iteration are computed (see
        :func:`leverage_scores`). "exact" reuses the previous iteration's orthonormalizer as the
        next preconditioner, so after the first iteration each costs two passes over A (about
        5 n d^2 flops) and no sketch. "approx" re-uses one fixed sketch in every iteration, so
        the iteration converges to the Lewis weights of a perturbed problem, within the
        sketch's factor (see :func:`leverage_scores`). "auto" is "exact".
    tol : float, default 1e-6
        Stop when ``max_i |log w_i^(t+1) - log w_i^(t)| <= tol``.
    maxiter : int, default 100
    seed : None, int or numpy.random.Generator
    n_threads : int, optional

    Returns
    -------
    ndarray of shape (n,), float64
        The weights (0 for zero rows).

    Notes
    -----
    For p < 4 the Cohen-Peng fixed point iteration
    :math:`w \leftarrow (a_i^T (A^T W^{1-2/p} A)^+ a_i)^{p/2}` is a contraction with factor
    ``|1 - p/2|`` in ``max |log w|``, so it converges linearly from ``w = 1``. For p >= 4 it
    need not converge; sparsketch damps it in log space with step ``eta = 4 / (p + 2)``,
    which converges locally at rate ``(p - 2) / (p + 2)`` (a spectral argument, not the global
    guarantee of the p < 4 case; a :class:`~sparsketch.exceptions.ConvergenceWarning` reports
    non-convergence).

    Examples
    --------
    >>> import numpy as np, sparsketch
    >>> A = np.random.default_rng(0).standard_normal((2000, 5))
    >>> w = sparsketch.lewis_weights(A, 1, seed=0)
    >>> round(float(w.sum()), 6)
    5.0
    >>> s = w ** (0.5 - 1 / 1)             # the fixed point: w = leverage(W^{1/2-1/p} A)
    >>> bool(np.allclose(w, sparsketch.leverage_scores(A * s[:, None], method="exact")))
    True
    """
    p = _check_p(p)
    tol = check_float(tol, "tol", minimum=0.0, strict=True)
    maxiter = check_int(maxiter, "maxiter", minimum=1)
    nt = resolve_n_threads(n_threads)
    D = _Design(prepare_matrix(A), nt)
    if method not in LEVERAGE_METHODS:
        raise ValueError(f"method: expected one of {LEVERAGE_METHODS}, got {method!r}")
    method = "exact" if method == "auto" else method
    seed = normalize_seed(seed)
    if D.n == 0:
        return np.zeros(0)
    w, _, _, _ = _lewis(D, p, method=method, tol=tol, maxiter=maxiter, seed=seed)
    return w


SENSITIVITY_METHODS = ("lewis", "exact")


def sensitivities(A, p, *, method="lewis", tol=1e-6, seed=None, n_threads=None):
    r"""Upper bounds on the l_p sensitivities
    :math:`\sigma_i = \sup_x |a_i^T x|^p / \|A x\|_p^p` of the rows of A.

    Parameters
    ----------
    A : array_like or scipy.sparse matrix/array, shape (n, d)
    p : float, 1 <= p < inf
    method : {"lewis", "exact"}
        - ``"lewis"`` (default): the bound from the l_p Lewis weights ``w`` (rank r),
          :math:`\sigma_i \le \min(1, r^{\max(0, p/2 - 1)} w_i)`. Proof: with
          :math:`M = A^T W^{1-2/p} A`, Cauchy-Schwarz gives
          :math:`|a_i^T x|^2 \le w_i^{2/p} x^T M x`; for p <= 2,
          :math:`x^T M x \le \|Ax\|_p^2` (Hoelder with :math:`|a_j^T x| \le w_j^{1/p}
          (x^T M x)^{1/2}`), and for p > 2, :math:`x^T M x \le r^{1-2/p} \|Ax\|_p^2`
          (Hoelder with :math:`\sum w = r`). The total is at most ``r^{max(1, p/2)}``. For
          p = 2 the bound is tight: the leverage scores.
        - ``"exact"``: :math:`\sigma_i = 1 / \min\{\|A x\|_p^p : a_i^T x = 1\}`, one convex
          l_p regression (IRLS, relative accuracy ``tol``) per row: cost ``O(n)`` l_p
          regressions on A. For small problems (a few thousand rows) only.
    tol : float
        Relative accuracy of the per-row problems ("exact") or of the Lewis weights.
    seed, n_threads
        As in :func:`leverage_scores`.

    Returns
    -------
    ndarray of shape (n,), float64

    Examples
    --------
    >>> import numpy as np, sparsketch
    >>> A = np.random.default_rng(0).standard_normal((300, 3))
    >>> ub = sparsketch.sensitivities(A, 1, seed=0)
    >>> ex = sparsketch.sensitivities(A, 1, method="exact", tol=1e-8)
    >>> bool(np.all(ex <= ub * (1 + 1e-6)))
    True
    """
    p = _check_p(p)
    if method not in SENSITIVITY_METHODS:
        raise ValueError(f"method: expected one of {SENSITIVITY_METHODS}, got {method!r}")
    tol = check_float(tol, "tol", minimum=0.0, strict=True)
    nt = resolve_n_threads(n_threads)
    D = _Design(prepare_matrix(A), nt)
    seed = normalize_seed(seed)
    if D.n == 0:
        return np.zeros(0)
    if method == "lewis":
        return _sensitivity_bound(D, p, seed)
    return _exact_sensitivities(D, p, tol)


def _sensitivity_bound(D: _Design, p: float, seed: int, tol: float = 1e-6) -> np.ndarray:
    w, r, _, _ = _lewis(D, p, method="exact", tol=tol, maxiter=200, seed=seed)
    return np.minimum(1.0, w * float(r) ** max(0.0, p / 2 - 1))


def _exact_sensitivities(D: _Design, p: float, tol: float) -> np.ndarray:
    from .lp_regression import _irls
    X = D.dense().astype(np.float64)
    n, d = X.shape
    out = np.zeros(n)
    for i in range(n):
        a = X[i]
        na = float(a @ a)
        if na == 0:
            continue
        # x = a / |a|^2 + N z with N an orthonormal basis of a's complement:
        # min_z ||X N z + X a / |a|^2||_p = min ||X x||_p subject to a^T x = 1.
        _, _, Vt = np.linalg.svd(a[None, :])
        N = Vt[1:].T
        y0 = X @ (a / na)
        if N.shape[1] == 0:
            f = float(np.sum(np.abs(y0) ** p))
        else:
            Dz = _Design(np.ascontiguousarray(X @ N), 1)
            z, f, _, _ = _irls(Dz, -y0, p, None, tol=tol * 0.1, maxiter=500)
        out[i] = min(1.0, 1.0 / f) if f > 0 else 1.0
    return out
