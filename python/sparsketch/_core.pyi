# Type stubs for the compiled module sparsketch._core (private; use the sparsketch package).
from typing import Any

import numpy as np
import numpy.typing as npt

def build_info() -> dict[str, Any]: ...
def omp_max_threads() -> int: ...
def fwht(
    src: npt.NDArray[np.floating[Any]],
    dst: npt.NDArray[np.floating[Any]],
    normalized: bool,
    check_finite: bool,
    n_threads: int,
) -> None: ...
def fwht_fast(
    x: object, out: object, normalized: bool, check_finite: bool, n_threads: int
) -> npt.NDArray[np.floating[Any]] | None: ...
def _philox4x32_10(counter: list[int], key: list[int]) -> list[int]: ...
def _random_uniform(seed: int, tag: int, start: int, count: int, n_threads: int) -> npt.NDArray[np.float64]: ...
def _random_normal(seed: int, tag: int, start: int, count: int, n_threads: int) -> npt.NDArray[np.float64]: ...
def _random_rademacher(seed: int, tag: int, start: int, count: int, n_threads: int) -> npt.NDArray[np.int8]: ...
def sketch_dense(
    kind: int, m: int, seed: int, zeta: int, A: npt.NDArray[np.floating[Any]],
    out: npt.NDArray[np.floating[Any]], n_threads: int,
) -> None: ...
def sketch_sparse(
    kind: int, m: int, seed: int, zeta: int, csr: bool, indptr: npt.NDArray[np.integer[Any]],
    indices: npt.NDArray[np.integer[Any]], data: npt.NDArray[np.floating[Any]], n_rows: int,
    n_cols: int, out: npt.NDArray[np.floating[Any]], n_threads: int,
) -> None: ...
def gram_apply_dense(
    A: npt.NDArray[np.floating[Any]], W: npt.NDArray[np.floating[Any]],
    out: npt.NDArray[np.floating[Any]], n_threads: int,
) -> None: ...
def gram_apply_csr(
    indptr: npt.NDArray[np.integer[Any]], indices: npt.NDArray[np.integer[Any]],
    data: npt.NDArray[np.floating[Any]], n_rows: int, n_cols: int,
    W: npt.NDArray[np.floating[Any]], out: npt.NDArray[np.floating[Any]], n_threads: int,
) -> None: ...
def residual_gradient_dense(
    A: npt.NDArray[np.floating[Any]], B: npt.NDArray[np.floating[Any]],
    X: npt.NDArray[np.floating[Any]], G: npt.NDArray[np.floating[Any]], want_frob: bool,
    n_threads: int,
) -> tuple[npt.NDArray[np.floating[Any]], float | None]: ...
def residual_gradient_csr(
    indptr: npt.NDArray[np.integer[Any]], indices: npt.NDArray[np.integer[Any]],
    data: npt.NDArray[np.floating[Any]], n_rows: int, n_cols: int,
    B: npt.NDArray[np.floating[Any]], X: npt.NDArray[np.floating[Any]],
    G: npt.NDArray[np.floating[Any]], want_frob: bool, n_threads: int,
) -> tuple[npt.NDArray[np.floating[Any]], float | None]: ...
def validate_csr(
    indptr: npt.NDArray[np.integer[Any]], indices: npt.NDArray[np.integer[Any]], n_rows: int,
    n_cols: int, require_sorted: bool,
) -> None: ...
