"""Build and runtime configuration: versions, flags, threads, and where the CMake package is."""

from __future__ import annotations

import os
import platform
import sys

import numpy as np

from . import _core

__all__ = ["show_config", "get_num_threads", "set_num_threads", "get_cmake_dir", "get_include"]

_n_threads: int | None = None


def get_num_threads() -> int:
    """Threads sparsketch kernels use when called with ``n_threads=None``.

    The value set by :func:`set_num_threads`, else OpenMP's ``omp_get_max_threads()`` at call
    time, which honours ``OMP_NUM_THREADS`` and ``threadpoolctl.threadpool_limits``.

    Examples
    --------
    >>> import sparsketch
    >>> sparsketch.get_num_threads() >= 1
    True
    """
    if _n_threads is not None:
        return _n_threads
    return max(1, int(_core.omp_max_threads()))


def set_num_threads(n: int | None) -> None:
    """Set the threads sparsketch kernels use by default; ``None`` restores the OpenMP default.

    Only sparsketch is affected: the OpenMP runtime's global setting (shared with other
    libraries) is left alone. A per-call ``n_threads=`` argument still takes precedence.

    Examples
    --------
    >>> import sparsketch
    >>> sparsketch.set_num_threads(1)
    >>> sparsketch.get_num_threads()
    1
    >>> sparsketch.set_num_threads(None)
    """
    global _n_threads
    if n is None:
        _n_threads = None
        return
    from ._validation import check_int
    _n_threads = check_int(n, "n", minimum=1)


def get_cmake_dir() -> str:
    """Directory holding ``sparsketchConfig.cmake``: pass it as ``-Dsparsketch_DIR=...``.

    Examples
    --------
    >>> import os, sparsketch
    >>> os.path.isfile(os.path.join(sparsketch.get_cmake_dir(), "sparsketchConfig.cmake"))
    True
    """
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "share", "cmake", "sparsketch")


def get_include() -> str:
    """Directory of the C++ headers (``sparsketch/*.hpp`` and the vendored ``Eigen/``)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")


def _config_dict() -> dict:
    info = dict(_core.build_info())
    return {
        "sparsketch": info.pop("version"),
        "build": {
            "compiler": info["compiler"],
            "build_type": info["build_type"],
            "flags": info["flags"],
            "arch": info["arch"],
            "simd": info["simd"],
            "simd_bytes": info["simd_bytes"],
            "openmp": info["openmp"],
            "eigen": info["eigen"],
            "pybind11": info["pybind11"],
        },
        "runtime": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "machine": platform.machine(),
            "numpy": np.__version__,
            "cpu_count": os.cpu_count(),
            "omp_max_threads": int(_core.omp_max_threads()),
            "num_threads": get_num_threads(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        },
        "cmake_dir": get_cmake_dir(),
    }


def show_config(mode: str = "stdout"):
    """Print (``mode="stdout"``) or return (``mode="dicts"``) how sparsketch was built and runs:
    version, compiler and flags, instruction set (``arch`` native/baseline and the SIMD level
    compiled for), OpenMP version and threads, Eigen and pybind11 versions.

    Examples
    --------
    >>> import sparsketch
    >>> cfg = sparsketch.show_config(mode="dicts")
    >>> cfg["build"]["arch"] in ("native", "baseline")
    True
    """
    if mode not in ("stdout", "dicts"):
        raise ValueError(f"mode: expected 'stdout' or 'dicts', got {mode!r}")
    cfg = _config_dict()
    if mode == "dicts":
        return cfg
    lines = [f"sparsketch {cfg['sparsketch']}"]
    for section in ("build", "runtime"):
        lines.append(f"{section}:")
        for k, v in cfg[section].items():
            lines.append(f"  {k}: {v}")
    lines.append(f"cmake_dir: {cfg['cmake_dir']}")
    print("\n".join(lines))
    return None
