"""Block coordinate descent (BCD) with greedy block rules, Newton block updates and active-set
Newton steps, after Nutini, Laradji & Schmidt, "Let's Make Block Coordinate Descent Converge
Faster" (JMLR 2022, arXiv:1712.08859).

Solvers: :func:`least_squares`, :func:`lasso` (Lasso and elastic net), :func:`logistic` (L2, L1
and elastic-net binary logistic regression); scikit-learn-compatible estimators :class:`Lasso`
and :class:`LogisticRegression`.

How the solvers work (details in DEVNOTES.md):

- The core is BCD on a quadratic 1/2 x^T Q x - c^T x + sum_j w_j |x_j| whose gradient is kept
  up to date after every block update, so the greedy rules cost one O(p) scoring pass:
  ``"gs"`` (Gauss-Southwell), ``"gsl"`` (Gauss-Southwell-Lipschitz), ``"gsd"`` (diagonal
  quadratic bound), ``"gsq"`` (quadratic bound, the Newton step's progress), and the
  non-greedy ``"cyclic"``, ``"random"``, ``"lipschitz"`` (random, proportional to L_b). With
  an L1 term the greedy rules use their proximal versions.
- Updates: ``"gradient"`` (step 1/L_b, soft-thresholded for L1) or ``"newton"`` (the block's
  Hessian; for L1 the block subproblem solved exactly).
- Active set: once the sign pattern has been stable for a while, a Newton step on the support
  is tried (the paper's superlinear phase); ``result.active_set_iter`` reports when the first
  one was accepted.
- Data (dense or scipy.sparse, float32 or float64; computed in double) is touched by an outer
  loop: one pass computes the full gradient and the certificate, a working set of coordinates
  is chosen greedily by KKT violation, and the core runs on the working set's quadratic model
  (exact for the squared loss; a proximal Newton model with Armijo line search for logistic).
"""

from __future__ import annotations

import inspect
import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import _core
from ._random import normalize_seed
from ._validation import (as_float_vector, check_bool, check_float, check_int, is_sparse,
                          prepare_matrix, resolve_n_threads)
from .exceptions import ConvergenceWarning

__all__ = ["BCDResult", "Lasso", "LogisticRegression", "RULES", "UPDATES", "lasso",
           "forest_blocks", "label_propagation", "least_squares", "logistic", "softmax"]

RULES = ("cyclic", "random", "lipschitz", "gs", "gsl", "gsd", "gsq")
UPDATES = ("gradient", "newton")
BLOCKS = ("contiguous", "lipschitz", "variable")
_GREEDY = ("gs", "gsl", "gsd", "gsq")


@dataclass
class BCDResult:
    """Result of the :mod:`sparsketch.bcd` solvers.

    Attributes
    ----------
    x : ndarray, shape (p,) (softmax: (p, k))
        The solution (dtype of A).
    intercept : float (softmax: ndarray of shape (k,))
        The unpenalized intercept (0.0 without ``fit_intercept``).
    objective : float
        The objective at ``x`` (in the scaling of the function's docstring).
    gap : float
        Duality gap in the same scaling (NaN when the problem has no certified dual point:
        smooth problems, and L1 logistic regression with an intercept).
    measure : float
        The certified stopping measure compared with ``tol``: ``gap / objective(0)`` when
        ``measure_is_gap``, else the largest KKT violation (gradient entry for smooth problems)
        divided by the largest gradient entry at x = 0.
    measure_is_gap : bool
    converged : bool
        ``measure <= tol``.
    iterations : int
        Block updates (the paper's iterations), over all working sets.
    outer_iterations : int
        Passes over the data that computed the full gradient and the certificate.
    active_set_iter : int
        Iteration at which the first active-set Newton step was accepted (-1: none).
    newton_steps : int
        Accepted active-set Newton steps.
    history : dict of ndarray
        Per outer iteration: ``iterations``, ``objective``, ``measure``, ``time``, ``ws_size``,
        ``support``.
    trace : ndarray or None
        Objective after every block update (``record_trace=True``; exact for squared loss).
    seed : int
        Seed of the random rules.
    time : float
        Seconds in the solver.
    classes : ndarray or None
        :func:`softmax`: the sorted class labels (column c of ``x`` scores ``classes[c]``).
    """

    x: np.ndarray
    intercept: float = 0.0
    objective: float = math.nan
    gap: float = math.nan
    measure: float = math.nan
    measure_is_gap: bool = False
    converged: bool = False
    iterations: int = 0
    outer_iterations: int = 0
    active_set_iter: int = -1
    newton_steps: int = 0
    history: dict = field(default_factory=dict)
    trace: np.ndarray | None = None
    seed: int = 0
    time: float = 0.0
    classes: np.ndarray | None = None


# --------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------

def _prepare_design(A, name="A"):
    """Dense -> Fortran-ordered finite float32/float64; sparse -> canonical CSC."""
    A = prepare_matrix(A, name, sparse_format="csc")
    if not is_sparse(A):
        A = np.asfortranarray(A)
    if A.shape[0] == 0 or A.shape[1] == 0:
        raise ValueError(f"{name}: empty matrix of shape {A.shape}")
    return A


def _prepare_target(y, n, name):
    return as_float_vector(y, n, name, dtype=np.float64)


