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

// clang-format off
// Eigen's configuration first (no Eigen-internal threading, MPL-2.0 only)
#include "sparsketch/detail/eigen.hpp"
// clang-format on
#include <Eigen/QR>
#include <Eigen/SVD>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "sparsketch/common.hpp"
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

/// Rows per product block of weighted_gram with P: large enough that the GEMM / SYRK calls (and
/// Eigen's packing buffers, allocated per call) are few, small enough for the L2/L3 caches.
/// Fixed: determinism.
constexpr std::int64_t kGramRows = 4096;

/// Copies the chunk-summed r x (r + k) block into G (first r columns) and C (the rest);
/// lower_only: only the lower triangle of the G block was accumulated (mirrored here).
template <class T>
void split_gram(const ColMat<T>& acc, std::int64_t r, std::int64_t k, const DenseView<T>& G,
                const DenseView<T>* C, bool lower_only = false) {
  for (std::int64_t j = 0; j < r; ++j)
    for (std::int64_t i = 0; i < r; ++i)
      G(i, j) = lower_only ? acc(std::max(i, j), std::min(i, j)) : acc(i, j);
  if (C)
    for (std::int64_t j = 0; j < k; ++j)
      for (std::int64_t i = 0; i < r; ++i) (*C)(i, j) = acc(i, r + j);
}

/// u = A[r0:r0+rows] @ m for CSR A, scattering rows of m (row-major) in index order.
template <class T, class I>
void csr_block_product(const CsrView<T, I>& A, std::int64_t r0, std::int64_t rows,
                       const RowMat<T>& m, RowMat<T>& u) {
  u.setZero(rows, m.cols());
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t q = A.indptr[r0 + i]; q < A.indptr[r0 + i + 1]; ++q)
      u.row(i).noalias() += A.values[q] * m.row(A.indices[q]);
}

/// The row-block product of each matrix kind: product(r0, rows, u) sets u = A[blk] @ M.
template <class T>
auto block_product(const ConstDenseView<T>& A, const ConstDenseView<T>& M, bool upper = false) {
  return [&A, m = copy_in(M), upper](std::int64_t r0, std::int64_t rows, RowMat<T>& u) {
    with_block(A, r0, rows, [&](const auto& Ab) {
      if (upper)  // M upper triangular: TRMM, half the flops of the GEMM
        u.noalias() = Ab * m.template triangularView<Eigen::Upper>();
      else
        u.noalias() = Ab * m;
    });
  };
}
template <class T, class I>
auto block_product(const CsrView<T, I>& A, const ConstDenseView<T>& M, bool = false) {
  // M row-major: a_i @ M is a sum of contiguous rows of M
  return [&A, m = copy_in<T, RowMat<T>>(M)](std::int64_t r0, std::int64_t rows, RowMat<T>& u) {
    csr_block_product(A, r0, rows, m, u);
  };
}

/// row_norms_product over fixed blocks of kNormRows rows; `product` as block_product gives.
template <class T, class Product, class Work = Eigen::Matrix<T, 0, 0>>
void row_norms_blocks(std::int64_t n, const T* w, T* out, int n_threads, const Product& product,
                      Work* = nullptr) {
  const std::int64_t blocks = n_blocks(n, kNormRows);
  const int nt = blocks < 2 ? 1 : resolve_threads(n_threads);
  ExceptionCapture ex;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    RowMat<T> t;  // per-thread workspaces, reused by every block (no allocation per block)
    Work work{};
#pragma omp for schedule(dynamic, 4)
    for (std::int64_t b = 0; b < blocks; ++b)
      ex.run([&] {
        const std::int64_t r0 = b * kNormRows, rows = std::min(kNormRows, n - r0);
        if constexpr (std::is_same<Work, Eigen::Matrix<T, 0, 0>>::value)
          product(r0, rows, t);  // t = A[blk] @ M
        else
          product(r0, rows, t, work);
        for (std::int64_t i = 0; i < rows; ++i) {
          const T s = t.row(i).squaredNorm();
          out[r0 + i] = w ? w[r0 + i] * s : s;
        }
      });
  }
  ex.rethrow();
}

