#pragma once
/// \file leverage.hpp
/// One-pass kernels behind leverage scores, Lewis weights, sensitivity sampling and IRLS
/// (sparsketch.leverage_scores, lewis_weights, sample_rows, lp_regression):
///
///   row_norms_product: out[i] = w_i ||A[i, :] M||^2                       (M: d x k)
///   weighted_gram:     G = sum_i w_i (a_i P)^T (a_i P),  C = sum_i w_i (a_i P)^T B[i, :]
///                      (P: d x r, or the identity; B: n x k, optional)
///
/// With M = R^-1 from a QR of A (or of a sketch of A) the first gives exact (approximate)
/// leverage scores, tau_i = ||e_i^T A R^-1||^2 (Drineas, Magdon-Ismail, Mahoney, Woodruff,
/// "Fast approximation of matrix coherence and statistical leverage", JMLR 2012, Alg. 1); the
/// second is the Gram matrix of CholeskyQR on the preconditioned A P (randomized
/// preconditioning makes CholeskyQR stable: A P has condition number O(1)), and the weighted
/// normal equations A^T W A x = A^T W b of each IRLS step.
///
/// Determinism: row_norms_product is row-local (each row's value is computed by one thread
/// from fixed blocks of rows); weighted_gram sums per-chunk partials in chunk order over a
/// chunking that depends on (n, r, k) only. Both are bitwise identical for any thread count.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "sparsketch/common.hpp"
#include "sparsketch/detail/eigen.hpp"
#include "sparsketch/lstsq.hpp"
#include "sparsketch/parallel.hpp"