def _check_choice(value, name, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _block_partition(A, blocks, block_size, p):
    """(variable_blocks, block_of or None) for the given `blocks` argument."""
    if isinstance(blocks, str):
        _check_choice(blocks, "blocks", BLOCKS)
        if blocks == "variable":
            return True, None
        if blocks == "contiguous":
            return False, None
        # sorted by Lipschitz constant L_j = ||a_j||^2: blocks of similar curvature
        if is_sparse(A):
            L = np.asarray(A.multiply(A).sum(axis=0)).ravel()
        else:
            L = np.einsum("ij,ij->j", A, A, dtype=np.float64)
        order = np.argsort(-L, kind="stable")
        block_of = np.empty(p, dtype=np.int64)
        block_of[order] = np.arange(p) // block_size
        return False, block_of
    b = np.asarray(blocks)
    if b.ndim != 1 or b.shape[0] != p or b.dtype.kind not in "iu":
        raise ValueError(f"blocks: expected 'contiguous', 'lipschitz', 'variable' or an integer "
                         f"array of length {p} (the block of each column)")
    if b.size and (b.min() < 0):
        raise ValueError("blocks: block ids must be >= 0")
    counts = np.bincount(b.astype(np.int64))
    if np.any(counts == 0):
        raise ValueError(f"blocks: block {int(np.flatnonzero(counts == 0)[0])} is empty "
                         f"(ids must be 0..n_blocks-1, each used)")
    return False, np.ascontiguousarray(b, dtype=np.int64)


def _solve(A, y, *, loss, lambda1, lambda2, fit_intercept, blocks, block_size, rule, update,
           working_set, tol, max_iter, max_outer, seed, callback, verbose, n_threads, x0,
           intercept0, record_trace, objective_scale, ws_max=4096, active_set=True):
    _check_choice(rule, "rule", RULES)
    _check_choice(update, "update", UPDATES)
    block_size = check_int(block_size, "block_size", minimum=1)
    tol = check_float(tol, "tol", minimum=0.0)
    record_trace = check_bool(record_trace, "record_trace")
    verbose = _check_callback(callback, verbose)
    n, p = A.shape
    if max_iter is None:
        max_iter = 1000 * (p + 1)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    seed_used = normalize_seed(seed)
    variable, block_of = _block_partition(A, blocks, block_size, p)
    if variable and rule not in _GREEDY:
        raise ValueError(f"rule: blocks='variable' needs a greedy rule (gs, gsl, gsd, gsq), "
                         f"got {rule!r}")
    if working_set == "auto":
        working_set = not (loss == 0 and lambda1 == 0 and p + 1 <= ws_max) and block_of is None
    working_set = check_bool(working_set, "working_set")
    if working_set and block_of is not None:
        raise ValueError("blocks: an explicit or Lipschitz-sorted partition needs "
                         "working_set=False (working sets are split into contiguous blocks)")
    if not working_set and (p + fit_intercept) ** 2 * 8 > 2 ** 33:
        raise MemoryError(f"working_set=False needs a {p} x {p} Gram matrix "
                          f"({(p ** 2) * 8 / 2 ** 30:.1f} GiB); use working_set=True")
    x = np.zeros(p) if x0 is None else np.array(_prepare_target(x0, p, "x0"), dtype=np.float64)
    xi = np.array([float(intercept0)], dtype=np.float64)
    opts = dict(loss=loss, lambda1=float(lambda1), lambda2=float(lambda2),
                fit_intercept=bool(fit_intercept), tol=tol, max_iter=max_iter,
                max_outer=int(max_outer), all_coordinates=not working_set, ws_min=32,
                ws_max=int(ws_max), n_threads=resolve_n_threads(n_threads),
                rule=RULES.index(rule), update=UPDATES.index(update), variable_blocks=variable,
                block_size=block_size, active_set_newton=bool(active_set), seed=seed_used)
    stopped = []
    cb = _progress_callback(callback, verbose, objective_scale, stopped)
    t0 = time.perf_counter()
    if is_sparse(A):
        r = _core.bcd_glm_csc(A.indptr, A.indices, A.data, n, p, y, x, xi, opts, block_of, cb,
                              record_trace)
    else:
        r = _core.bcd_glm_dense(A, y, x, xi, opts, block_of, cb, record_trace)
    elapsed = time.perf_counter() - t0
    res = _make_result(r, x.astype(A.dtype), float(xi[0]), objective_scale, seed_used, elapsed,
                       record_trace)
    _warn_unconverged(res, tol, stopped)
    return res


def _check_callback(callback, verbose):
    verbose = check_bool(verbose, "verbose")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback: expected a callable or None, got {type(callback).__name__}")
    return verbose


def _progress_callback(callback, verbose, objective_scale, stopped):
    """The C++ progress hook: prints when verbose, calls the user's callback (objective in the
    user's scaling) and records in `stopped` that it asked to stop."""
    if callback is None and not verbose:
        return None

    def cb(info):
        info = dict(info, objective=info["objective"] * objective_scale)
        if verbose:
            print(f"[bcd] outer {info['outer']:4d}  iter {info['iterations']:8d}  "
                  f"objective {info['objective']:.10e}  measure {info['measure']:.3e}  "
                  f"working set {info['ws_size']}  support {info['support']}  "
                  f"{info['seconds']:.3f} s", flush=True)
        stop = bool(callback(info)) if callback is not None else False
        if stop:
            stopped.append(True)
        return stop
    return cb


def _make_result(r, x, intercept, objective_scale, seed_used, elapsed, record_trace,
                 classes=None):
    h = r["history"]
    history = dict(iterations=h[:, 0].astype(np.int64), objective=h[:, 1] * objective_scale,
                   measure=h[:, 2], time=h[:, 3], ws_size=h[:, 4].astype(np.int64),
                   support=h[:, 5].astype(np.int64))
    return BCDResult(x=x, intercept=intercept,
                     objective=r["primal"] * objective_scale, gap=r["gap"] * objective_scale,
                     measure=r["measure"], measure_is_gap=r["measure_is_gap"],
                     converged=r["converged"], iterations=r["iterations"],
                     outer_iterations=r["outer"], active_set_iter=r["active_set_iter"],
                     newton_steps=r["newton_steps"], history=history,
                     trace=r["trace"] * objective_scale if record_trace else None,
                     seed=seed_used, time=elapsed, classes=classes)


def _warn_unconverged(res, tol, stopped, stacklevel=4):
    if not res.converged and not stopped:  # (a callback that stops the solver gets no warning)
        warnings.warn(ConvergenceWarning(
            f"BCD stopped after {res.iterations} block updates ({res.outer_iterations} outer "
            f"iterations) with measure {res.measure:.3e} > tol {tol:.1e}",
            iterations=res.iterations, residual=res.measure, tol=tol), stacklevel=stacklevel)


_COMMON_DOC = """
    blocks : {"contiguous", "lipschitz", "variable"} or int array of shape (p,), default "contiguous"
        Block partitioning: contiguous blocks of ``block_size`` coordinates; blocks of
        coordinates sorted by Lipschitz constant ``||a_j||^2``; variable blocks (each iteration
        the ``block_size`` coordinates with the best greedy scores); or an explicit block id per
        column. Sorted and explicit partitions need ``working_set=False``.
    block_size : int, default 1
    rule : {"gsl", "gs", "gsd", "gsq", "cyclic", "random", "lipschitz"}, default "gsl"
        Block selection rule (see the module docstring).
    update : {"newton", "gradient"}, default "newton"
        Block update: the block's Hessian (exact block minimization) or a gradient step with the
        block's Lipschitz constant.
    working_set : bool or "auto", default "auto"
        Run BCD on greedy working sets (fast on large problems) or on all coordinates at once
        (the paper's setting; needs a p x p Gram matrix). "auto": all coordinates for smooth
        least squares with p <= 4095, working sets otherwise.
    tol : float
        Stop when ``result.measure <= tol`` (see :class:`BCDResult`).
    max_iter : int, optional
        Most block updates in total (default ``1000 * (p + 1)``).
    max_outer : int, default 500
        Most outer iterations (passes over A).
    record_trace : bool, default False
        Record the objective after every block update (``result.trace``).
    seed : None, int or numpy Generator
        Seed of the random rules (reported in ``result.seed``).
    callback : callable, optional
        Called after each outer iteration with a dict (``outer``, ``iterations``, ``objective``,
        ``measure``, ``ws_size``, ``support``, ``seconds``); returning True stops the solver.
    verbose : bool, default False
        Print one line per outer iteration.
    n_threads : int, optional
        Threads for the passes over A (default: OpenMP's). Results do not depend on it.
    x0 : array of shape (p,), optional
        Start point (warm start); ``intercept0`` the start intercept.
"""


def least_squares(A, b, *, l2=0.0, fit_intercept=False, blocks="contiguous", block_size=1,
                  rule="gsl", update="newton", working_set="auto", tol=1e-8, max_iter=None,
                  max_outer=500, record_trace=False, seed=None, callback=None, verbose=False,
                  n_threads=None, x0=None, intercept0=0.0) -> BCDResult:
    """Least squares by block coordinate descent: minimize 1/2 ||b - A x - x0||^2 + l2/2 ||x||^2.

    Parameters
    ----------
    A : array_like or scipy.sparse matrix, shape (n, p)
    b : array_like, shape (n,)
    l2 : float, default 0.0
        Ridge weight.
    fit_intercept : bool, default False
        Add an unpenalized intercept x0.
    {common}
    Returns
    -------
    BCDResult
        ``measure`` is ``||gradient||_inf / ||gradient at 0||_inf``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsketch import bcd
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((200, 30)); b = rng.standard_normal(200)
    >>> res = bcd.least_squares(A, b, rule="gsq", block_size=5, tol=1e-10)
    >>> bool(np.allclose(res.x, np.linalg.lstsq(A, b, rcond=None)[0], atol=1e-7))
    True
    """
    A = _prepare_design(A)
    b = _prepare_target(b, A.shape[0], "b")
    l2 = check_float(l2, "l2", minimum=0.0)
    return _solve(A, b, loss=0, lambda1=0.0, lambda2=l2,
                  fit_intercept=check_bool(fit_intercept, "fit_intercept"), blocks=blocks,
                  block_size=block_size, rule=rule, update=update, working_set=working_set,
                  tol=tol, max_iter=max_iter, max_outer=max_outer, seed=seed, callback=callback,
                  verbose=verbose, n_threads=n_threads, x0=x0, intercept0=intercept0,
                  record_trace=record_trace, objective_scale=1.0)


def lasso(A, b, alpha, *, l1_ratio=1.0, fit_intercept=False, blocks="contiguous", block_size=1,
          rule="gsl", update="newton", working_set="auto", tol=1e-6, max_iter=None,
          max_outer=500, record_trace=False, seed=None, callback=None, verbose=False,
          n_threads=None, x0=None, intercept0=0.0, active_set=True) -> BCDResult:
    """Lasso and elastic net by block coordinate descent, in scikit-learn's scaling:

    minimize 1/(2n) ||b - A x - x0||^2 + alpha * l1_ratio * ||x||_1
             + alpha * (1 - l1_ratio) / 2 * ||x||^2.

    Parameters
    ----------
    A : array_like or scipy.sparse matrix, shape (n, p)
    b : array_like, shape (n,)
    alpha : float
        Regularization strength (> 0). ``alpha >= max|A^T b| / n`` gives x = 0 (Lasso).
    l1_ratio : float in (0, 1], default 1.0
        1.0 is the Lasso.
    fit_intercept : bool, default False
        Add an unpenalized intercept (the dual point is centred, so the gap stays certified).
    {common}
    active_set : bool, default True
        Try Newton steps on a stable support.

    Returns
    -------
    BCDResult
        ``measure`` is the relative duality gap ``gap / objective(0)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsketch import bcd
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((100, 300)); x_true = np.zeros(300); x_true[:5] = 3.0
    >>> b = A @ x_true + 0.1 * rng.standard_normal(100)
    >>> res = bcd.lasso(A, b, alpha=0.1)
    >>> res.converged, sorted(np.flatnonzero(np.abs(res.x) > 1.0).tolist())
    (True, [0, 1, 2, 3, 4])
    """
    A = _prepare_design(A)
    b = _prepare_target(b, A.shape[0], "b")
    alpha = check_float(alpha, "alpha", minimum=0.0, strict=True)
    l1_ratio = check_float(l1_ratio, "l1_ratio", minimum=0.0, strict=True)
    if l1_ratio > 1:
        raise ValueError(f"l1_ratio: must be in (0, 1], got {l1_ratio}")
    n = A.shape[0]
    return _solve(A, b, loss=0, lambda1=n * alpha * l1_ratio, lambda2=n * alpha * (1 - l1_ratio),
                  fit_intercept=check_bool(fit_intercept, "fit_intercept"), blocks=blocks,
                  block_size=block_size, rule=rule, update=update, working_set=working_set,
                  tol=tol, max_iter=max_iter, max_outer=max_outer, seed=seed, callback=callback,
                  verbose=verbose, n_threads=n_threads, x0=x0, intercept0=intercept0,
                  record_trace=record_trace, objective_scale=1.0 / n, active_set=active_set)


def _binary_labels(y, n):
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"y: expected a 1-D array of length {n} (the rows of A), "
                         f"got shape {y.shape}")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError("y: contains NaN or Inf")
    classes = np.unique(y)
    if classes.shape[0] != 2:
        raise ValueError(f"y: binary logistic regression needs exactly 2 classes, got "
                         f"{classes.shape[0]}")
    return classes, np.where(y == classes[1], 1.0, -1.0)


