"""sparsketch: fast sparse and randomized linear algebra.

C++17 kernels (Eigen + OpenMP) behind a NumPy/SciPy-style API. Available now:

- :func:`fwht` -- dense fast Walsh-Hadamard transform (batched, any axis, float32/float64).
- :func:`sketch`, :class:`SketchOperator` -- Gaussian, SRHT, CountSketch and sparse sign
  sketches of dense and scipy.sparse matrices.

Runtime helpers: :func:`show_config`, :func:`get_num_threads`, :func:`set_num_threads`,
:func:`get_cmake_dir` (for C++ projects: ``find_package(sparsketch CONFIG REQUIRED)``).
"""

from __future__ import annotations

from . import exceptions
from ._config import get_cmake_dir, get_include, get_num_threads, set_num_threads, show_config
from ._core import build_info as _build_info
from .fwht import fwht
from .lstsq import LstsqResult, lstsq
from .sketch import SKETCH_KINDS, SketchOperator, sketch

__version__: str = _build_info()["version"]

__all__ = [
    "__version__",
    "exceptions",
    "fwht",
    "SKETCH_KINDS",
    "SketchOperator",
    "sketch",
    "get_cmake_dir",
    "get_include",
    "get_num_threads",
    "LstsqResult",
    "lstsq",
    "set_num_threads",
    "show_config",
]
