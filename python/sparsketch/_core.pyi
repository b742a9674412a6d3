# Type stubs for the compiled module sparsketch._core (private; use the sparsketch package).
from typing import Any, Callable

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
    out: npt.NDArray[np.floating[Any]], n_threads: int, col0: int = 0, n_total: int = 0,
) -> None: ...
def sketch_sparse(
    kind: int, m: int, seed: int, zeta: int, csr: bool, indptr: npt.NDArray[np.integer[Any]],
    indices: npt.NDArray[np.integer[Any]], data: npt.NDArray[np.floating[Any]], n_rows: int,
    n_cols: int, out: npt.NDArray[np.floating[Any]], n_threads: int, col0: int = 0,
    n_total: int = 0,
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
def spgemm_csr(
    A: tuple[Any, ...], B: tuple[Any, ...], mask: tuple[Any, ...] | None, sort_indices: bool,
    n_threads: int, top_k: int, threshold: float | None, memory_limit: Any,
) -> tuple[npt.NDArray[np.floating[Any]], npt.NDArray[np.integer[Any]],
           npt.NDArray[np.integer[Any]], int]: ...
def als_half_step(
    R: tuple[Any, ...], weights: npt.NDArray[np.floating[Any]] | None,
    V: npt.NDArray[np.floating[Any]], other_bias: npt.NDArray[np.floating[Any]] | None,
    mu: float, U: npt.NDArray[np.floating[Any]], own_bias: npt.NDArray[np.floating[Any]] | None,
    reg: float, bias_reg: float, reg_by_count: bool, solver: str, cg_tol: float, cg_max_iter: int,
    sketch_factor: int, sketch_nnz: int, seed: int, n_threads: int, compute_sse: bool = ...,
) -> dict[str, Any]: ...
def normal_wishart_draw(
    F: npt.NDArray[np.floating[Any]], beta0: float, z_a: npt.NDArray[np.float64],
    chi2: npt.NDArray[np.float64], z_mu: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.floating[Any]], npt.NDArray[np.floating[Any]]]: ...
def coo_to_csr(
    m: int, rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64],
    vals: npt.NDArray[np.float64], duplicates: str, dtype: Any, int64_indices: bool,
    n_threads: int,
) -> tuple[npt.NDArray[np.integer[Any]], npt.NDArray[np.integer[Any]],
           npt.NDArray[np.floating[Any]], int, int, int]: ...
def gibbs_half_step(
    R: tuple[Any, ...], V: npt.NDArray[np.floating[Any]], mu: float, alpha: float,
    Lambda: npt.NDArray[np.floating[Any]], mean: npt.NDArray[np.floating[Any]],
    U: npt.NDArray[np.floating[Any]], seed: int, n_threads: int,
) -> int: ...
def completion_residuals(
    R: tuple[Any, ...], U: npt.NDArray[np.floating[Any]], V: npt.NDArray[np.floating[Any]],
    row_bias: npt.NDArray[np.floating[Any]] | None,
    col_bias: npt.NDArray[np.floating[Any]] | None, mu: float,
    weights: npt.NDArray[np.floating[Any]] | None, out: npt.NDArray[np.floating[Any]] | None,
    n_threads: int,
) -> float: ...
def sddmm(
    S: tuple[Any, ...], scale: bool, U: npt.NDArray[np.floating[Any]],
    V: npt.NDArray[np.floating[Any]], out: npt.NDArray[np.floating[Any]], n_threads: int,
) -> None: ...
def spmm(
    A: tuple[Any, ...], X: npt.NDArray[np.floating[Any]], out: npt.NDArray[np.floating[Any]],
    n_threads: int,
) -> None: ...
def standard_normal(
    out: npt.NDArray[np.floating[Any]], seed: int, offset: int, n_threads: int,
) -> None: ...
def bcd_glm_dense(
    A: npt.NDArray[np.floating[Any]], y: npt.NDArray[np.float64], x: npt.NDArray[np.float64],
    x0: npt.NDArray[np.float64], options: dict[str, Any], block_of: npt.NDArray[np.int64] | None,
    callback: Callable[[dict[str, Any]], bool] | None, record_trace: bool,
) -> dict[str, Any]: ...
def bcd_glm_csc(
    indptr: npt.NDArray[np.integer[Any]], indices: npt.NDArray[np.integer[Any]],
    data: npt.NDArray[np.floating[Any]], n_rows: int, n_cols: int, y: npt.NDArray[np.float64],
    x: npt.NDArray[np.float64], x0: npt.NDArray[np.float64], options: dict[str, Any],
    block_of: npt.NDArray[np.int64] | None, callback: Callable[[dict[str, Any]], bool] | None,
    record_trace: bool,
) -> dict[str, Any]: ...
def bcd_softmax_dense(
    A: npt.NDArray[np.floating[Any]], labels: npt.NDArray[np.int32], k: int,
    W: npt.NDArray[np.float64], b: npt.NDArray[np.float64], options: dict[str, Any],
    block_of: npt.NDArray[np.int64] | None, callback: Callable[[dict[str, Any]], bool] | None,
) -> dict[str, Any]: ...
def bcd_softmax_csc(
    indptr: npt.NDArray[np.integer[Any]], indices: npt.NDArray[np.integer[Any]],
    data: npt.NDArray[np.floating[Any]], n_rows: int, n_cols: int,
    labels: npt.NDArray[np.int32], k: int, W: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64], options: dict[str, Any], block_of: npt.NDArray[np.int64] | None,
    callback: Callable[[dict[str, Any]], bool] | None,
) -> dict[str, Any]: ...
def forest_blocks(
    indptr: npt.NDArray[np.int64], indices: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float64],
) -> npt.NDArray[np.int64]: ...
def bcd_label_propagation(
    indptr: npt.NDArray[np.int64], indices: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float64], C: npt.NDArray[np.float64], lab: npt.NDArray[np.float64],
    X: npt.NDArray[np.float64], block_of: npt.NDArray[np.int64], forest: bool, method: int,
    precond: int, options: dict[str, Any], callback: Callable[[dict[str, Any]], bool] | None,
) -> dict[str, Any]: ...