def _penalty_mix(C, penalty, l1_ratio):
    """Validated C and the L1 share rho of the penalty (l2: 0, l1: 1, elasticnet: l1_ratio)."""
    C = check_float(C, "C", minimum=0.0, strict=True)
    _check_choice(penalty, "penalty", ("l2", "l1", "elasticnet"))
    l1_ratio = check_float(l1_ratio, "l1_ratio", minimum=0.0)
    if l1_ratio > 1:
        raise ValueError(f"l1_ratio: must be in [0, 1], got {l1_ratio}")
    return C, {"l2": 0.0, "l1": 1.0}.get(penalty, l1_ratio)


def logistic(A, y, *, C=1.0, penalty="l2", l1_ratio=0.5, fit_intercept=True,
             blocks="contiguous", block_size=1, rule="gsl", update="newton", working_set="auto",
             tol=1e-6, max_iter=None, max_outer=500, record_trace=False, seed=None,
             callback=None, verbose=False, n_threads=None, x0=None, intercept0=0.0,
             active_set=True) -> BCDResult:
    """Binary logistic regression by block coordinate descent (proximal Newton on working sets),
    in scikit-learn's scaling:

    minimize C * sum_i log(1 + exp(-y_i (a_i^T x + x0))) + R(x),
    R = 1/2 ||x||^2 ("l2"), ||x||_1 ("l1"), l1_ratio ||x||_1 + (1 - l1_ratio)/2 ||x||^2
    ("elasticnet").

    Parameters
    ----------
    A : array_like or scipy.sparse matrix, shape (n, p)
    y : array_like, shape (n,)
        Two classes (any labels); the larger one is the positive class.
    C : float, default 1.0
        Inverse regularization strength.
    penalty : {"l2", "l1", "elasticnet"}, default "l2"
    fit_intercept : bool, default True
    {common}
    Returns
    -------
    BCDResult
        ``measure``: the relative duality gap for L1 penalties without intercept, otherwise the
        largest KKT violation divided by the largest gradient entry at x = 0.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsketch import bcd
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((300, 20)); y = (A[:, 0] + 0.5 * rng.standard_normal(300) > 0)
    >>> res = bcd.logistic(A, y, C=1.0, penalty="l1")
    >>> res.converged, int(np.argmax(np.abs(res.x)))
    (True, 0)
    """
    A = _prepare_design(A)
    classes, ypm = _binary_labels(y, A.shape[0])
    C, rho = _penalty_mix(C, penalty, l1_ratio)
    return _solve(A, ypm, loss=1, lambda1=rho / C, lambda2=(1 - rho) / C,
                  fit_intercept=check_bool(fit_intercept, "fit_intercept"), blocks=blocks,
                  block_size=block_size, rule=rule, update=update, working_set=working_set,
                  tol=tol, max_iter=max_iter, max_outer=max_outer, seed=seed, callback=callback,
                  verbose=verbose, n_threads=n_threads, x0=x0, intercept0=intercept0,
                  record_trace=record_trace, objective_scale=C, active_set=active_set)


