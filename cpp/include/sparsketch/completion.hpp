#pragma once
/// \file completion.hpp
/// Matrix completion by alternating minimization (ALS): the per-row ridge regressions of one
/// half-step, and the sparse x dense kernels around them (SDDMM, residuals on the observed
/// set, sparse x dense products).
///
/// Model: R[i, j] ~ mu + b[i] + c[j] + U[i, :] . V[j, :] on the observed set Omega. One
/// half-step fixes V (and c) and solves, for every row i independently,
///
///   min_u  sum_{j in Omega_i} w_ij (y_ij - x_j . u)^2 + lambda_i ||u||^2,
///   x_j = [V[j, :], 1] (the 1 only with biases), u = [U[i, :], b[i]], y_ij = R[i, j] - mu - c[j],
///   lambda_i = reg * |Omega_i| (reg_by_count, "ALS-WR": Zhou et al., AAIM 2008) or reg,
///
/// with w_ij = 1 unless IRLS weights are given (robust losses). The column half-step is the
/// same call on the transposed matrix with the roles of U and V swapped.
///
/// Solvers per row (d = k or k + 1 unknowns, s = |Omega_i| observations):
///   - cholesky: G = X^T W X + lambda I formed in tiles by a register-blocked kernel, LLT;
///     O(s d^2 + d^3). Exact.
///   - cg: conjugate gradients on the normal equations without forming G, Jacobi
///     preconditioner, warm-started from the current factors; stops when the residual has
///     dropped by cg_tol relative to its warm-start value (an adaptive, inexact-Newton style
///     forcing term: the absolute accuracy tightens as ALS converges) or at the rounding floor;
///     O(s d) per iteration.
///   - sketch: the approach of Gu, Song, Yin, Zhang ("Low rank matrix completion via robust
///     alternating minimization in nearly linear time", ../shared/papers/
///     completion_robust_altmin.md): a sparse sign sketch S W^(1/2) X (sketch_factor * d rows,
///     sketch_nnz nonzeros per observation; O(sketch_nnz s d)) gives a preconditioner L L^T =
///     (S W^(1/2) X)^T (S W^(1/2) X) + lambda I (the same R factor as a QR of the stacked
///     sketch in exact arithmetic, at half the flops; only the preconditioner, so its squared
///     condition number does not limit the solution's accuracy), then preconditioned CG with the
///     same stopping rule; O(s d) per iteration plus O(d^3) for the preconditioner. The full
///     Gram matrix X^T X is never formed.
///     Rows with s <= sketch_factor * d (no smaller than their sketch) take the automatic
///     choice instead.
///   - automatic: per row, cholesky or cg by auto_prefers_exact (tiny rows and rows too large
///     to pack exactly, the others by a flop model).
/// The iterative solvers first copy a row's design rows into a contiguous per-thread buffer when
/// it fits (AlsWork::kPackMaxBytes = 16 MiB; the buffer starts at 1 MiB, the L2 size of the
/// reference machine, and grows with the rows), so each iteration is two dense matrix-vector
/// products streaming contiguous memory instead of a new gather of random rows of V.
/// Rows without observations get u = 0. A singular system (reg = 0 and s < d) is solved in the
/// minimum-norm sense (complete orthogonal decomposition), never producing NaN.
///
/// Threads: rows are independent; OpenMP dynamic scheduling over fixed row blocks (row
/// lengths are power-law). Results are bitwise identical for any thread count: each row's
/// arithmetic depends on the row only, and the sketch's random signs on (seed, entry index).

// clang-format off
// Eigen's configuration first (no Eigen-internal threading, MPL-2.0 only)
#include "sparsketch/detail/eigen.hpp"
// clang-format on
#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/QR>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "sparsketch/common.hpp"
#include "sparsketch/parallel.hpp"
#include "sparsketch/random.hpp"