namespace sparsketch {

namespace detail {

constexpr std::int64_t kNormRows = 256;  ///< rows per block of row_norms_product (fixed)

/// Rows per chunk of weighted_gram: kChunkRows, or more so that all chunk partials
/// (chunks x r x (r + k) scalars) stay within about 32 M elements. Depends on sizes only.
inline std::int64_t gram_chunk_rows(std::int64_t n, std::int64_t r, std::int64_t k) {
  const std::int64_t per = std::max<std::int64_t>(1, checked_mul(r, r + k, "weighted_gram"));
  const std::int64_t max_chunks = std::max<std::int64_t>(1, (std::int64_t(1) << 25) / per);
  const std::int64_t rows = (n + max_chunks - 1) / max_chunks;
  return std::max(kChunkRows, rows);
}

inline void check_gram_shapes(std::int64_t n, std::int64_t d, std::int64_t p_rows, std::int64_t r,
                              std::int64_t b_rows, std::int64_t k, std::int64_t g_rows,
                              std::int64_t g_cols, std::int64_t c_rows, std::int64_t c_cols) {
  if (p_rows != d) throw value_error("weighted_gram: P must have d rows");
  if (g_rows != r || g_cols != r) throw value_error("weighted_gram: G must be r x r");
  if (k > 0 && (b_rows != n || c_rows != r || c_cols != k))
    throw value_error("weighted_gram: B must be n x k and C r x k");
}

/// Copies the chunk-summed r x (r + k) block into G (first r columns) and C (the rest).
template <class T>
void split_gram(const ColMat<T>& acc, std::int64_t r, std::int64_t k, const DenseView<T>& G,
                const DenseView<T>* C) {
  for (std::int64_t j = 0; j < r; ++j)
    for (std::int64_t i = 0; i < r; ++i) G(i, j) = acc(i, j);
  if (C)
    for (std::int64_t j = 0; j < k; ++j)
      for (std::int64_t i = 0; i < r; ++i) (*C)(i, j) = acc(i, r + j);
}

}  // namespace detail

/// out[i] = w[i] * ||A[i, :] @ M||^2 for dense A (n x d, any strides) and M (d x k); w may be
/// null (all ones). Cost 2 n d k flops, one pass over A. Threads: OpenMP over fixed blocks of
/// rows; each output depends only on its row, so results are thread-count independent.
template <class T>
void row_norms_product(const ConstDenseView<T>& A, const ConstDenseView<T>& M, const T* w, T* out,
                       int n_threads = 0) {
  if (M.n_rows != A.n_cols) throw value_error("row_norms_product: M must have d rows");
  const std::int64_t n = A.n_rows;
  const detail::ColMat<T> m = detail::copy_in(M);
  const std::int64_t blocks = n_blocks(n, detail::kNormRows);
  const int nt = blocks < 2 ? 1 : resolve_threads(n_threads);
  ExceptionCapture ex;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(dynamic, 4)
  for (std::int64_t b = 0; b < blocks; ++b)
    ex.run([&] {
      const std::int64_t r0 = b * detail::kNormRows;
      const std::int64_t rows = std::min(detail::kNormRows, n - r0);
      detail::RowMat<T> t;
      detail::with_block(A, r0, rows, [&](const auto& Ab) {
        t.noalias() = Ab * m;  // t = A[blk] @ M
      });
      for (std::int64_t i = 0; i < rows; ++i) {
        const T s = t.row(i).squaredNorm();
        out[r0 + i] = w ? w[r0 + i] * s : s;
      }
    });
  ex.rethrow();
}

/// Same for A in CSR form (n x d). Cost 2 nnz(A) k flops.
template <class T, class I>
void row_norms_product(const CsrView<T, I>& A, const ConstDenseView<T>& M, const T* w, T* out,
                       int n_threads = 0) {
  if (M.n_rows != A.n_cols) throw value_error("row_norms_product: M must have d rows");
  const std::int64_t n = A.n_rows, k = M.n_cols;
  const detail::RowMat<T> m = [&] {  // rows of M contiguous: t += v * M[j, :]
    detail::RowMat<T> c(M.n_rows, k);
    for (std::int64_t i = 0; i < M.n_rows; ++i)
      for (std::int64_t j = 0; j < k; ++j) c(i, j) = M(i, j);
    return c;
  }();
  const std::int64_t blocks = n_blocks(n, detail::kNormRows);
  const int nt = blocks < 2 ? 1 : resolve_threads(n_threads);
  ExceptionCapture ex;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(dynamic, 4)
  for (std::int64_t b = 0; b < blocks; ++b)
    ex.run([&] {
      Eigen::Matrix<T, 1, Eigen::Dynamic> t(k);
      const std::int64_t r1 = std::min(n, (b + 1) * detail::kNormRows);
      for (std::int64_t i = b * detail::kNormRows; i < r1; ++i) {
        t.setZero();
        for (std::int64_t p = A.indptr[i]; p < A.indptr[i + 1]; ++p)
          t.noalias() += A.values[p] * m.row(A.indices[p]);  // t = a_i @ M
        const T s = t.squaredNorm();
        out[i] = w ? w[i] * s : s;
      }
    });
  ex.rethrow();
}

/// G (r x r) = sum_i w_i (a_i P)^T (a_i P) and, when B is given (n x k), C (r x k) =
/// sum_i w_i (a_i P)^T B[i, :]; dense A (n x d). P (d x r) may be null: the identity (r = d).
/// w may be null (all ones). Cost: 2 n d r (A P) + 2 n r (r + k) flops, one pass over A.
/// Threads: OpenMP over fixed chunks (detail::gram_chunk_rows); bitwise thread-independent.
template <class T>
void weighted_gram(const ConstDenseView<T>& A, const ConstDenseView<T>* P, const T* w,
                   const ConstDenseView<T>* B, const DenseView<T>& G, const DenseView<T>* C,
                   int n_threads = 0) {
  const std::int64_t n = A.n_rows, d = A.n_cols;
  const std::int64_t r = P ? P->n_cols : d, k = B ? B->n_cols : 0;
  detail::check_gram_shapes(n, d, P ? P->n_rows : d, r, B ? B->n_rows : n, k, G.n_rows, G.n_cols,
                            C ? C->n_rows : r, C ? C->n_cols : k);
  const detail::ColMat<T> pm = P ? detail::copy_in(*P) : detail::ColMat<T>();
  detail::ColMat<T> acc(r, r + k);
  const DenseView<T> accv{acc.data(), r, r + k, 1, r};
  detail::for_chunks<T>(
      n, r, r + k, 0, n_threads, accv, nullptr,
      [&](std::int64_t r_begin, std::int64_t r_end, auto& part, auto&) {
        detail::ColMat<T> t, tw;
        for (std::int64_t r0 = r_begin; r0 < r_end; r0 += detail::kSubRows) {
          const std::int64_t rows = std::min(detail::kSubRows, r_end - r0);
          detail::with_block(A, r0, rows, [&](const auto& Ab) {
            if (P)
              t.noalias() = Ab * pm;  // t = A[blk] @ P
            else
              t = Ab;
          });
          tw = t;
          if (w)
            for (std::int64_t i = 0; i < rows; ++i) tw.row(i) *= w[r0 + i];  // tw = w * t
          part.leftCols(r).noalias() += t.transpose() * tw;                  // G += t.T @ tw
          if (k > 0) {
            detail::ColMat<T> bb(rows, k);
            for (std::int64_t q = 0; q < k; ++q)
              for (std::int64_t i = 0; i < rows; ++i) bb(i, q) = (*B)(r0 + i, q);
            part.rightCols(k).noalias() += tw.transpose() * bb;  // C += tw.T @ B[blk]
          }
        }
      },
      detail::gram_chunk_rows(n, r, k));
  detail::split_gram(acc, r, k, G, C);
}

/// Same for A in CSR form (n x d). With P: cost 2 nnz(A) r + 2 n r (r + k) flops. Without P:
/// sparse outer products, cost sum_i nnz(a_i)^2 + 2 nnz(A) k.
template <class T, class I>
void weighted_gram(const CsrView<T, I>& A, const ConstDenseView<T>* P, const T* w,
                   const ConstDenseView<T>* B, const DenseView<T>& G, const DenseView<T>* C,
                   int n_threads = 0) {
  const std::int64_t n = A.n_rows, d = A.n_cols;
  const std::int64_t r = P ? P->n_cols : d, k = B ? B->n_cols : 0;
  detail::check_gram_shapes(n, d, P ? P->n_rows : d, r, B ? B->n_rows : n, k, G.n_rows, G.n_cols,
                            C ? C->n_rows : r, C ? C->n_cols : k);
  detail::RowMat<T> pm;
  if (P) {
    pm.resize(d, r);
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = 0; j < r; ++j) pm(i, j) = (*P)(i, j);
  }
  detail::ColMat<T> acc(r, r + k);
  const DenseView<T> accv{acc.data(), r, r + k, 1, r};
  detail::for_chunks<T>(
      n, r, r + k, 0, n_threads, accv, nullptr,
      [&](std::int64_t r_begin, std::int64_t r_end, auto& part, auto&) {
        if (!P) {  // sparse outer products straight into the partial
          for (std::int64_t i = r_begin; i < r_end; ++i) {
            const T wi = w ? w[i] : T(1);
            for (std::int64_t p = A.indptr[i]; p < A.indptr[i + 1]; ++p) {
              const T vp = wi * A.values[p];
              const std::int64_t cp = A.indices[p];
              for (std::int64_t q = A.indptr[i]; q < A.indptr[i + 1]; ++q)
                part(A.indices[q], cp) += vp * A.values[q];  // G[:, j] += w a_ij a_i
              for (std::int64_t q = 0; q < k; ++q) part(cp, r + q) += vp * (*B)(i, q);
            }
          }
          return;
        }
        detail::RowMat<T> t;
        detail::ColMat<T> tw;
        for (std::int64_t r0 = r_begin; r0 < r_end; r0 += detail::kSubRows) {
          const std::int64_t rows = std::min(detail::kSubRows, r_end - r0);
          t.setZero(rows, r);
          for (std::int64_t i = 0; i < rows; ++i)
            for (std::int64_t p = A.indptr[r0 + i]; p < A.indptr[r0 + i + 1]; ++p)
              t.row(i).noalias() += A.values[p] * pm.row(A.indices[p]);  // t = A[blk] @ P
          tw = t;
          if (w)
            for (std::int64_t i = 0; i < rows; ++i) tw.row(i) *= w[r0 + i];
          part.leftCols(r).noalias() += t.transpose() * tw;
          if (k > 0) {
            detail::ColMat<T> bb(rows, k);
            for (std::int64_t q = 0; q < k; ++q)
              for (std::int64_t i = 0; i < rows; ++i) bb(i, q) = (*B)(r0 + i, q);
            part.rightCols(k).noalias() += tw.transpose() * bb;
          }
        }
      },
      detail::gram_chunk_rows(n, r, k));
  detail::split_gram(acc, r, k, G, C);
}