def _class_labels(y, n):
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"y: expected a 1-D array of length {n}, got shape {y.shape}")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError("y: contains NaN or Inf")
    if y.dtype == object:
        raise TypeError("y: expected numeric or string labels, got dtype object")
    classes, labels = np.unique(y, return_inverse=True)
    if classes.shape[0] < 2:
        raise ValueError(f"y: needs at least 2 classes, got {classes.shape[0]}")
    return classes, np.ascontiguousarray(labels.ravel(), dtype=np.int32)


def _start_matrix(x0, shape):
    """A float64 start of the given shape: zeros, or a validated copy of x0."""
    out = np.zeros(shape)
    if x0 is not None:
        x0 = np.asarray(x0, dtype=np.float64)
        if x0.shape != shape:
            raise ValueError(f"x0: expected shape {shape}, got {x0.shape}")
        if not np.all(np.isfinite(x0)):
            raise ValueError("x0: contains NaN or Inf")
        out[:] = x0
    return out


def softmax(A, y, *, C=1.0, penalty="l2", l1_ratio=0.5, fit_intercept=True,
            blocks="contiguous", block_size=1, rule="gsl", update="newton", model="auto",
            tol=1e-6, max_iter=None, max_outer=500, seed=None, callback=None, verbose=False,
            n_threads=None, x0=None, intercept0=None, active_set=True) -> BCDResult:
    """Multinomial (softmax) logistic regression by block coordinate descent, in
    scikit-learn's scaling (``LogisticRegression`` with the multinomial loss):

    minimize C * sum_i [logsumexp(a_i^T X + x0) - (a_i^T X + x0)_{y_i}] + R(X),
    X of shape (p, k), R as in :func:`logistic` (``"l2"``: 1/2 ||X||_F^2).

    The variables are blocked by feature: a block holds all k class weights of its features
    (the coordinates the softmax couples); the intercepts are one more block. Each outer
    iteration minimizes the proximal Newton model by BCD and takes an Armijo step.

    Parameters
    ----------
    A : array_like or scipy.sparse matrix, shape (n, p)
    y : array_like, shape (n,)
        Class labels (any k >= 2 distinct values; ``result.classes`` holds them sorted).
    C, penalty, l1_ratio, fit_intercept :
        As in :func:`logistic` (the L1 penalty is entrywise).
    blocks : {"contiguous", "lipschitz", "variable"} or int array of shape (p,)
        Partition of the features (see ``blocks`` below); ``block_size`` counts features.
    model : {"auto", "explicit", "data", "data-cd"}, default "auto"
        ``"explicit"`` forms the model Hessian ((p k + k)^2 doubles) and runs BCD with
        ``rule``, ``update`` and ``blocks``. ``"data-cd"`` works from A directly with cyclic
        sweeps over the features, a k x k (proximal) Newton step per feature. ``"data"`` is
        ``"data-cd"`` for the L1 and elastic-net penalties; for ``"l2"`` it solves each
        outer Newton system by conjugate gradients preconditioned with the same per-feature
        k x k block Hessians (block Jacobi), which copes far better with correlated features
        (pixels, say). In the data forms the rule, update and blocks arguments do not apply
        (greedy rules would need the Hessian). ``"auto"``: explicit up to 512 variables,
        else ``"data"``.
    {common}
    Returns
    -------
    BCDResult
        ``x`` of shape (p, k), ``intercept`` of shape (k,) (mean 0), ``classes``; ``measure``
        is the largest KKT violation divided by the one at X = 0, x0 = 0.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsketch import bcd
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((600, 5)); y = np.argmax(A[:, :3], axis=1)
    >>> res = bcd.softmax(A, y, C=10.0)
    >>> res.converged, res.x.shape
    (True, (5, 3))
    >>> bool(np.mean(np.argmax(A @ res.x + res.intercept, 1) == y) > 0.99)
    True
    """
    A = _prepare_design(A)
    n, p = A.shape
    classes, labels = _class_labels(y, n)
    k = classes.shape[0]
    C, rho = _penalty_mix(C, penalty, l1_ratio)
    fit_intercept = check_bool(fit_intercept, "fit_intercept")
    _check_choice(rule, "rule", RULES)
    _check_choice(update, "update", UPDATES)
    _check_choice(model, "model", ("auto", "explicit", "data", "data-cd"))
    block_size = check_int(block_size, "block_size", minimum=1)
    tol = check_float(tol, "tol", minimum=0.0)
    verbose = _check_callback(callback, verbose)
    nvar = p * k + (k if fit_intercept else 0)
    if model == "explicit" and nvar * nvar * 8 > 2 ** 33:
        raise MemoryError(f"model='explicit' needs a {nvar} x {nvar} Hessian "
                          f"({nvar * nvar * 8 / 2 ** 30:.1f} GiB); use model='data'")
    explicit_max = {"auto": 512, "explicit": nvar, "data": 0, "data-cd": 0}[model]
    if max_iter is None:
        max_iter = 1000 * (nvar + 1)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    max_outer = check_int(max_outer, "max_outer", minimum=0)
    seed_used = normalize_seed(seed)
    variable, block_of = _block_partition(A, blocks, block_size, p)
    if variable and rule not in _GREEDY:
        raise ValueError(f"rule: blocks='variable' needs a greedy rule (gs, gsl, gsd, gsq), "
                         f"got {rule!r}")
    W = _start_matrix(x0, (p, k))
    b = np.zeros(k)
    if intercept0 is not None:
        b[:] = as_float_vector(intercept0, k, "intercept0", dtype=np.float64)
    opts = dict(lambda1=rho / C, lambda2=(1 - rho) / C, fit_intercept=fit_intercept, tol=tol,
                max_iter=max_iter, max_outer=max_outer, explicit_max=int(explicit_max),
                data_cd=model == "data-cd",
                n_threads=resolve_n_threads(n_threads), rule=RULES.index(rule),
                update=UPDATES.index(update), variable_blocks=variable, block_size=block_size,
                active_set_newton=check_bool(active_set, "active_set"), seed=seed_used)
    stopped = []
    cb = _progress_callback(callback, verbose, C, stopped)
    t0 = time.perf_counter()
    if is_sparse(A):
        r = _core.bcd_softmax_csc(A.indptr, A.indices, A.data, n, p, labels, k, W, b, opts,
                                  block_of, cb)
    else:
        r = _core.bcd_softmax_dense(A, labels, k, W, b, opts, block_of, cb)
    elapsed = time.perf_counter() - t0
    res = _make_result(r, W.astype(A.dtype), b.astype(A.dtype), C, seed_used, elapsed, False,
                       classes=classes)
    _warn_unconverged(res, tol, stopped, stacklevel=3)
    return res