/// Adds t^T diag(w) t to the first r columns of part and t^T diag(w) B[blk] to the next k
/// (t: rows x r, the block's A P; tw is workspace).
template <class T, class TM>
void gram_block(const TM& t, std::int64_t r0, const T* w, const ConstDenseView<T>* B, ColMat<T>& tw,
                ColMat<T>& part) {
  const std::int64_t rows = t.rows(), r = t.cols(), k = B ? B->n_cols : 0;
  tw = t;
  if (w)
    for (std::int64_t i = 0; i < rows; ++i) tw.row(i) *= w[r0 + i];  // tw = w * t
  part.leftCols(r).noalias() += t.transpose() * tw;                  // G += t.T @ tw
  if (k > 0) {
    ColMat<T> bb(rows, k);
    for (std::int64_t q = 0; q < k; ++q)
      for (std::int64_t i = 0; i < rows; ++i) bb(i, q) = (*B)(r0 + i, q);
    part.rightCols(k).noalias() += tw.transpose() * bb;  // C += tw.T @ B[blk]
  }
}

/// Adds the lower triangle of t^T diag(w) t to the first r columns of part (a symmetric rank
/// update, half the flops of gram_block's product; w >= 0) and t^T diag(w) B[blk] to the next
/// k. ts is workspace.
template <class T>
void gram_block_lower(const RowMat<T>& t, std::int64_t r0, const T* w, const ConstDenseView<T>* B,
                      RowMat<T>& ts, ColMat<T>& part) {
  const std::int64_t rows = t.rows(), r = t.cols(), k = B ? B->n_cols : 0;
  const RowMat<T>* u = &t;
  if (w) {
    ts = t;
    for (std::int64_t i = 0; i < rows; ++i) ts.row(i) *= std::sqrt(w[r0 + i]);
    u = &ts;
  }
  part.leftCols(r).template selfadjointView<Eigen::Lower>().rankUpdate(u->transpose());
  if (k > 0) {
    ColMat<T> bb(rows, k);
    for (std::int64_t q = 0; q < k; ++q)
      for (std::int64_t i = 0; i < rows; ++i)
        bb(i, q) = w ? w[r0 + i] * (*B)(r0 + i, q) : (*B)(r0 + i, q);
    part.rightCols(k).noalias() += t.transpose() * bb;  // C += t.T @ diag(w) B[blk]
  }
}

/// The chunked reduction of weighted_gram: body(r_begin, r_end, part) accumulates the chunk's
/// r x (r + k) partial; the chunk-ordered sum is split into G and C.
template <class T, class Body>
void gram_chunks(std::int64_t n, std::int64_t r, std::int64_t k, int n_threads,
                 const DenseView<T>& G, const DenseView<T>* C, Body&& body,
                 bool lower_only = false) {
  ColMat<T> acc(r, r + k);
  const DenseView<T> accv{acc.data(), r, r + k, 1, r};
  for_chunks<T>(
      n, r, r + k, 0, n_threads, accv, nullptr,
      [&](std::int64_t r_begin, std::int64_t r_end, auto& part, auto&) {
        body(r_begin, r_end, part);
      },
      gram_chunk_rows(n, r, k));
  split_gram(acc, r, k, G, C, lower_only);
}

}  // namespace detail

/// out[i] = w[i] * ||A[i, :] @ M||^2 for dense A (n x d, any strides) or CSR A, and M (d x k);
/// w may be null (all ones). Cost 2 n d k (dense) or 2 nnz(A) k (CSR) flops, one pass over A.
/// Threads: OpenMP over fixed blocks of rows; each output depends only on its row, so results
/// are thread-count independent.
template <class AView, class T>
void row_norms_product(const AView& A, const ConstDenseView<T>& M, const T* w, T* out,
                       int n_threads = 0) {
  if (M.n_rows != A.n_cols) throw value_error("row_norms_product: M must have d rows");
  detail::row_norms_blocks(A.n_rows, w, out, n_threads, detail::block_product(A, M));
}