namespace sparsketch {

enum class AlsSolver : int { cholesky = 0, cg = 1, sketch = 2, automatic = 3 };

/// Options of als_half_step.
struct AlsOptions {
  double reg = 0.1;          ///< ridge weight (>= 0)
  double bias_reg = -1.0;    ///< ridge weight of the biases (< 0: reg), scaled like reg
  bool reg_by_count = true;  ///< lambda_i = reg * |Omega_i| (else reg)
  AlsSolver solver = AlsSolver::automatic;
  double cg_tol = 1e-2;            ///< cg / sketch: stop when ||r|| <= cg_tol ||r_0||
  std::int64_t cg_max_iter = 0;    ///< 0: 2 d
  std::int64_t sketch_factor = 4;  ///< sketch rows = sketch_factor * d
  std::int64_t sketch_nnz = 4;     ///< nonzeros per observation in the sparse sign sketch
  std::uint64_t seed = 0;          ///< sketch signs and rows
  int n_threads = 0;
  /// Also return the weighted residual sum of squares of the solved rows (AlsStepInfo::sse).
  bool compute_sse = false;
};

/// Diagnostics of one half-step.
struct AlsStepInfo {
  std::int64_t rows = 0;           ///< rows with observations
  std::int64_t exact_rows = 0;     ///< solved by Cholesky
  std::int64_t cg_rows = 0;        ///< solved by CG
  std::int64_t sketch_rows = 0;    ///< solved by sketch-preconditioned CG
  std::int64_t iterations = 0;     ///< CG iterations, summed over rows
  std::int64_t singular_rows = 0;  ///< minimum-norm fallbacks
  /// With compute_sse: sum over rows of sum_p w_p (y_p - x_p . u)^2 at the new u (exact rows:
  /// y^T W y - 2 u^T X^T W y + u^T X^T W X u from the normal equations, in double, clamped at
  /// 0; iterative rows: from the residual vector). Summed per fixed row block, then in block
  /// order: the same for any thread count.
  double sse = 0.0;
};

namespace detail {

/// The automatic solver's choice for a row of s observations and d unknowns. Exact when the
/// row is tiny (s <= 8: exact, cheap and never NaN), when its design does not fit the packing
/// buffer (large rows: forming G reads the gathered rows once at compute-bound speed, while
/// every CG iteration would stream them from memory again), or when a cost model favours it:
/// G + LLT cost s d^2 / 2 + d^3 / 3 multiply-adds, CG about 8 iterations of 2 s d (the
/// measured average on MovieLens-shaped problems is 5-7). For k = 64 most rows go to CG; for
/// k <= ~20 most go to Cholesky.
inline bool auto_prefers_exact(std::int64_t s, std::int64_t d, bool packable) {
  if (s <= 8 || !packable) return true;
  const double sd = static_cast<double>(s), dd = static_cast<double>(d);
  return sd * dd * dd / 2 + dd * dd * dd / 3 <= 16.0 * sd * dd;
}

template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ColMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
template <class T>
using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;

/// The fixed side of a half-step: V (n x k, row-major, leading dimension k), optional biases.
template <class T>
struct FixedSide {
  const T* V;
  std::int64_t k;
  const T* other_bias;  ///< c (n) or null
  bool own_bias;        ///< solve for b[i] too (design column of ones)
  T mu;
  std::int64_t d() const { return k + (own_bias ? 1 : 0); }
};

/// Register-blocked Gram update G += X^T X, lower triangle only: X is a row-major tile (s x kp,
/// leading dimension kp), G column-major kp x kp, kp a multiple of kGramLanes<T>. Each block of
/// kGramLanes rows (one 64-byte SIMD register of T) by kGramCols columns of G is accumulated in
/// registers over the whole tile, so the tile is read from L1 once per block and nothing is
/// packed. Measured on the reference machine (AVX-512, k = 64, 128-row tiles, one core): 110
/// GFlop/s against 81 for Eigen's rankUpdate on the same tile.
template <class T>
inline constexpr int kGramLanes = static_cast<int>(64 / sizeof(T));
inline constexpr int kGramCols = 8;

template <class T>
inline void gram_block(const T* X, std::int64_t kp, std::int64_t s, std::int64_t a0,
                       std::int64_t b0, T* G) {
  constexpr int A = kGramLanes<T>;
  constexpr int B = kGramCols;
  T acc[B][A];
  for (int bb = 0; bb < B; ++bb)
    for (int aa = 0; aa < A; ++aa) acc[bb][aa] = T(0);
  for (std::int64_t p = 0; p < s; ++p) {
    const T* x = X + p * kp;
#pragma GCC unroll 8
    for (int bb = 0; bb < B; ++bb) {
      const T xb = x[b0 + bb];
#pragma GCC unroll 16
      for (int aa = 0; aa < A; ++aa) acc[bb][aa] += xb * x[a0 + aa];
    }
  }
  for (int bb = 0; bb < B; ++bb) {
    T* g = G + (b0 + bb) * kp + a0;
    for (int aa = 0; aa < A; ++aa) g[aa] += acc[bb][aa];
  }
}

template <class T>
void gram_update(const T* X, std::int64_t kp, std::int64_t s, T* G) {
  constexpr int A = kGramLanes<T>;
  for (std::int64_t a0 = 0; a0 < kp; a0 += A)
    for (std::int64_t b0 = 0; b0 < a0 + A; b0 += kGramCols) gram_block(X, kp, s, a0, b0, G);
}

/// Rows of the fixed factor matrix are gathered in observation order; prefetching the row
/// kPrefetch observations ahead hides most of the cache-miss latency (the item factors of a
/// large problem do not fit in the last-level cache).
inline constexpr std::int64_t kPrefetch = 12;
template <class T>
inline void prefetch_row(const T* x, std::int64_t k) {
  const char* c = reinterpret_cast<const char*>(x);
  const std::int64_t bytes = k * static_cast<std::int64_t>(sizeof(T));
#if defined(__GNUC__) || defined(__clang__)
  for (std::int64_t o = 0; o < bytes; o += 64) __builtin_prefetch(c + o, 0, 3);
#else
  (void)c;
  (void)bytes;
#endif
}

/// Per-thread workspace.
template <class T>
struct AlsWork {
  static constexpr std::int64_t kTile = 128;
  RowMat<T> tile, sk;
  ColMat<T> gram, gff, chol;  ///< d x d system; kp x kp factor block (gram_update); L
  Vec<T> ty, u, r, z, p, q, diag, b, xsum, lam;
  RowMat<T> pack;       ///< the row's design sqrt(w) X (s x d), when can_pack(s)
  Vec<T> py, pt;        ///< sqrt(w) y and scratch, same length
  double yy = 0.0;      ///< y^T W y of the row (accumulate_normal_equations)
  bool packed = false;  ///< pack holds the current row's design
  std::int64_t kp = 0;  ///< k rounded up to a multiple of kGramLanes<T>
  /// Rows of at most kPackMaxBytes of design are packed for the iterative solvers; the buffer
  /// starts at kPackBytes and grows to the longest row packed so far.
  static constexpr std::int64_t kPackBytes = 1024 * 1024;
  static constexpr std::int64_t kPackMaxBytes = std::int64_t{16} << 20;
  /// Whether a row of s observations is packed (design of s x gram.cols() entries).
  bool can_pack(std::int64_t s) const {
    return s * gram.cols() * static_cast<std::int64_t>(sizeof(T)) <= kPackMaxBytes;
  }
  /// Makes room for a packed row of s observations (can_pack(s)).
  void reserve_pack(std::int64_t s) {
    if (s <= pack.rows()) return;
    const std::int64_t rows = std::max<std::int64_t>(
        s,
        std::min<std::int64_t>(
            2 * pack.rows(), kPackMaxBytes / (gram.cols() * static_cast<std::int64_t>(sizeof(T)))));
    pack.resize(rows, gram.cols());
    py.resize(rows);
    pt.resize(rows);
  }
  void resize(std::int64_t k, std::int64_t d, std::int64_t sketch_rows) {
    if (gram.cols() != d) {
      kp = (k + kGramLanes<T> - 1) / kGramLanes<T> * kGramLanes<T>;
      tile = RowMat<T>::Zero(kTile, kp);  // columns k..kp stay zero
      ty.resize(kTile);
      gram.resize(d, d);
      chol.resize(d, d);
      gff.resize(kp, kp);
      xsum.resize(kp);
      for (Vec<T>* v : {&u, &r, &z, &p, &q, &diag, &b, &lam}) v->resize(d);
      const std::int64_t rows =
          std::max<std::int64_t>(1, kPackBytes / (d * static_cast<std::int64_t>(sizeof(T))));
      pack.resize(rows, d);
      py.resize(rows);
      pt.resize(rows);
    }
    if (sketch_rows > 0 && (sk.rows() != sketch_rows || sk.cols() != d)) sk.resize(sketch_rows, d);
  }
};

/// One row's problem: its entries [lo, hi) of the CSR.
template <class T, class I>
struct RowProblem {
  const I* cols;
  const T* vals;
  const T* w;  ///< weights or null
  std::int64_t lo, hi;
  T lambda;       ///< ridge weight of the factor coordinates
  T lambda_bias;  ///< ridge weight of the bias coordinate (own_bias only)
  /// Ridge weight of coordinate l of a design with k factor coordinates.
  T lam(std::int64_t l, std::int64_t k) const { return l < k ? lambda : lambda_bias; }
  std::int64_t s() const { return hi - lo; }
  T weight(std::int64_t p) const { return w ? w[p] : T(1); }
};

template <class T, class I>
T target(const FixedSide<T>& F, const RowProblem<T, I>& P, std::int64_t p) {
  const auto j = static_cast<std::int64_t>(P.cols[p]);
  return P.vals[p] - F.mu - (F.other_bias ? F.other_bias[j] : T(0));
}

/// x_j . v for the design row of column j.
template <class T>
T design_dot(const FixedSide<T>& F, std::int64_t j, const T* v) {
  const T* x = F.V + j * F.k;
  T t = F.own_bias ? v[F.k] : T(0);
  for (std::int64_t l = 0; l < F.k; ++l) t += x[l] * v[l];
  return t;
}

/// out += a * x_j.
template <class T>
void design_axpy(const FixedSide<T>& F, std::int64_t j, T a, T* out) {
  const T* x = F.V + j * F.k;
  for (std::int64_t l = 0; l < F.k; ++l) out[l] += a * x[l];
  if (F.own_bias) out[F.k] += a;
}

/// Accumulates, over tiles of kTile observations (rows sqrt(w_p) x_j, zero-padded to kp
/// columns), the factor block of X^T W X into w.gff by gram_update (lower triangle), X^T W y
/// into w.b, the bias row's sums w_p x_j into w.xsum (own_bias only); returns sum_p w_p.
template <class T, class I>
T accumulate_normal_equations(const FixedSide<T>& F, const RowProblem<T, I>& P, AlsWork<T>& w) {
  const std::int64_t k = F.k;
  const std::int64_t kp = w.kp;
  w.gff.setZero();
  w.b.setZero();
  w.xsum.setZero();
  T wsum = T(0);
  double yy = 0.0;
  T* bb = w.b.data();
  T* xs = w.xsum.data();
  for (std::int64_t t0 = P.lo; t0 < P.hi; t0 += AlsWork<T>::kTile) {
    const std::int64_t nt = std::min<std::int64_t>(AlsWork<T>::kTile, P.hi - t0);
    for (std::int64_t e = 0; e < nt; ++e) {
      const std::int64_t p = t0 + e;
      const auto j = static_cast<std::int64_t>(P.cols[p]);
      const T wt = P.weight(p);
      const T sw = P.w ? std::sqrt(wt) : T(1);
      const T y = target(F, P, p);
      const T wy = wt * y;
      yy += static_cast<double>(wy) * static_cast<double>(y);
      const T* x = F.V + j * k;
      if (p + kPrefetch < P.hi)
        prefetch_row(F.V + static_cast<std::int64_t>(P.cols[p + kPrefetch]) * k, k);
      T* row = w.tile.data() + e * kp;
      for (std::int64_t l = 0; l < k; ++l) {
        row[l] = sw * x[l];
        bb[l] += wy * x[l];
      }
      if (F.own_bias) {
        for (std::int64_t l = 0; l < k; ++l) xs[l] += wt * x[l];
        bb[k] += wy;
        wsum += wt;
      }
    }
    gram_update(w.tile.data(), kp, nt, w.gff.data());
  }
  w.yy = yy;
  return wsum;
}

/// Exact solve: G = X^T W X + lambda I (accumulate_normal_equations), LLT, or the
/// minimum-norm solution when G is singular.
template <class T, class I>
bool solve_exact(const FixedSide<T>& F, const RowProblem<T, I>& P, AlsWork<T>& w) {
  const std::int64_t d = F.d();
  const std::int64_t k = F.k;
  const T wsum = accumulate_normal_equations(F, P, w);
  w.gram.topLeftCorner(k, k).template triangularView<Eigen::Lower>() = w.gff.topLeftCorner(k, k);
  if (F.own_bias) {
    w.gram.row(k).head(k) = w.xsum.head(k).transpose();
    w.gram(k, k) = wsum;
  }
  for (std::int64_t l = 0; l < d; ++l) w.gram(l, l) += P.lam(l, F.k);
  w.chol.template triangularView<Eigen::Lower>() = w.gram;
  Eigen::LLT<Eigen::Ref<ColMat<T>>> llt(w.chol);  // in place: no allocation per row
  if (llt.info() == Eigen::Success) {
    w.u = w.b;
    llt.matrixL().solveInPlace(w.u);
    llt.matrixU().solveInPlace(w.u);
    if (w.u.allFinite()) return false;
  }
  const ColMat<T> G = w.gram.template selfadjointView<Eigen::Lower>();
  Eigen::CompleteOrthogonalDecomposition<ColMat<T>> cod(G);
  w.u = cod.solve(w.b);
  if (!w.u.allFinite()) w.u.setZero();
  return true;
}

/// Weighted residual sum of squares of row P at w.u, after a solve. exact: from the normal
/// equations left in w.gram (lower, ridge included), w.b and w.yy; else from the packed design
/// (one matrix-vector product on L2-resident data) or a pass over the row.
template <class T, class I>
double row_sse(const FixedSide<T>& F, const RowProblem<T, I>& P, AlsWork<T>& w, bool exact) {
  if (exact) {
    w.q.noalias() = w.gram.template selfadjointView<Eigen::Lower>() * w.u;
    double quad = 0.0, lin = 0.0;
    for (std::int64_t l = 0; l < F.d(); ++l) {
      const double u = static_cast<double>(w.u[l]);
      quad += u * (static_cast<double>(w.q[l]) - static_cast<double>(P.lam(l, F.k)) * u);
      lin += u * static_cast<double>(w.b[l]);
    }
    return std::max(0.0, w.yy - 2.0 * lin + quad);
  }
  if (w.packed) {
    const std::int64_t s = P.s();
    w.pt.head(s) = w.py.head(s);
    w.pt.head(s).noalias() -= w.pack.topRows(s) * w.u;
    return w.pt.head(s).template cast<double>().squaredNorm();
  }
  double sse = 0.0;
  for (std::int64_t p = P.lo; p < P.hi; ++p) {
    const double r =
        static_cast<double>(target(F, P, p)) -
        static_cast<double>(design_dot(F, static_cast<std::int64_t>(P.cols[p]), w.u.data()));
    sse += static_cast<double>(P.weight(p)) * r * r;
  }
  return sse;
}

/// q = (X^T W X + lambda I) v.
template <class T, class I>
void normal_apply(const FixedSide<T>& F, const RowProblem<T, I>& P, AlsWork<T>& w, const Vec<T>& v,
                  Vec<T>& q) {
  if (w.packed) {  // two contiguous matrix-vector products on the packed design
    const auto X = w.pack.topRows(P.s());
    w.pt.head(P.s()).noalias() = X * v;
    q.noalias() = X.transpose() * w.pt.head(P.s());
    q += w.lam.cwiseProduct(v);
    return;
  }
  q = w.lam.cwiseProduct(v);
  for (std::int64_t p = P.lo; p < P.hi; ++p) {
    const auto j = static_cast<std::int64_t>(P.cols[p]);
    design_axpy(F, j, P.weight(p) * design_dot(F, j, v.data()), q.data());
  }
}

/// Copies the row's design rows sqrt(w_p) [x_j, 1] and sqrt(w_p) y_p into w.pack / w.py when
/// they fit (then every CG iteration streams a contiguous block from L2 instead of gathering
/// rows of V again), and sets the ridge weights w.lam.
template <class T, class I>
void prepare_row(const FixedSide<T>& F, const RowProblem<T, I>& P, AlsWork<T>& w) {
  const std::int64_t d = F.d();
  const std::int64_t k = F.k;
  for (std::int64_t l = 0; l < d; ++l) w.lam[l] = P.lam(l, k);
  w.packed = w.can_pack(P.s());
  if (!w.packed) return;
  w.reserve_pack(P.s());
  for (std::int64_t p = P.lo; p < P.hi; ++p) {
    const auto j = static_cast<std::int64_t>(P.cols[p]);
    if (p + kPrefetch < P.hi)
      prefetch_row(F.V + static_cast<std::int64_t>(P.cols[p + kPrefetch]) * k, k);
    const T sw = P.w ? std::sqrt(P.weight(p)) : T(1);
    const T* x = F.V + j * k;
    T* row = w.pack.data() + (p - P.lo) * d;
    for (std::int64_t l = 0; l < k; ++l) row[l] = sw * x[l];
    if (F.own_bias) row[k] = sw;
    w.py[p - P.lo] = sw * target(F, P, p);
  }
}

/// Preconditioned CG from the warm start w.u. precond(r, z) applies M^-1. Returns iterations.
template <class T, class I, class Precond>
std::int64_t pcg(const FixedSide<T>& F, const RowProblem<T, I>& P, AlsWork<T>& w,
                 const AlsOptions& o, Precond&& precond) {
  const std::int64_t d = F.d();
  // r = b - A u, b = X^T W y (one pass)
  if (w.packed) {
    const std::int64_t s = P.s();
    const auto X = w.pack.topRows(s);
    w.b.noalias() = X.transpose() * w.py.head(s);
    w.pt.head(s) = w.py.head(s);
    w.pt.head(s).noalias() -= X * w.u;
    w.r.noalias() = X.transpose() * w.pt.head(s);
    w.r -= w.lam.cwiseProduct(w.u);
  } else {
    w.r = -w.lam.cwiseProduct(w.u);
    w.b.setZero();
    for (std::int64_t p = P.lo; p < P.hi; ++p) {
      const auto j = static_cast<std::int64_t>(P.cols[p]);
      const T wy = P.weight(p) * target(F, P, p);
      design_axpy(F, j, wy - P.weight(p) * design_dot(F, j, w.u.data()), w.r.data());
      design_axpy(F, j, wy, w.b.data());
    }
  }
  const double bnorm = static_cast<double>(w.b.norm());
  const double floor = 10.0 * static_cast<double>(std::numeric_limits<T>::epsilon()) *
                       std::sqrt(static_cast<double>(d)) * bnorm;
  const double r0 = static_cast<double>(w.r.norm());
  const double stop = std::max(o.cg_tol * r0, floor);
  const std::int64_t max_iter = o.cg_max_iter > 0 ? o.cg_max_iter : 2 * d;
  if (!(r0 > stop)) return 0;
  precond(w.r, w.z);
  w.p = w.z;
  double rz = static_cast<double>(w.r.dot(w.z));
  std::int64_t it = 0;
  while (it < max_iter) {
    normal_apply(F, P, w, w.p, w.q);
    const double pq = static_cast<double>(w.p.dot(w.q));
    if (!(pq > 0)) break;  // exact solution reached (p = 0) or rounding
    const T alpha = static_cast<T>(rz / pq);
    w.u += alpha * w.p;
    w.r -= alpha * w.q;
    ++it;
    if (!(static_cast<double>(w.r.norm()) > stop)) break;
    precond(w.r, w.z);
    const double rz_new = static_cast<double>(w.r.dot(w.z));
    const T beta = static_cast<T>(rz_new / rz);
    rz = rz_new;
    w.p = w.z + beta * w.p;
  }
  return it;
}

template <class T, class I>
std::int64_t solve_cg(const FixedSide<T>& F, const RowProblem<T, I>& P, AlsWork<T>& w,
                      const AlsOptions& o) {
  // Jacobi: diag(X^T W X) + lambda
  prepare_row(F, P, w);
  if (w.packed) {
    w.diag = w.pack.topRows(P.s()).colwise().squaredNorm().transpose() + w.lam;
  } else {
    w.diag = w.lam;
    for (std::int64_t p = P.lo; p < P.hi; ++p) {
      const T* x = F.V + static_cast<std::int64_t>(P.cols[p]) * F.k;
      const T wt = P.weight(p);
      for (std::int64_t l = 0; l < F.k; ++l) w.diag[l] += wt * x[l] * x[l];
      if (F.own_bias) w.diag[F.k] += wt;
    }
  }
  for (std::int64_t l = 0; l < F.d(); ++l)
    if (!(w.diag[l] > 0)) w.diag[l] = T(1);
  return pcg(F, P, w, o, [&](const Vec<T>& r, Vec<T>& z) { z = r.cwiseQuotient(w.diag); });
}

template <class T, class I>
std::int64_t solve_sketch(const FixedSide<T>& F, const RowProblem<T, I>& P, AlsWork<T>& w,
                          const AlsOptions& o, bool& singular) {
  const std::int64_t d = F.d();
  const std::int64_t ms = w.sk.rows();
  const std::int64_t zeta = std::max<std::int64_t>(1, std::min(o.sketch_nnz, ms));
  const T scale = T(1) / std::sqrt(static_cast<T>(zeta));
  const CounterRng rng(o.seed, StreamTag::completion_sketch);
  prepare_row(F, P, w);
  w.sk.setZero();
  for (std::int64_t p = P.lo; p < P.hi; ++p) {
    const auto j = static_cast<std::int64_t>(P.cols[p]);
    // packed rows already carry sqrt(w) and the bias coordinate
    const T* x = w.packed ? w.pack.data() + (p - P.lo) * d : F.V + j * F.k;
    const std::int64_t len = w.packed ? d : F.k;
    const T sw = (w.packed ? T(1) : std::sqrt(P.weight(p))) * scale;
    for (std::int64_t z = 0; z < zeta; ++z) {
      const std::uint64_t bits = rng.bits64(static_cast<std::uint64_t>(p * zeta + z));
      const auto h =
          static_cast<std::int64_t>(((bits >> 32) * static_cast<std::uint64_t>(ms)) >> 32);
      const T a = (bits & 1u) ? -sw : sw;
      T* row = w.sk.data() + h * d;
      for (std::int64_t l = 0; l < len; ++l) row[l] += a * x[l];
      if (!w.packed && F.own_bias) row[F.k] += a;
    }
  }
  w.gram.setZero();
  w.gram.template selfadjointView<Eigen::Lower>().rankUpdate(w.sk.transpose());
  for (std::int64_t l = 0; l < d; ++l) w.gram(l, l) += P.lam(l, F.k);
  Eigen::LLT<ColMat<T>> llt(w.gram.template selfadjointView<Eigen::Lower>());
  if (llt.info() != Eigen::Success) {  // sketch rank-deficient and lambda = 0: exact solve
    singular = solve_exact(F, P, w);
    return 0;
  }
  return pcg(F, P, w, o, [&](const Vec<T>& r, Vec<T>& z) { z = llt.solve(r); });
}

/// x[l] += N(0, 1) draw at position first + l of rng, l < n (normal_pair for aligned pairs).
template <class T>
void add_normals(const CounterRng& rng, std::uint64_t first, std::int64_t n, T* x) {
  std::int64_t l = 0;
  if (first & 1u) {
    x[l++] += static_cast<T>(rng.normal(first));
  }
  for (; l + 1 < n; l += 2) {
    double a, b;
    rng.normal_pair((first + static_cast<std::uint64_t>(l)) >> 1, a, b);
    x[l] += static_cast<T>(a);
    x[l + 1] += static_cast<T>(b);
  }
  if (l < n) x[l] += static_cast<T>(rng.normal(first + static_cast<std::uint64_t>(l)));
}

}  // namespace detail

/// One ALS half-step: for every row i of R (CSR, m x n, sorted or not, no duplicates assumed
/// by the model), solves the ridge regression above and writes U[i, :] (m x k, row-major) and,
/// when own_bias is not null, own_bias[i]. U and own_bias are read as warm starts by the
/// iterative solvers. V is n x k row-major; other_bias (n) may be null; weights (nnz) may be
/// null. Cost per row: see the solvers above. Deterministic for any thread count.
template <class T, class I>
AlsStepInfo als_half_step(const CsrView<T, I>& R, const T* weights, const T* V, std::int64_t k,
                          const T* other_bias, T mu, T* U, T* own_bias, const AlsOptions& o) {
  if (k < 1) throw value_error("rank: must be >= 1, got " + std::to_string(k));
  if (!(o.reg >= 0)) throw value_error("reg: must be >= 0");
  const detail::FixedSide<T> F{V, k, other_bias, own_bias != nullptr, mu};
  const std::int64_t d = F.d();
  const std::int64_t m = R.n_rows;
  const int nt = resolve_threads(o.n_threads);
  constexpr std::int64_t kBlock = 64;
  const std::int64_t nb = n_blocks(m, kBlock);
  std::vector<AlsStepInfo> per_block(static_cast<std::size_t>(nb));
  ExceptionCapture ex;
#pragma omp parallel num_threads(nt) if (nt > 1 && R.nnz() * d > 100000)
  {
    detail::AlsWork<T> w;
    w.resize(k, d, o.solver == AlsSolver::sketch ? o.sketch_factor * d : 0);
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t blk = 0; blk < nb; ++blk)
      ex.run([&] {
        AlsStepInfo& info = per_block[static_cast<std::size_t>(blk)];
        const std::int64_t i1 = std::min(m, (blk + 1) * kBlock);
        for (std::int64_t i = blk * kBlock; i < i1; ++i) {
          detail::RowProblem<T, I> P{R.indices,
                                     R.values,
                                     weights,
                                     static_cast<std::int64_t>(R.indptr[i]),
                                     static_cast<std::int64_t>(R.indptr[i + 1]),
                                     T(0)};
          T* ui = U + i * k;
          if (P.s() == 0) {
            std::fill(ui, ui + k, T(0));
            if (own_bias) own_bias[i] = T(0);
            continue;
          }
          ++info.rows;
          const double scale = o.reg_by_count ? static_cast<double>(P.s()) : 1.0;
          P.lambda = static_cast<T>(o.reg * scale);
          P.lambda_bias = static_cast<T>((o.bias_reg >= 0 ? o.bias_reg : o.reg) * scale);
          AlsSolver s = o.solver;
          if (s == AlsSolver::automatic)
            s = detail::auto_prefers_exact(P.s(), d, w.can_pack(P.s())) ? AlsSolver::cholesky
                                                                        : AlsSolver::cg;
          // A row no longer than its sketch gains nothing from sketching: such rows take the
          // automatic choice (Jacobi CG, O(s d) per step, or Cholesky when that is cheaper).
          if (s == AlsSolver::sketch && P.s() <= o.sketch_factor * d)
            s = detail::auto_prefers_exact(P.s(), d, w.can_pack(P.s())) ? AlsSolver::cholesky
                                                                        : AlsSolver::cg;
          for (std::int64_t l = 0; l < k; ++l) w.u[l] = ui[l];
          if (own_bias) w.u[k] = own_bias[i];
          if (!w.u.allFinite()) w.u.setZero();
          bool exact = false;
          if (s == AlsSolver::cholesky) {
            ++info.exact_rows;
            info.singular_rows += detail::solve_exact(F, P, w) ? 1 : 0;
            exact = true;
          } else if (s == AlsSolver::cg) {
            ++info.cg_rows;
            info.iterations += detail::solve_cg(F, P, w, o);
          } else {
            ++info.sketch_rows;
            bool singular = false;
            info.iterations += detail::solve_sketch(F, P, w, o, singular);
            info.singular_rows += singular ? 1 : 0;
          }
          if (o.compute_sse) info.sse += detail::row_sse(F, P, w, exact);
          for (std::int64_t l = 0; l < k; ++l) ui[l] = w.u[l];
          if (own_bias) own_bias[i] = w.u[k];
        }
      });
  }
  ex.rethrow();
  AlsStepInfo total;
  for (const AlsStepInfo& b : per_block) {
    total.rows += b.rows;
    total.exact_rows += b.exact_rows;
    total.cg_rows += b.cg_rows;
    total.sketch_rows += b.sketch_rows;
    total.iterations += b.iterations;
    total.singular_rows += b.singular_rows;
    total.sse += b.sse;
  }
  return total;
}