def _prepare_graph(W):
    """Symmetric CSR (int64 indices, float64 weights, no diagonal) of (W + W^T) / 2."""
    import scipy.sparse as sp
    if W is None or isinstance(W, (str, bytes)):
        raise TypeError(f"W: expected a square scipy.sparse matrix or 2-D array, got "
                        f"{type(W).__name__}")
    if is_sparse(W):
        dtype = W.dtype
        S = sp.csr_array(W)
    else:
        Wd = np.asarray(W)
        if Wd.ndim != 2:
            raise ValueError(f"W: expected a square 2-D matrix, got shape {Wd.shape}")
        dtype = Wd.dtype
        S = sp.csr_array(Wd)
    if dtype.kind not in "biuf" or dtype == np.float16:
        raise TypeError(f"W: expected real float or integer weights, got dtype {dtype}")
    if S.ndim != 2 or S.shape[0] != S.shape[1]:
        raise ValueError(f"W: expected a square adjacency matrix, got shape {S.shape}")
    if S.shape[0] == 0:
        raise ValueError("W: empty graph (0 nodes)")
    S = S.astype(np.float64)
    S.sum_duplicates()
    if not np.all(np.isfinite(S.data)):
        raise ValueError("W: contains NaN or Inf")
    if np.any(S.data < 0):
        raise ValueError("W: graph weights must be >= 0 (found a negative weight)")
    S = ((S + S.T) * 0.5).tocsr()
    S.setdiag(0)
    S.eliminate_zeros()
    S.sort_indices()
    out_dtype = np.float32 if dtype == np.float32 else np.float64
    return (np.ascontiguousarray(S.indptr, dtype=np.int64),
            np.ascontiguousarray(S.indices, dtype=np.int64),
            np.ascontiguousarray(S.data, dtype=np.float64), out_dtype)


