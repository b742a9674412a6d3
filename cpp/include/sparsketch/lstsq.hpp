#pragma once
/// \file lstsq.hpp
/// Fused one-pass kernels for iterative least squares on a tall A (n x d), used by
/// sparsketch.lstsq's sketch-and-precondition solver:
///
///   gram_apply:        Out = A^T (A W)                       (W, Out: d x k)
///   residual_gradient: G = A^T (B - A X), rr = ||B - A X||^2 per column, optionally ||A||_F^2
///
/// Each reads A once: rows are processed in sub-blocks small enough for the cache, so A W and
/// A^T (.) use the same rows while they are resident. Determinism: rows are grouped into fixed
/// chunks of kChunkRows (independent of the thread count); every chunk's partial result is
/// computed by one thread and the partials are summed in chunk order, so results are bitwise
/// identical for any number of threads.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "sparsketch/common.hpp"
#include "sparsketch/detail/eigen.hpp"
#include "sparsketch/parallel.hpp"

namespace sparsketch {

namespace detail {

constexpr std::int64_t kChunkRows = 4096;  ///< rows per partial sum (fixed: determinism)
constexpr std::int64_t kSubRows = 128;     ///< rows per cache-resident sub-block

template <class T>
using ColMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
using DynStride = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;

template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using OStride = Eigen::OuterStride<Eigen::Dynamic>;

/// Calls f(block) with rows [r0, r0 + rows) of A mapped as an Eigen matrix whose inner stride
/// is 1 when A is C- or F-contiguous along a dimension (so Eigen's vectorised GEMV/GEMM apply),
/// and a general strided map otherwise.
template <class T, class F>
void with_block(const ConstDenseView<T>& A, std::int64_t r0, std::int64_t rows, F&& f) {
  const T* p = &A(r0, 0);
  if (A.col_stride == 1 || A.n_cols == 1) {  // rows contiguous: A[r0:r0+rows] = RowMajor map
    f(Eigen::Map<const RowMat<T>, 0, OStride>(p, rows, A.n_cols,
                                              OStride(A.n_cols == 1 ? 1 : A.row_stride)));
  } else if (A.row_stride == 1) {  // columns contiguous
    f(Eigen::Map<const ColMat<T>, 0, OStride>(p, rows, A.n_cols, OStride(A.col_stride)));
  } else {
    f(Eigen::Map<const ColMat<T>, 0, DynStride>(p, rows, A.n_cols,
                                                DynStride(A.col_stride, A.row_stride)));
  }
}

/// A copy of the view as an Eigen matrix (column-major by default; RowMat<T> when rows of it
/// are used as contiguous vectors).
template <class T, class Mat = ColMat<T>>
Mat copy_in(const ConstDenseView<T>& X) {
  Mat M(X.n_rows, X.n_cols);
  for (std::int64_t j = 0; j < X.n_cols; ++j)
    for (std::int64_t i = 0; i < X.n_rows; ++i) M(i, j) = X(i, j);
  return M;
}

/// Sum per-chunk partials (each d x k, contiguous) in chunk order into out.
template <class T>
void sum_partials(const std::vector<ColMat<T>>& parts, const DenseView<T>& out) {
  for (std::int64_t j = 0; j < out.n_cols; ++j)
    for (std::int64_t i = 0; i < out.n_rows; ++i) {
      T s = T(0);
      for (const auto& p : parts) s += p(i, j);
      out(i, j) = s;
    }
}

/// Runs body(r_begin, r_end, part, sums) for every fixed chunk of chunk_rows rows, in
/// parallel (part: d x k and sums: n_sums x 1, both zeroed, private to the chunk), then writes
/// the chunk-ordered sums of `part` into out and of `sums` into sums_out (if not null). The
/// chunking depends on n (and chunk_rows) only, so the result does not depend on the thread
/// count.
template <class T, class Body>
void for_chunks(std::int64_t n, std::int64_t d, std::int64_t k, std::int64_t n_sums, int n_threads,
                const DenseView<T>& out, T* sums_out, Body&& body,
                std::int64_t chunk_rows = kChunkRows) {
  const std::int64_t chunks = n_blocks(n, chunk_rows);
  std::vector<ColMat<T>> parts(static_cast<std::size_t>(chunks));
  std::vector<ColMat<T>> sums(static_cast<std::size_t>(chunks));
  const int nt = resolve_threads(n_threads);
  const int threads = chunks < 2 ? 1 : nt;
  ExceptionCapture ex;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(dynamic, 1)
  for (std::int64_t c = 0; c < chunks; ++c)
    ex.run([&] {
      ColMat<T>& part = parts[static_cast<std::size_t>(c)];
      ColMat<T>& sm = sums[static_cast<std::size_t>(c)];
      part.setZero(d, k);
      sm.setZero(n_sums, 1);
      body(c * chunk_rows, std::min(n, (c + 1) * chunk_rows), part, sm);
    });
  ex.rethrow();
  sum_partials(parts, out);
  if (sums_out)
    for (std::int64_t q = 0; q < n_sums; ++q) {
      T acc = T(0);
      for (const auto& p : sums) acc += p(q, 0);
      sums_out[q] = acc;
    }
}

}  // namespace detail

/// Out (d x k) = A^T (A W) for dense A (n x d, any strides) and W (d x k). One pass over A.
/// Cost: 4 n d k flops. Threads: OpenMP over fixed row chunks; bitwise thread-independent.
template <class T>
void gram_apply(const ConstDenseView<T>& A, const ConstDenseView<T>& W, const DenseView<T>& out,
                int n_threads = 0) {
  if (W.n_rows != A.n_cols || out.n_rows != A.n_cols || out.n_cols != W.n_cols)
    throw value_error("gram_apply: shape mismatch");
  const detail::ColMat<T> w = detail::copy_in(W);
  detail::for_chunks<T>(A.n_rows, A.n_cols, W.n_cols, 0, n_threads, out, nullptr,
                        [&](std::int64_t r_begin, std::int64_t r_end, auto& part, auto&) {
                          detail::ColMat<T> t;
                          for (std::int64_t r0 = r_begin; r0 < r_end; r0 += detail::kSubRows) {
                            const std::int64_t rows = std::min(detail::kSubRows, r_end - r0);
                            detail::with_block(A, r0, rows, [&](const auto& Ab) {
                              t.noalias() = Ab * w;                  // t = A[blk] @ W
                              part.noalias() += Ab.transpose() * t;  // part += A[blk].T @ t
                            });
                          }
                        });
}

/// Same for A in CSR form (n x d). Cost 4 nnz(A) k flops.
template <class T, class I>
void gram_apply(const CsrView<T, I>& A, const ConstDenseView<T>& W, const DenseView<T>& out,
                int n_threads = 0) {
  if (W.n_rows != A.n_cols || out.n_rows != A.n_cols || out.n_cols != W.n_cols)
    throw value_error("gram_apply: shape mismatch");
  const std::int64_t k = W.n_cols;
  const detail::ColMat<T> w = detail::copy_in(W);
  detail::for_chunks<T>(A.n_rows, A.n_cols, k, 0, n_threads, out, nullptr,
                        [&](std::int64_t r_begin, std::int64_t r_end, auto& part, auto&) {
                          std::vector<T> t(static_cast<std::size_t>(k));
                          for (std::int64_t i = r_begin; i < r_end; ++i) {
                            std::fill(t.begin(), t.end(), T(0));
                            for (std::int64_t p = A.indptr[i]; p < A.indptr[i + 1]; ++p)
                              for (std::int64_t q = 0; q < k; ++q)
                                t[q] += A.values[p] * w(A.indices[p], q);  // t = a_i . W
                            for (std::int64_t p = A.indptr[i]; p < A.indptr[i + 1]; ++p)
                              for (std::int64_t q = 0; q < k; ++q)
                                part(A.indices[p], q) += A.values[p] * t[q];  // += a_i^T t
                          }
                        });
}

namespace detail {
inline void check_residual_shapes(std::int64_t n, std::int64_t d, std::int64_t bn, std::int64_t bk,
                                  std::int64_t xn, std::int64_t k, std::int64_t gn,
                                  std::int64_t gk) {
  if (bn != n || bk != k || xn != d || gn != d || gk != k)
    throw value_error("residual_gradient: shape mismatch");
}

/// Splits the sums of for_chunks (k squared residual norms, then ||A||_F^2) into rr and frob2.
template <class T>
void split_sums(const std::vector<T>& sums, std::int64_t k, T* rr, T* frob2) {
  for (std::int64_t q = 0; q < k; ++q) rr[q] = sums[static_cast<std::size_t>(q)];
  if (frob2) *frob2 = sums[static_cast<std::size_t>(k)];
}
}  // namespace detail

/// G (d x k) = A^T R and rr[q] = ||R[:, q]||^2 with R = B - A X (n x k), in one pass over A;
/// frob2 (if not null) receives ||A||_F^2 from the same pass. Dense A.
template <class T>
void residual_gradient(const ConstDenseView<T>& A, const ConstDenseView<T>& B,
                       const ConstDenseView<T>& X, const DenseView<T>& G, T* rr, T* frob2,
                       int n_threads = 0) {
  const std::int64_t d = A.n_cols, k = X.n_cols;
  detail::check_residual_shapes(A.n_rows, d, B.n_rows, B.n_cols, X.n_rows, k, G.n_rows, G.n_cols);
  const detail::ColMat<T> x = detail::copy_in(X);
  std::vector<T> sums(static_cast<std::size_t>(k + 1));
  detail::for_chunks<T>(A.n_rows, d, k, k + 1, n_threads, G, sums.data(),
                        [&](std::int64_t r_begin, std::int64_t r_end, auto& part, auto& sm) {
                          detail::ColMat<T> r;
                          for (std::int64_t r0 = r_begin; r0 < r_end; r0 += detail::kSubRows) {
                            const std::int64_t rows = std::min(detail::kSubRows, r_end - r0);
                            r.resize(rows, k);
                            for (std::int64_t q = 0; q < k; ++q)
                              for (std::int64_t i = 0; i < rows; ++i) r(i, q) = B(r0 + i, q);
                            detail::with_block(A, r0, rows, [&](const auto& Ab) {
                              r.noalias() -= Ab * x;                 // r = B[blk] - A[blk] @ X
                              part.noalias() += Ab.transpose() * r;  // G += A[blk].T @ r
                              if (frob2) sm(k, 0) += Ab.squaredNorm();
                            });
                            for (std::int64_t q = 0; q < k; ++q) sm(q, 0) += r.col(q).squaredNorm();
                          }
                        });
  detail::split_sums(sums, k, rr, frob2);
}

/// Same for A in CSR form.
template <class T, class I>
void residual_gradient(const CsrView<T, I>& A, const ConstDenseView<T>& B,
                       const ConstDenseView<T>& X, const DenseView<T>& G, T* rr, T* frob2,
                       int n_threads = 0) {
  const std::int64_t d = A.n_cols, k = X.n_cols;
  detail::check_residual_shapes(A.n_rows, d, B.n_rows, B.n_cols, X.n_rows, k, G.n_rows, G.n_cols);
  const detail::ColMat<T> x = detail::copy_in(X);
  std::vector<T> sums(static_cast<std::size_t>(k + 1));
  detail::for_chunks<T>(A.n_rows, d, k, k + 1, n_threads, G, sums.data(),
                        [&](std::int64_t r_begin, std::int64_t r_end, auto& part, auto& sm) {
                          std::vector<T> r(static_cast<std::size_t>(k));
                          for (std::int64_t i = r_begin; i < r_end; ++i) {
                            for (std::int64_t q = 0; q < k; ++q) r[q] = B(i, q);
                            for (std::int64_t p = A.indptr[i]; p < A.indptr[i + 1]; ++p) {
                              for (std::int64_t q = 0; q < k; ++q)
                                r[q] -= A.values[p] * x(A.indices[p], q);
                              if (frob2) sm(k, 0) += A.values[p] * A.values[p];
                            }
                            for (std::int64_t p = A.indptr[i]; p < A.indptr[i + 1]; ++p)
                              for (std::int64_t q = 0; q < k; ++q)
                                part(A.indices[p], q) += A.values[p] * r[q];
                            for (std::int64_t q = 0; q < k; ++q) sm(q, 0) += r[q] * r[q];
                          }
                        });
  detail::split_sums(sums, k, rr, frob2);
}

}  // namespace sparsketch