/// One draw of the hyperparameters (mean, Lambda) of the rows of F (N x k, row-major) from
/// their Normal-Wishart conditional posterior (BPMF, Salakhutdinov and Mnih 2008, eq. 14, with
/// mu_0 = 0 and W_0 = I):
///
///   W* = (I + N S + beta0 N / (beta0 + N) fbar fbar^T)^{-1},  Lambda ~ Wishart(W*, nu0 + N),
///   mean ~ N(N fbar / (beta0 + N), ((beta0 + N) Lambda)^{-1}),
///
/// fbar the mean row and S the (biased) covariance of the rows, accumulated in double about
/// fbar. The randomness comes in as arguments (drawn by the caller's seeded generator): the
/// Wishart draw uses the Bartlett decomposition W* = L L^T, Lambda = (L A)(L A)^T with A lower
/// triangular, A_ll = sqrt(chi2[l]) (chi2[l] ~ chi-square(nu0 + N - l)) and A_lj = z_a[l k + j]
/// for j < l (standard normals; the rest of z_a is ignored); mean = N fbar / (beta0 + N) +
/// C^{-T} z_mu with C C^T = (beta0 + N) Lambda. O(N k^2 + k^3), single-threaded (k x k algebra
/// is far below any threading threshold; the N k^2 scatter is one pass over F). Writes Lambda
/// (k x k, symmetric) and mean (k) in T.
template <class T>
void normal_wishart_draw(const T* F, std::int64_t N, std::int64_t k, double beta0,
                         const double* z_a, const double* chi2, const double* z_mu, T* Lambda,
                         T* mean) {
  using M = Eigen::MatrixXd;
  using V = Eigen::VectorXd;
  if (N < 1 || k < 1) throw value_error("normal_wishart_draw: empty factor matrix");
  const Eigen::Map<const detail::RowMat<T>> Fm(F, N, k);
  const V fbar = Fm.template cast<double>().colwise().mean().transpose();
  M S = M::Zero(k, k);
  constexpr std::int64_t kRows = 256;
  detail::RowMat<double> block(kRows, k);
  for (std::int64_t r0 = 0; r0 < N; r0 += kRows) {
    const std::int64_t nr = std::min(kRows, N - r0);
    block.topRows(nr) = Fm.middleRows(r0, nr).template cast<double>().rowwise() - fbar.transpose();
    S.selfadjointView<Eigen::Lower>().rankUpdate(block.topRows(nr).transpose());
  }
  const double n = static_cast<double>(N);
  M w_inv = M::Identity(k, k);
  w_inv += S.selfadjointView<Eigen::Lower>();
  w_inv.noalias() += (beta0 * n / (beta0 + n)) * fbar * fbar.transpose();
  M W = w_inv.llt().solve(M::Identity(k, k));
  W = (W + W.transpose()).eval() / 2;
  Eigen::LLT<M> lw(W);
  if (lw.info() != Eigen::Success)
    throw std::runtime_error("normal_wishart_draw: the Wishart scale is not positive definite");
  M A = M::Zero(k, k);
  for (std::int64_t l = 0; l < k; ++l) {
    A(l, l) = std::sqrt(chi2[l]);
    for (std::int64_t j = 0; j < l; ++j) A(l, j) = z_a[l * k + j];
  }
  const M LA = lw.matrixL() * A;
  M Lam = LA * LA.transpose();
  Lam = (Lam + Lam.transpose()).eval() / 2;
  Eigen::LLT<M> lc((beta0 + n) * Lam);
  if (lc.info() != Eigen::Success)
    throw std::runtime_error("normal_wishart_draw: the drawn precision is not positive definite");
  V mu = Eigen::Map<const V>(z_mu, k);
  lc.matrixU().solveInPlace(mu);
  mu += (n / (beta0 + n)) * fbar;
  for (std::int64_t l = 0; l < k * k; ++l) Lambda[l] = static_cast<T>(Lam.data()[l]);
  for (std::int64_t l = 0; l < k; ++l) mean[l] = static_cast<T>(mu[l]);
}