def forest_blocks(W):
    """Greedy forest partition of a graph's nodes (the paper's tree-structured blocks).

    Nodes are visited in order; a node joins the current block when its neighbours already in
    the block lie in different trees of the block, so every block's induced subgraph stays a
    forest; the nodes left over start the next block. A lattice needs 2-3 blocks.

    Parameters
    ----------
    W : scipy.sparse matrix or array_like, shape (n, n)
        Adjacency matrix (non-negative weights; symmetrized as (W + W^T) / 2).

    Returns
    -------
    ndarray of int64, shape (n,)
        Block id of each node (0, 1, ...).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from sparsketch import bcd
    >>> path = sp.diags([1.0, 1.0], [-1, 1], shape=(5, 5))
    >>> bcd.forest_blocks(path).tolist()  # a path is a tree: one block
    [0, 0, 0, 0, 0]
    """
    indptr, indices, data, _ = _prepare_graph(W)
    return _core.forest_blocks(indptr, indices, data)


def label_propagation(W, y, *, lam=1.0, blocks="forest", block_size=1, rule="cyclic",
                      update="newton", method="bcd", preconditioner="forest", tol=1e-6,
                      max_iter=None, seed=None, callback=None, verbose=False, n_threads=None,
                      x0=None) -> BCDResult:
    """Graph label propagation (the paper's quadratic labeling problem) by block coordinate
    descent, or by conjugate gradients preconditioned with the same blocks.

    minimize  sum_{i<j} S_ij ||x_i - x_j||^2 + lam * sum_{i labelled} ||x_i - e_{y_i}||^2

    over per-node class scores X (n x k), S = (W + W^T) / 2 without its diagonal and e_c the
    one-hot vector of class c. The minimizer solves M X = C with M = diag(S 1) - S +
    lam diag(labelled), C = lam diag(labelled) Y; ``measure`` is the relative residual
    ||M X - C||_F / ||C||_F (scipy's CG convention). Nodes in connected components without a
    labelled node keep their start value (0 by default, the minimum-norm solution).

    Parameters
    ----------
    W : scipy.sparse matrix or array_like, shape (n, n)
        Adjacency matrix with non-negative weights.
    y : array_like, shape (n,)
        Labels, -1 for unlabelled nodes (scikit-learn's convention); at least one labelled.
    lam : float, default 1.0
        Weight of the fit to the given labels (larger: closer to clamping them).
    blocks : {"forest", "contiguous"} or int array of shape (n,), default "forest"
        ``"forest"``: the greedy forest partition (:func:`forest_blocks`); blocks are solved
        exactly by message passing (Gaussian elimination along the trees, linear time).
        ``"contiguous"``: blocks of ``block_size`` consecutive nodes; an array: block id per
        node (ids 0..B-1, none empty). Non-forest blocks use a dense Cholesky factor (at most
        4096 nodes per block).
    block_size : int, default 1
    rule : {"cyclic", "random", "lipschitz", "gs", "gsl", "gsd", "gsq"}, default "cyclic"
        Block selection (see the module docstring). Greedy rules keep the gradient up to date
        (only a block and its neighbours change). Cyclic Newton sweeps over forest blocks
        solve the trees of a block in parallel.
    update : {"newton", "gradient"}, default "newton"
        Exact block minimization (message passing on forest blocks) or a gradient step with
        the block's Gershgorin bound on its Lipschitz constant.
    method : {"bcd", "cg"}, default "bcd"
        ``"cg"``: conjugate gradients on M X = C (all k columns together), preconditioned by
        ``preconditioner``; ``rule`` and ``update`` do not apply.
    preconditioner : {"forest", "jacobi", "none"}, default "forest"
        For ``method="cg"``: one symmetric Gauss-Seidel sweep over the blocks (forward then
        backward, message passing on forest blocks; needs forest blocks), the diagonal, or
        nothing.
    tol : float, default 1e-6
        Stop when the relative residual is <= tol.
    max_iter : int, optional
        Block updates (BCD; default 2000 sweeps) or CG iterations (default 10 n).
    seed, callback, verbose, n_threads :
        As in the other solvers (``callback`` is called once per sweep or CG iteration).
    x0 : array_like of shape (n, k), optional
        Start (default 0).

    Returns
    -------
    BCDResult
        ``x`` of shape (n, k) (class scores; float32 for float32 W), ``classes`` (sorted
        labels; predict with ``classes[argmax(x, 1)]``), ``measure`` (relative residual),
        ``objective``, ``iterations`` (block updates or CG iterations), ``outer_iterations``
        (sweeps), ``history``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from sparsketch import bcd
    >>> n = 10; path = sp.diags([1.0, 1.0], [-1, 1], shape=(n, n))
    >>> y = -np.ones(n, dtype=int); y[0], y[-1] = 0, 1
    >>> res = bcd.label_propagation(path, y, tol=1e-10)
    >>> res.converged, res.classes[np.argmax(res.x, 1)].tolist()
    (True, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    """
    indptr, indices, data, out_dtype = _prepare_graph(W)
    n = indptr.shape[0] - 1
    yv = np.asarray(y)
    if yv.ndim != 1 or yv.shape[0] != n:
        raise ValueError(f"y: expected a 1-D array of length {n}, got shape {yv.shape}")
    if yv.dtype.kind not in "biuf":
        raise TypeError(f"y: expected numeric labels with -1 for unlabelled, got dtype "
                        f"{yv.dtype}")
    if yv.dtype.kind == "f" and not np.all(np.isfinite(yv)):
        raise ValueError("y: contains NaN or Inf")
    labelled = yv != -1
    if yv.dtype.kind in "iuf" and np.any(yv[labelled] < 0):
        raise ValueError("y: labels must be -1 (unlabelled) or >= 0 "
                         f"(found {yv[labelled].min()})")
    if not np.any(labelled):
        raise ValueError("y: no labelled node (every label is -1)")
    classes, lab_idx = np.unique(yv[labelled], return_inverse=True)
    k = classes.shape[0]
    lam = check_float(lam, "lam", minimum=0.0, strict=True)
    if not np.isfinite(lam):
        raise ValueError("lam: must be finite")
    _check_choice(rule, "rule", RULES)
    _check_choice(update, "update", UPDATES)
    _check_choice(method, "method", ("bcd", "cg"))
    _check_choice(preconditioner, "preconditioner", ("forest", "jacobi", "none"))
    tol = check_float(tol, "tol", minimum=0.0)
    verbose = _check_callback(callback, verbose)
    block_size = check_int(block_size, "block_size", minimum=1)
    forest = False
    if isinstance(blocks, str):
        _check_choice(blocks, "blocks", ("forest", "contiguous"))
        if blocks == "forest":
            block_of = _core.forest_blocks(indptr, indices, data)
            forest = True
        else:
            if block_size > 4096:
                raise ValueError(f"block_size: at most 4096 for non-forest blocks, got "
                                 f"{block_size}")
            block_of = np.arange(n, dtype=np.int64) // block_size
    else:
        block_of = np.asarray(blocks)
        if block_of.shape != (n,) or block_of.dtype.kind not in "iu":
            raise ValueError(f"blocks: expected an integer array of shape ({n},), got "
                             f"{block_of.dtype} {block_of.shape}")
        if block_of.min() < 0:
            raise ValueError("blocks: block ids must be >= 0")
        counts = np.bincount(block_of)
        if np.any(counts == 0):
            raise ValueError(f"blocks: ids must be 0..B-1 with no empty block "
                             f"(block {int(np.flatnonzero(counts == 0)[0])} is empty)")
        if counts.max() > 4096:
            raise ValueError(f"blocks: at most 4096 nodes per block, got {counts.max()}")
        block_of = np.ascontiguousarray(block_of, dtype=np.int64)
    if method == "cg" and preconditioner == "forest" and not forest:
        raise ValueError("preconditioner: 'forest' needs blocks='forest'")
    nb = int(block_of.max()) + 1
    if max_iter is None:
        max_iter = 2000 * nb if method == "bcd" else 10 * n
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    seed_used = normalize_seed(seed)
    Cm = np.zeros((n, k))
    lab = labelled.astype(np.float64)
    Cm[np.flatnonzero(labelled), lab_idx] = lam
    X = _start_matrix(x0, (n, k))
    opts = dict(rule=RULES.index(rule), update=UPDATES.index(update), **{"lambda": lam},
                tol=tol, max_iter=max_iter, seed=seed_used,
                n_threads=resolve_n_threads(n_threads))
    stopped = []
    cb = _progress_callback(callback, verbose, 1.0, stopped)
    t0 = time.perf_counter()
    r = _core.bcd_label_propagation(indptr, indices, data, Cm, lab, X, block_of, forest,
                                    0 if method == "bcd" else 1,
                                    {"none": 0, "jacobi": 1, "forest": 2}[preconditioner],
                                    opts, cb)
    elapsed = time.perf_counter() - t0
    res = _make_result(r, X.astype(out_dtype), 0.0, 1.0, seed_used, elapsed, False,
                       classes=classes)
    _warn_unconverged(res, tol, stopped, stacklevel=3)
    return res