namespace detail {

/// The Lewis-weight update of one row (see lewis_step); tau > 0.
inline double lewis_update(double tau, double w, double p, double eta) {
  const double lw = std::log(w);
  return std::exp((1.0 - eta) * lw + eta * 0.5 * p * (std::log(tau) - (1.0 - 2.0 / p) * lw));
}

/// Rows [r0, r0 + rows) of a block U = A[blk] @ M (rows x r, RowMajor): scores, new weights,
/// and G += U^T diag(s'^2) U; returns the block's max |log w' - log w|.
template <class T, class U>
double lewis_block(const U& u, std::int64_t r0, const double* w, double p, double eta,
                   double* w_out, ColMat<T>& part, ColMat<T>& uw) {
  const std::int64_t rows = u.rows();
  double change = 0.0;
  uw = u;
  for (std::int64_t i = 0; i < rows; ++i) {
    const double wi = w[r0 + i];
    double scale = 0.0;
    if (wi > 0.0) {
      const double s2 = std::pow(wi, 1.0 - 2.0 / p);  // s_i^2 = w_i^(1 - 2/p)
      const double tau = s2 * static_cast<double>(u.row(i).squaredNorm());
      if (tau > 0.0) {
        const double wn = lewis_update(tau, wi, p, eta);
        change = std::max(change, std::abs(std::log(wn) - std::log(wi)));
        w_out[r0 + i] = wn;
        scale = std::pow(wn, 1.0 - 2.0 / p);
      } else {
        w_out[r0 + i] = 0.0;
      }
    } else {
      w_out[r0 + i] = 0.0;
    }
    uw.row(i) *= static_cast<T>(scale);
  }
  part.noalias() += u.transpose() * uw;  // G += U^T diag(s'^2) U
  return change;
}

}  // namespace detail