/// Same for dense float64 A with the product a_i M computed in float32 (A's blocks and M
/// rounded to float32, float32 accumulation; the squared norms are summed in float64), about
/// twice the speed of the float64 product. Error: |fl(a_i M) - a_i M| <= (d + 2) u32 |a_i| |M|
/// entrywise (u32 = 2^-24), so for M of rank d the relative error of ||a_i M|| is at most
/// (d + 2) u32 ||M||_F / sigma_min(M) <= (d + 2) u32 sqrt(k) kappa(M): callers use it only
/// where that bound is small (approximate leverage scores with a well-conditioned M).
inline void row_norms_product_f32(const ConstDenseView<double>& A, const ConstDenseView<double>& M,
                                  const double* w, double* out, int n_threads = 0) {
  if (M.n_rows != A.n_cols) throw value_error("row_norms_product: M must have d rows");
  const detail::ColMat<float> mf = detail::copy_in(M).template cast<float>();
  using Work = std::pair<detail::RowMat<float>, detail::RowMat<float>>;  // A block, product
  detail::row_norms_blocks(
      A.n_rows, w, out, n_threads,
      [&](std::int64_t r0, std::int64_t rows, detail::RowMat<double>& u, Work& ws) {
        detail::with_block(A, r0, rows, [&](const auto& Ab) {
          ws.first = Ab.template cast<float>();
          ws.second.noalias() = ws.first * mf;  // blocked GEMM, then widen
          u = ws.second.template cast<double>();
        });
      },
      static_cast<Work*>(nullptr));
}

