"""sparsketch: fast sparse and randomized linear algebra.

C++17 kernels (Eigen + OpenMP) behind a NumPy/SciPy-style API. Available now:

- :func:`fwht` -- dense fast Walsh-Hadamard transform (batched, any axis, float32/float64).
- :func:`sketch`, :class:`SketchOperator` -- Gaussian, SRHT, CountSketch and sparse sign
  sketches of dense and scipy.sparse matrices.
- :func:`lstsq` -- sketch-and-solve and sketch-and-precondition least squares.
- :func:`leverage_scores`, :func:`lewis_weights`, :func:`sensitivities`, :func:`sample_rows`,
  :func:`lp_regression` -- importance sampling of rows and l_p regression on coresets.
- :func:`sparse_wht` -- K-sparse Walsh-Hadamard spectra of arrays or black-box functions of
  n binary variables from O(K log N) (noisy) samples.
- :func:`spgemm`, :func:`spgemm_topk` -- multithreaded sparse x sparse products (plain, masked,
  top-k per row).
- :class:`MatrixCompletion`, :func:`complete` -- matrix completion by alternating minimization
  with exact, CG and sketch-preconditioned per-row solves; :func:`sddmm`, :func:`spmm` --
  the sparse x dense kernels behind it; :class:`BayesianMatrixCompletion` -- Bayesian
  matrix factorization (BPMF) by Gibbs sampling.
- :mod:`sparsketch.bcd` -- block coordinate descent with greedy block rules (GS, GSL, GSD,
  GSQ), Newton block updates and active-set Newton steps: least squares, Lasso / elastic net,
  logistic regression, and scikit-learn-compatible ``Lasso`` / ``LogisticRegression``.

Runtime helpers: :func:`show_config`, :func:`get_num_threads`, :func:`set_num_threads`,
:func:`get_cmake_dir` (for C++ projects: ``find_package(sparsketch CONFIG REQUIRED)``).
"""

from __future__ import annotations

from . import bcd, exceptions
from ._config import get_cmake_dir, get_include, get_num_threads, set_num_threads, show_config
from ._core import build_info as _build_info
from .bayesian_completion import BayesianMatrixCompletion
from .completion import CompletionResult, MatrixCompletion, complete
from .fwht import fwht
from .leverage import leverage_scores, lewis_weights, sensitivities
from .lp_regression import LpRegressionResult, lp_regression
from .lstsq import LstsqResult, lstsq
from .sampling import SCORE_KINDS, RowSample, sample_rows
from .sketch import SKETCH_KINDS, SketchOperator, sketch
from .sparse_wht import SparseWHTResult, sparse_wht, unpack_indices
from .sparse_dense import sddmm, spmm
from .spgemm import spgemm, spgemm_topk

__version__: str = _build_info()["version"]

__all__ = [
    "__version__",
    "bcd",
    "exceptions",
    "BayesianMatrixCompletion",
    "complete",
    "CompletionResult",
    "MatrixCompletion",
    "fwht",
    "SKETCH_KINDS",
    "SketchOperator",
    "sketch",
    "get_cmake_dir",
    "get_include",
    "get_num_threads",
    "leverage_scores",
    "lewis_weights",
    "LpRegressionResult",
    "lp_regression",
    "LstsqResult",
    "lstsq",
    "RowSample",
    "sample_rows",
    "sddmm",
    "SCORE_KINDS",
    "sensitivities",
    "set_num_threads",
    "show_config",
    "SparseWHTResult",
    "sparse_wht",
    "spgemm",
    "spgemm_topk",
    "spmm",
    "unpack_indices",
]