/// One Gibbs half-step of Bayesian probabilistic matrix factorization (BPMF: Salakhutdinov and
/// Mnih, "Bayesian probabilistic matrix factorization using Markov chain Monte Carlo", ICML
/// 2008, eqs. 12-13). Given V (n x k, row-major), the observation precision alpha and the
/// Gaussian prior N(mean, Lambda^{-1}) of the rows (Lambda k x k symmetric positive definite),
/// draws every row of U (m x k, row-major) from its conditional posterior
///
///   U[i, :] ~ N(P_i^{-1} (alpha X^T y + Lambda mean), P_i^{-1}),  P_i = Lambda + alpha X^T X,
///   X = V[Omega_i, :],  y = R[i, Omega_i] - mu.
///
/// With P_i = L L^T the draw is L^{-T} (L^{-1} rhs + z), z ~ N(0, I): one LLT and two
/// triangular solves per row, O(s k^2 + k^3). X^T X is formed by the same register-blocked
/// tile kernel as the exact ALS solver. z[l] is the standard normal at position i k + l of the
/// counter stream (seed, completion_gibbs), so the draws are bitwise identical for any thread
/// count. Rows without observations are drawn from the prior. Should P_i fail to factor in
/// floating point (it is positive definite in exact arithmetic), a diagonal shift of
/// 1e-6 * trace(P_i) / k, growing tenfold per retry, is added; the number of such rows is
/// returned.
template <class T, class I>
std::int64_t gibbs_half_step(const CsrView<T, I>& R, const T* V, std::int64_t k, T mu, double alpha,
                             const T* Lambda, const T* mean, std::uint64_t seed, T* U,
                             int n_threads) {
  if (k < 1) throw value_error("rank: must be >= 1, got " + std::to_string(k));
  if (!(alpha > 0) || !std::isfinite(alpha))
    throw value_error("alpha: must be a finite positive number");
  using detail::ColMat;
  using detail::Vec;
  const Eigen::Map<const ColMat<T>> Lam(Lambda, k, k);  // symmetric: either layout
  const Eigen::Map<const Vec<T>> mu0(mean, k);
  const Vec<T> lam_mean = Lam * mu0;
  const detail::FixedSide<T> F{V, k, nullptr, false, mu};
  const std::int64_t m = R.n_rows;
  const int nt = resolve_threads(n_threads);
  const T a = static_cast<T>(alpha);
  const CounterRng rng(seed, StreamTag::completion_gibbs);
  constexpr std::int64_t kBlock = 64;
  const std::int64_t nb = n_blocks(m, kBlock);
  std::vector<std::int64_t> jittered(static_cast<std::size_t>(nb), 0);
  ExceptionCapture ex;
#pragma omp parallel num_threads(nt) if (nt > 1 && (R.nnz() + m) * k > 100000)
  {
    detail::AlsWork<T> w;
    w.resize(k, k, 0);
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t blk = 0; blk < nb; ++blk)
      ex.run([&] {
        const std::int64_t i1 = std::min(m, (blk + 1) * kBlock);
        for (std::int64_t i = blk * kBlock; i < i1; ++i) {
          const detail::RowProblem<T, I> P{R.indices,
                                           R.values,
                                           nullptr,
                                           static_cast<std::int64_t>(R.indptr[i]),
                                           static_cast<std::int64_t>(R.indptr[i + 1]),
                                           T(0),
                                           T(0)};
          if (P.s() > 0) {
            detail::accumulate_normal_equations(F, P, w);
            w.gram.template triangularView<Eigen::Lower>() = a * w.gff.topLeftCorner(k, k) + Lam;
            w.b = a * w.b + lam_mean;
          } else {
            w.gram.template triangularView<Eigen::Lower>() = Lam;
            w.b = lam_mean;
          }
          T shift = T(0);
          for (int attempt = 0;; ++attempt) {
            w.chol.template triangularView<Eigen::Lower>() = w.gram;
            if (shift > T(0)) w.chol.diagonal().array() += shift;
            Eigen::LLT<Eigen::Ref<ColMat<T>>> llt(w.chol);
            if (llt.info() == Eigen::Success) {
              w.u = w.b;
              llt.matrixL().solveInPlace(w.u);
              detail::add_normals(rng, static_cast<std::uint64_t>(i * k), k, w.u.data());
              llt.matrixU().solveInPlace(w.u);
              if (w.u.allFinite()) break;
            }
            if (attempt == 6)
              throw std::runtime_error("gibbs_half_step: the posterior precision of row " +
                                       std::to_string(i) + " is not positive definite");
            if (attempt == 0) {
              ++jittered[static_cast<std::size_t>(blk)];
              shift = static_cast<T>(1e-6) * std::abs(w.gram.diagonal().sum()) / static_cast<T>(k) +
                      std::numeric_limits<T>::min();
            } else {
              shift *= T(10);
            }
          }
          std::copy(w.u.data(), w.u.data() + k, U + i * k);
        }
      });
  }
  ex.rethrow();
  std::int64_t total = 0;
  for (std::int64_t j : jittered) total += j;
  return total;
}