/// G (r x r) = sum_i w_i (a_i P)^T (a_i P) and, when B is given (n x k), C (r x k) =
/// sum_i w_i (a_i P)^T B[i, :]; dense or CSR A (n x d). P (d x r) may be null: the identity
/// (r = d). w (nonnegative) may be null (all ones). Cost, one pass over A: dense 2 n d r (A P) +
/// n r (r + 2 k) (a symmetric rank update for G); CSR with P 2 nnz(A) r + n r (r + 2 k); dense
/// without P 2 n d (d + k); CSR without P sparse outer products, sum_i nnz(a_i)^2 + 2 nnz(A) k.
/// p_upper: P is upper triangular (zeros below the diagonal), so dense A P costs n d r flops
/// (TRMM). Threads: OpenMP over fixed chunks (detail::gram_chunk_rows); bitwise
/// thread-independent.
template <class AView, class T>
void weighted_gram(const AView& A, const ConstDenseView<T>* P, const T* w,
                   const ConstDenseView<T>* B, const DenseView<T>& G, const DenseView<T>* C,
                   int n_threads = 0, bool p_upper = false) {
  const std::int64_t n = A.n_rows, d = A.n_cols;
  const std::int64_t r = P ? P->n_cols : d, k = B ? B->n_cols : 0;
  detail::check_gram_shapes(n, d, P ? P->n_rows : d, r, B ? B->n_rows : n, k, G.n_rows, G.n_cols,
                            C ? C->n_rows : r, C ? C->n_cols : k);
  constexpr bool dense = std::is_same<AView, ConstDenseView<T>>::value;
  if (!P) {
    if constexpr (dense) {  // t = A[blk] itself
      detail::gram_chunks<T>(n, r, k, n_threads, G, C, [&](auto r_begin, auto r_end, auto& part) {
        detail::ColMat<T> tw;
        for (std::int64_t r0 = r_begin; r0 < r_end; r0 += detail::kSubRows) {
          const std::int64_t rows = std::min(detail::kSubRows, r_end - r0);
          detail::with_block(A, r0, rows,
                             [&](const auto& Ab) { detail::gram_block(Ab, r0, w, B, tw, part); });
        }
      });
    } else {  // sparse outer products straight into the partial
      detail::gram_chunks<T>(n, r, k, n_threads, G, C, [&](auto r_begin, auto r_end, auto& part) {
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
      });
    }
    return;
  }
  if (p_upper && P->n_rows != P->n_cols) throw value_error("weighted_gram: P must be square");
  const auto product = detail::block_product(A, *P, p_upper);
  detail::gram_chunks<T>(
      n, r, k, n_threads, G, C,
      [&](auto r_begin, auto r_end, auto& part) {
        // Per-thread workspaces kept across chunks and calls: no allocation per chunk (with
        // MALLOC_TRIM_THRESHOLD_ set, as dask.distributed does, every large allocation would
        // be fresh pages from the kernel).
        thread_local detail::RowMat<T> t, ts;
        for (std::int64_t r0 = r_begin; r0 < r_end; r0 += detail::kGramRows) {
          const std::int64_t rows = std::min(detail::kGramRows, r_end - r0);
          product(r0, rows, t);  // t = A[blk] @ P
          detail::gram_block_lower(t, r0, w, B, ts, part);
        }
      },
      true);
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
/// Dense or CSR A. Cost 2 n d r (dense; 2 nnz(A) r for CSR) + 2 n r^2 flops. Deterministic (fixed
/// chunks, chunk-ordered sums, max).
template <class AView, class T>
double lewis_step(const AView& A, const ConstDenseView<T>& M, const double* w, double p, double eta,
                  double* w_out, const DenseView<T>& G, int n_threads = 0) {
  const std::int64_t n = A.n_rows, r = M.n_cols;
  if (M.n_rows != A.n_cols || G.n_rows != r || G.n_cols != r)
    throw value_error("lewis_step: shape mismatch");
  const auto product = detail::block_product(A, M);
  const std::int64_t chunk = detail::gram_chunk_rows(n, r, 0);
  std::vector<double> changes(static_cast<std::size_t>(n_blocks(n, chunk)), 0.0);
  detail::for_chunks<T>(
      n, r, r, 0, n_threads, G, nullptr,
      [&](std::int64_t r_begin, std::int64_t r_end, auto& part, auto&) {
        detail::RowMat<T> u;
        detail::ColMat<T> uw;
        double ch = 0.0;
        for (std::int64_t r0 = r_begin; r0 < r_end; r0 += detail::kSubRows) {
          product(r0, std::min(detail::kSubRows, r_end - r0), u);  // u = A[blk] @ M
          ch = std::max(ch, detail::lewis_block<T>(u, r0, w, p, eta, w_out, part, uw));
        }
        changes[static_cast<std::size_t>(r_begin / chunk)] = ch;
      },
      chunk);
  double change = 0.0;
  for (double c : changes) change = std::max(change, c);
  return change;
}

/// Singular values (descending, into sv: min(m, d)) and right singular vectors (rows of Vt:
/// min(m, d) x d) of a small dense matrix Y (m x d, any strides), e.g. the sketch S A whose
/// SVD gives the preconditioner of A. Householder QR reduces a tall Y to its d x d triangle,
/// then a divide-and-conquer SVD (Eigen::BDCSVD) factors that. Single-threaded, no BLAS: the
/// caller's OpenMP passes are never slowed by a BLAS thread pool woken in between.
inline void small_svd(const ConstDenseView<double>& Y, double* sv, const DenseView<double>& Vt) {
  using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic>;
  const std::int64_t m = Y.n_rows, d = Y.n_cols, k = std::min(m, d);
  if (Vt.n_rows != k || Vt.n_cols != d) throw value_error("Vt: expected min(m, d) x d");
  if (k == 0) return;
  Mat X(m, d);
  for (std::int64_t j = 0; j < d; ++j)
    for (std::int64_t i = 0; i < m; ++i) X(i, j) = Y(i, j);
  if (m > d) {
    Eigen::HouseholderQR<Eigen::Ref<Mat>> qr(X);  // in place: R in the upper triangle
    Mat R = X.topRows(d).triangularView<Eigen::Upper>();
    X = std::move(R);
  }
  Eigen::BDCSVD<Mat> svd(X, Eigen::ComputeThinV);
  if (svd.info() != Eigen::Success) throw std::runtime_error("small_svd: the SVD did not converge");
  const auto& s = svd.singularValues();
  const auto& V = svd.matrixV();
  for (std::int64_t i = 0; i < k; ++i) {
    sv[i] = s(i);
    for (std::int64_t j = 0; j < d; ++j) Vt(i, j) = V(j, i);
  }
}

}  // namespace sparsketch