for _f in (least_squares, lasso, logistic, softmax):
    _f.__doc__ = _f.__doc__.replace("    {common}\n", _COMMON_DOC.lstrip("\n"))
del _f


# --------------------------------------------------------------------------------------------
# scikit-learn-compatible estimators (scikit-learn itself is not required to use them)
# --------------------------------------------------------------------------------------------

class _Params:
    """get_params / set_params from the constructor signature (scikit-learn's protocol)."""

    def get_params(self, deep=True):
        names = [k for k in inspect.signature(type(self).__init__).parameters if k != "self"]
        return {k: getattr(self, k) for k in names}

    def set_params(self, **params):
        valid = self.get_params()
        for k, v in params.items():
            if k not in valid:
                raise ValueError(f"set_params: invalid parameter {k!r} for {type(self).__name__}")
            setattr(self, k, v)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_fitted(self):
        if not hasattr(self, "coef_"):
            raise ValueError(f"{type(self).__name__}: call fit before predict")

    def _check_X(self, X):
        X = _prepare_design(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X: expected {self.n_features_in_} features, got {X.shape[1]}")
        return X


class Lasso(_Params):
    """Lasso / elastic net estimator on :func:`sparsketch.bcd.lasso`, with scikit-learn's
    parameters and objective (1/(2n)) ||y - X w - b||^2 + alpha l1_ratio ||w||_1 +
    alpha (1 - l1_ratio)/2 ||w||^2.

    Parameters
    ----------
    alpha : float, default 1.0
    l1_ratio : float, default 1.0
        1.0 is the Lasso (scikit-learn's ``ElasticNet`` parameter).
    fit_intercept : bool, default True
    tol : float, default 1e-4
        Relative duality gap ``gap / objective(0)`` at which to stop.
    max_iter : int, default 1000
        Most outer iterations (passes over X).
    warm_start : bool, default False
        Start from the previous ``coef_``.
    rule, update, block_size, n_threads, seed :
        As in :func:`sparsketch.bcd.lasso`.

    Attributes
    ----------
    coef_, intercept_, n_iter_ (outer iterations), dual_gap_ (in scikit-learn's scaling),
    result_ (the :class:`BCDResult`).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsketch.bcd import Lasso
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 20)); y = X[:, 3] * 2 + 1
    >>> model = Lasso(alpha=0.01).fit(X, y)
    >>> round(float(model.coef_[3]), 2), round(float(model.intercept_), 2)
    (1.99, 1.0)
    """

    def __init__(self, alpha=1.0, *, l1_ratio=1.0, fit_intercept=True, tol=1e-4, max_iter=1000,
                 warm_start=False, rule="gsl", update="newton", block_size=1, n_threads=None,
                 seed=None):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.rule = rule
        self.update = update
        self.block_size = block_size
        self.n_threads = n_threads
        self.seed = seed

    def fit(self, X, y):
        X = _prepare_design(X, "X")
        warm = self.warm_start and hasattr(self, "coef_") and self.coef_.shape[0] == X.shape[1]
        res = lasso(X, y, self.alpha, l1_ratio=self.l1_ratio, fit_intercept=self.fit_intercept,
                    tol=self.tol, max_outer=check_int(self.max_iter, "max_iter", minimum=1),
                    rule=self.rule, update=self.update, block_size=self.block_size,
                    n_threads=self.n_threads, seed=self.seed,
                    x0=self.coef_ if warm else None,
                    intercept0=self.intercept_ if warm else 0.0)
        self.coef_ = res.x
        self.intercept_ = res.intercept if self.fit_intercept else 0.0
        self.n_iter_ = res.outer_iterations
        self.dual_gap_ = res.gap
        self.n_features_in_ = X.shape[1]
        self.result_ = res
        return self

    def predict(self, X):
        self._check_fitted()
        X = self._check_X(X)
        return np.asarray(X @ self.coef_).ravel() + self.intercept_

    def score(self, X, y):
        """R^2 of the prediction."""
        y = np.asarray(y, dtype=np.float64)
        r = y - self.predict(X)
        return 1.0 - float(r @ r) / float(((y - y.mean()) ** 2).sum())

    def __sklearn_tags__(self):
        from sklearn.utils import InputTags, RegressorTags, Tags, TargetTags
        return Tags(estimator_type="regressor", target_tags=TargetTags(required=True),
                    regressor_tags=RegressorTags(), input_tags=InputTags(sparse=True))


class LogisticRegression(_Params):
    """Binary logistic regression on :func:`sparsketch.bcd.logistic`, with scikit-learn's
    parameters: minimize C sum_i loss_i + R(w).

    Parameters
    ----------
    penalty : {"l2", "l1", "elasticnet"}, default "l2"
    C : float, default 1.0
    l1_ratio : float, default 0.5
        Used with ``penalty="elasticnet"``.
    fit_intercept : bool, default True
    tol : float, default 1e-4
        Certified measure at which to stop (see :class:`BCDResult`).
    max_iter : int, default 100
        Most outer (proximal Newton) iterations.
    warm_start : bool, default False
    rule, update, block_size, n_threads, seed :
        As in :func:`sparsketch.bcd.logistic`.

    Attributes
    ----------
    classes_, coef_ (shape (1, p)), intercept_ (shape (1,)), n_iter_, result_.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsketch.bcd import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 5)); y = np.where(X[:, 1] > 0, "yes", "no")
    >>> clf = LogisticRegression(C=10.0).fit(X, y)
    >>> clf.score(X, y) > 0.95, clf.classes_.tolist()
    (True, ['no', 'yes'])
    """

    def __init__(self, penalty="l2", *, C=1.0, l1_ratio=0.5, fit_intercept=True, tol=1e-4,
                 max_iter=100, warm_start=False, rule="gsl", update="newton", block_size=1,
                 n_threads=None, seed=None):
        self.penalty = penalty
        self.C = C
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.rule = rule
        self.update = update
        self.block_size = block_size
        self.n_threads = n_threads
        self.seed = seed

    def fit(self, X, y):
        X = _prepare_design(X, "X")
        warm = (self.warm_start and hasattr(self, "coef_")
                and self.coef_.shape[1] == X.shape[1])
        res = logistic(X, y, C=self.C, penalty=self.penalty, l1_ratio=self.l1_ratio,
                       fit_intercept=self.fit_intercept, tol=self.tol,
                       max_outer=check_int(self.max_iter, "max_iter", minimum=1),
                       rule=self.rule, update=self.update, block_size=self.block_size,
                       n_threads=self.n_threads, seed=self.seed,
                       x0=self.coef_[0] if warm else None,
                       intercept0=float(self.intercept_[0]) if warm else 0.0)
        self.classes_ = np.unique(np.asarray(y))
        self.coef_ = res.x[None, :]
        self.intercept_ = np.array([res.intercept if self.fit_intercept else 0.0])
        self.n_iter_ = np.array([res.outer_iterations])
        self.n_features_in_ = X.shape[1]
        self.result_ = res
        return self

    def decision_function(self, X):
        self._check_fitted()
        X = self._check_X(X)
        return np.asarray(X @ self.coef_[0]).ravel() + self.intercept_[0]

    def predict_proba(self, X):
        z = self.decision_function(X)
        p1 = 0.5 * (1.0 + np.tanh(0.5 * z))  # sigmoid without overflow
        return np.column_stack([1.0 - p1, p1])

    def predict(self, X):
        return self.classes_[(self.decision_function(X) > 0).astype(np.int64)]

    def score(self, X, y):
        """Mean accuracy."""
        return float(np.mean(self.predict(X) == np.asarray(y)))

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags
        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags(multi_class=False),
                    input_tags=InputTags(sparse=True))