/// What repeated (row, column) pairs of a coordinate list mean.
enum class DuplicatePolicy : int { raise = 0, sum = 1, mean = 2, last = 3 };

/// Canonical CSR (column indices sorted within rows, one entry per pair) of the coordinate
/// list (rows[p], cols[p], vals[p]), p < nnz, indices already checked in range: a counting
/// sort by row (stable in p), then each row's positions sorted by (column, p) and runs of one
/// column merged by the policy (sum and mean accumulate in double; last keeps the largest p).
/// O(nnz + m + sum_i s_i log s_i); rows in parallel. indptr has m + 1 entries; indices and
/// data need room for nnz entries; returns the number of entries written. With
/// DuplicatePolicy::raise, a duplicate stops the conversion: *dup_row / *dup_col receive the
/// pair with the smallest (row, column) among the repeated ones and -1 is returned.
template <class T, class I>
std::int64_t coo_to_csr(std::int64_t m, std::int64_t nnz, const std::int64_t* rows,
                        const std::int64_t* cols, const double* vals, DuplicatePolicy policy,
                        I* indptr, I* indices, T* data, std::int64_t* dup_row,
                        std::int64_t* dup_col, int n_threads) {
  std::vector<std::int64_t> start(static_cast<std::size_t>(m) + 1, 0);
  for (std::int64_t p = 0; p < nnz; ++p) ++start[static_cast<std::size_t>(rows[p]) + 1];
  for (std::int64_t i = 0; i < m; ++i) start[i + 1] += start[i];
  std::vector<std::int64_t> perm(static_cast<std::size_t>(nnz));
  {
    std::vector<std::int64_t> next(start.begin(), start.end() - 1);
    for (std::int64_t p = 0; p < nnz; ++p) perm[next[rows[p]]++] = p;
  }
  std::vector<std::int64_t> unique(static_cast<std::size_t>(m) + 1, 0);
  const int nt = resolve_threads(n_threads);
  constexpr std::int64_t kBlock = 256;
  const std::int64_t nb = n_blocks(m, kBlock);
  std::vector<std::int64_t> first_dup(static_cast<std::size_t>(nb), -1);  // row, per block
#pragma omp parallel for num_threads(nt) if (nt > 1 && nnz > 100000) schedule(dynamic, 1)
  for (std::int64_t blk = 0; blk < nb; ++blk) {
    const std::int64_t i1 = std::min(m, (blk + 1) * kBlock);
    for (std::int64_t i = blk * kBlock; i < i1; ++i) {
      std::int64_t* a = perm.data() + start[i];
      std::int64_t* b = perm.data() + start[i + 1];
      std::sort(a, b, [&](std::int64_t x, std::int64_t y) {
        return cols[x] < cols[y] || (cols[x] == cols[y] && x < y);
      });
      std::int64_t u = 0;
      for (std::int64_t* q = a; q < b; ++q) u += (q == a || cols[*q] != cols[q[-1]]) ? 1 : 0;
      unique[i + 1] = u;
      if (u < b - a && first_dup[blk] < 0) first_dup[blk] = i;
    }
  }
  if (policy == DuplicatePolicy::raise) {
    for (std::int64_t blk = 0; blk < nb; ++blk) {
      const std::int64_t i = first_dup[static_cast<std::size_t>(blk)];
      if (i < 0) continue;
      for (std::int64_t q = start[i] + 1; q < start[i + 1]; ++q)
        if (cols[perm[q]] == cols[perm[q - 1]]) {
          *dup_row = i;
          *dup_col = cols[perm[q]];
          return -1;
        }
    }
  }
  for (std::int64_t i = 0; i < m; ++i) unique[i + 1] += unique[i];
  for (std::int64_t i = 0; i <= m; ++i) indptr[i] = static_cast<I>(unique[i]);
#pragma omp parallel for num_threads(nt) if (nt > 1 && nnz > 100000) schedule(dynamic, 1)
  for (std::int64_t blk = 0; blk < nb; ++blk) {
    const std::int64_t i1 = std::min(m, (blk + 1) * kBlock);
    for (std::int64_t i = blk * kBlock; i < i1; ++i) {
      std::int64_t out = unique[i];
      std::int64_t q = start[i];
      while (q < start[i + 1]) {
        const std::int64_t c = cols[perm[q]];
        std::int64_t e = q + 1;
        double acc = vals[perm[q]];
        while (e < start[i + 1] && cols[perm[e]] == c) {
          acc = policy == DuplicatePolicy::last ? vals[perm[e]] : acc + vals[perm[e]];
          ++e;
        }
        if (policy == DuplicatePolicy::mean) acc /= static_cast<double>(e - q);
        indices[out] = static_cast<I>(c);
        data[out] = static_cast<T>(acc);
        ++out;
        q = e;
      }
    }
  }
  return unique[m];
}