/// One fused iteration of the l_p Lewis-weight fixed point (Cohen and Peng 2015), one pass
/// over A. Input: weights w (n, >= 0; 0 marks a zero row) and M (d x r) such that
/// diag(s) A M has orthonormal columns, s_i = w_i^(1/2 - 1/p). For each row:
///   u_i = a_i M,  tau_i = s_i^2 ||u_i||^2 (its leverage score in diag(s) A),
///   log w'_i = (1 - eta) log w_i + eta (p/2) (log tau_i - (1 - 2/p) log w_i)  (w' = 0 if tau = 0),
/// and G (r x r) = sum_i s'_i^2 u_i^T u_i, the Gram matrix of diag(s') A M, from which the
/// caller's Cholesky factor L gives the next M = M L^-T. Returns max_i |log w'_i - log w_i|.
/// Cost 2 n d r + 2 n r^2 flops. Deterministic (fixed chunks, chunk-ordered sums, max).
template <class T>
double lewis_step(const ConstDenseView<T>& A, const ConstDenseView<T>& M, const double* w, double p,
                  double eta, double* w_out, const DenseView<T>& G, int n_threads = 0) {
  const std::int64_t n = A.n_rows, r = M.n_cols;
  if (M.n_rows != A.n_cols || G.n_rows != r || G.n_cols != r)
    throw value_error("lewis_step: shape mismatch");
  const detail::ColMat<T> m = detail::copy_in(M);
  const std::int64_t chunk = detail::gram_chunk_rows(n, r, 0);
  std::vector<double> changes(static_cast<std::size_t>(n_blocks(n, chunk)), 0.0);
  detail::for_chunks<T>(
      n, r, r, 0, n_threads, G, nullptr,
      [&](std::int64_t r_begin, std::int64_t r_end, auto& part, auto&) {
        detail::RowMat<T> u;
        detail::ColMat<T> uw;
        double ch = 0.0;
        for (std::int64_t r0 = r_begin; r0 < r_end; r0 += detail::kSubRows) {
          const std::int64_t rows = std::min(detail::kSubRows, r_end - r0);
          detail::with_block(A, r0, rows, [&](const auto& Ab) { u.noalias() = Ab * m; });
          ch = std::max(ch, detail::lewis_block<T>(u, r0, w, p, eta, w_out, part, uw));
        }
        changes[static_cast<std::size_t>(r_begin / chunk)] = ch;
      },
      chunk);
  double change = 0.0;
  for (double c : changes) change = std::max(change, c);
  return change;
}

/// Same for A in CSR form.
template <class T, class I>
double lewis_step(const CsrView<T, I>& A, const ConstDenseView<T>& M, const double* w, double p,
                  double eta, double* w_out, const DenseView<T>& G, int n_threads = 0) {
  const std::int64_t n = A.n_rows, r = M.n_cols;
  if (M.n_rows != A.n_cols || G.n_rows != r || G.n_cols != r)
    throw value_error("lewis_step: shape mismatch");
  detail::RowMat<T> m(M.n_rows, r);
  for (std::int64_t i = 0; i < M.n_rows; ++i)
    for (std::int64_t j = 0; j < r; ++j) m(i, j) = M(i, j);
  const std::int64_t chunk = detail::gram_chunk_rows(n, r, 0);
  std::vector<double> changes(static_cast<std::size_t>(n_blocks(n, chunk)), 0.0);
  detail::for_chunks<T>(
      n, r, r, 0, n_threads, G, nullptr,
      [&](std::int64_t r_begin, std::int64_t r_end, auto& part, auto&) {
        detail::RowMat<T> u;
        detail::ColMat<T> uw;
        double ch = 0.0;
        for (std::int64_t r0 = r_begin; r0 < r_end; r0 += detail::kSubRows) {
          const std::int64_t rows = std::min(detail::kSubRows, r_end - r0);
          u.setZero(rows, r);
          for (std::int64_t i = 0; i < rows; ++i)
            for (std::int64_t q = A.indptr[r0 + i]; q < A.indptr[r0 + i + 1]; ++q)
              u.row(i).noalias() += A.values[q] * m.row(A.indices[q]);  // u = A[blk] @ M
          ch = std::max(ch, detail::lewis_block<T>(u, r0, w, p, eta, w_out, part, uw));
        }
        changes[static_cast<std::size_t>(r_begin / chunk)] = ch;
      },
      chunk);
  double change = 0.0;
  for (double c : changes) change = std::max(change, c);
  return change;
}

}  // namespace sparsketch