/// SDDMM: out[p] = scale_p * (U[i, :] . V[j, :]) for every stored entry p = (i, j) of the CSR
/// pattern S (scale_p = S.values[p], or 1 when S.values is null). U is m x k, V is n x k, both
/// row-major with leading dimensions ldu, ldv. Parallel over rows; deterministic.
template <class T, class I>
void sddmm(const CsrView<T, I>& S, const T* U, std::int64_t ldu, const T* V, std::int64_t ldv,
           std::int64_t k, T* out, int n_threads) {
  const int nt = resolve_threads(n_threads);
  const std::int64_t m = S.n_rows;
#pragma omp parallel for num_threads(nt) if (nt > 1 && S.nnz() * k > 100000) schedule(dynamic, 64)
  for (std::int64_t i = 0; i < m; ++i) {
    const T* u = U + i * ldu;
    for (std::int64_t p = S.indptr[i]; p < S.indptr[i + 1]; ++p) {
      const T* v = V + static_cast<std::int64_t>(S.indices[p]) * ldv;
      T t = T(0);
      for (std::int64_t l = 0; l < k; ++l) t += u[l] * v[l];
      out[p] = S.values ? S.values[p] * t : t;
    }
  }
}

/// Residuals of the completion model on R's entries: res[p] = R[i, j] - (mu + b[i] + c[j] +
/// U[i, :] . V[j, :]) (b, c may be null), and the sum of squares (weighted by weights[p] when
/// given) accumulated in double over fixed row blocks combined in block order, so the sum is
/// the same for any thread count. res may be null (sum only).
template <class T, class I>
double completion_residuals(const CsrView<T, I>& R, const T* U, const T* V, std::int64_t k,
                            const T* b, const T* c, T mu, const T* weights, T* res, int n_threads) {
  const int nt = resolve_threads(n_threads);
  const std::int64_t m = R.n_rows;
  constexpr std::int64_t kBlock = 256;
  const std::int64_t nb = n_blocks(m, kBlock);
  std::vector<double> part(static_cast<std::size_t>(nb), 0.0);
#pragma omp parallel for num_threads(nt) if (nt > 1 && R.nnz() * k > 100000) schedule(dynamic, 1)
  for (std::int64_t blk = 0; blk < nb; ++blk) {
    double acc = 0.0;
    const std::int64_t i1 = std::min(m, (blk + 1) * kBlock);
    for (std::int64_t i = blk * kBlock; i < i1; ++i) {
      const T* u = U + i * k;
      const T bi = b ? b[i] : T(0);
      for (std::int64_t p = R.indptr[i]; p < R.indptr[i + 1]; ++p) {
        const auto j = static_cast<std::int64_t>(R.indices[p]);
        const T* v = V + j * k;
        T t = mu + bi + (c ? c[j] : T(0));
        for (std::int64_t l = 0; l < k; ++l) t += u[l] * v[l];
        const T e = R.values[p] - t;
        if (res) res[p] = e;
        acc += static_cast<double>(weights ? weights[p] : T(1)) * static_cast<double>(e) *
               static_cast<double>(e);
      }
    }
    part[static_cast<std::size_t>(blk)] = acc;
  }
  double s = 0.0;
  for (double x : part) s += x;
  return s;
}

/// Y = A X for CSR A (m x n) and dense X (n x c, row-major, leading dimension ldx); Y is m x c
/// row-major (leading dimension ldy). Parallel over rows, each row summed in CSR order:
/// deterministic for any thread count.
template <class T, class I>
void spmm(const CsrView<T, I>& A, const T* X, std::int64_t ldx, std::int64_t c, T* Y,
          std::int64_t ldy, int n_threads) {
  const int nt = resolve_threads(n_threads);
  const std::int64_t m = A.n_rows;
#pragma omp parallel for num_threads(nt) if (nt > 1 && A.nnz() * c > 100000) schedule(dynamic, 64)
  for (std::int64_t i = 0; i < m; ++i) {
    T* y = Y + i * ldy;
    std::fill(y, y + c, T(0));
    for (std::int64_t p = A.indptr[i]; p < A.indptr[i + 1]; ++p) {
      const T a = A.values[p];
      const T* x = X + static_cast<std::int64_t>(A.indices[p]) * ldx;
      for (std::int64_t l = 0; l < c; ++l) y[l] += a * x[l];
    }
  }
}

}  // namespace sparsketch
