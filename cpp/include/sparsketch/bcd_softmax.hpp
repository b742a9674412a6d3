#pragma once
/// \file bcd_softmax.hpp
/// Multinomial (softmax) logistic regression by block coordinate descent (the paper's
/// multi-class logistic problem; Nutini, Laradji & Schmidt, arXiv:1712.08859, section 7).
///
/// Variables: W (p x k, row-major: feature j's block is W[j*k .. j*k + k), the k class weights
/// the softmax couples) and the intercepts b (k). The objective is
///   F(W, b) = sum_i [ logsumexp(z_i) - z_{i, y_i} ] + lambda1 ||W||_1 + lambda2/2 ||W||_F^2,
///   z_i = W^T a_i + b.
/// An outer loop computes, in one pass over A, the probabilities p_i = softmax(z_i), the
/// gradient G = A^T (P - Y) + lambda2 W and the certificate (largest KKT violation relative to
/// the one at W = 0, b = 0), then minimizes the quadratic (proximal Newton) model
///   q(D) = <G, D> + 1/2 sum_i (D^T a_i + d_b)^T S_i (D^T a_i + d_b) + lambda2/2 ||D||^2
///          + lambda1 ||W + D||_1,     S_i = diag(p_i) - p_i p_i^T,
/// by BCD over feature blocks, and takes an Armijo step on the true objective.
///  * Explicit form (p k + k <= explicit_max variables): the model Hessian is formed and
///    `bcd_quadratic` runs with any rule (GS, GSL, GSD, GSQ, cyclic, random), block size (in
///    features; a block holds all k classes of its features), variable blocks and update.
///  * Data form (larger problems): cyclic sweeps over the features, each a k x k Newton
///    (proximal Newton for L1) update with the feature's exact block Hessian
///    H_j = sum_i a_ij^2 S_i + lambda2 I. R = S (A D) is kept up to date (R_i += a_ij S_i d),
///    so a feature's model gradient G_j + lambda2 D_j + sum_i a_ij R_i costs O(nnz_j k); the
///    block Hessians of all features come from one pass, (A o A)^T [p_c, p_c p_d] (k <= 16).
///    With lambda1 = 0 (and not `data_cd`) the same feature blocks instead precondition
///    conjugate gradients on the whole Newton system (block Jacobi; Hessian-vector products
///    A^T S (A V + 1 v_b^T) in two passes over A), stopped at a relative residual
///    min(0.1, sqrt(measure)): cyclic sweeps stall on strongly correlated features (image
///    pixels), CG with the blocks' curvature does not.
/// Computed in double; results do not depend on the number of threads (parallel loops write
/// disjoint outputs or reduce over fixed chunks in order).

// clang-format off
// Eigen's configuration first (no Eigen-internal threading, MPL-2.0 only)
#include "sparsketch/detail/eigen.hpp"
// clang-format on
#include <Eigen/Cholesky>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "sparsketch/bcd.hpp"

namespace sparsketch {

struct BcdSoftmaxOptions {
  BcdQuadraticOptions inner;  ///< rule, update, block_size (features per block), variable_blocks
  double lambda1 = 0.0;       ///< L1 weight on W
  double lambda2 = 0.0;       ///< L2 weight on W
  bool fit_intercept = true;
  double tol = 1e-6;  ///< on the relative KKT violation
  std::int64_t max_iter = 100000000;
  std::int64_t max_outer = 500;
  /// Model variables (p k + k) up to which the explicit Hessian is formed (any rule); larger
  /// problems use cyclic feature sweeps in data form.
  std::int64_t explicit_max = 512;
  const std::int64_t* block_of = nullptr;  ///< feature -> block id (explicit form), or nullptr
  /// Data form with lambda1 = 0: cyclic block-Newton sweeps instead of preconditioned CG.
  bool data_cd = false;
  int n_threads = 0;
};

namespace detail {

/// Feature j's k x k Hessian block diag(s_c) - [s_cd] from its statistics tj = (s_1..s_k,
/// then s_cd for c <= d row by row), s_c = sum_i a_ij^2 p_ic, s_cd = sum_i a_ij^2 p_ic p_id.
inline void hessian_from_stats(const double* tj, std::int64_t k, Eigen::MatrixXd& Hj) {
  Hj.setZero();
  std::int64_t t = k;
  for (std::int64_t c = 0; c < k; ++c) Hj(c, c) = tj[c];
  for (std::int64_t c = 0; c < k; ++c)
    for (std::int64_t d = c; d < k; ++d, ++t) {
      Hj(c, d) -= tj[t];
      if (d != c) Hj(d, c) -= tj[t];
    }
}

using RowMatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Row-compressed copy of a CSC design (for row-wise products).
struct RowCopy {
  std::vector<std::int64_t> ptr, col;
  std::vector<double> val;
};

template <class T>
RowCopy make_rows(const DenseColumns<T>&) {
  return {};
}
template <class T, class I>
RowCopy make_rows(const CscColumns<T, I>& a) {
  RowCopy r;
  r.ptr.assign(static_cast<std::size_t>(a.n + 1), 0);
  const auto nnz = static_cast<std::int64_t>(a.indptr[a.p]);
  for (std::int64_t e = 0; e < nnz; ++e) ++r.ptr[static_cast<std::int64_t>(a.indices[e]) + 1];
  for (std::int64_t i = 0; i < a.n; ++i) r.ptr[i + 1] += r.ptr[i];
  r.col.resize(static_cast<std::size_t>(nnz));
  r.val.resize(static_cast<std::size_t>(nnz));
  std::vector<std::int64_t> pos(r.ptr.begin(), r.ptr.end() - 1);
  for (std::int64_t j = 0; j < a.p; ++j)
    for (auto e = static_cast<std::int64_t>(a.indptr[j]); e < a.indptr[j + 1]; ++e) {
      const auto i = static_cast<std::int64_t>(a.indices[e]);
      r.col[pos[i]] = j;
      r.val[pos[i]++] = static_cast<double>(a.values[e]);
    }
  return r;
}

/// Rows r0 .. r0+rows of A as a dense double block (rows x p), plus a ones column if `ones`.
template <class T>
void dense_rows(const DenseColumns<T>& a, const RowCopy&, std::int64_t r0, std::int64_t rows,
                bool ones, Eigen::MatrixXd& X) {
  X.resize(rows, a.p + (ones ? 1 : 0));
  for (std::int64_t j = 0; j < a.p; ++j) {
    const T* col = a.data + j * a.ld + r0;
    for (std::int64_t i = 0; i < rows; ++i) X(i, j) = static_cast<double>(col[i]);
  }
  if (ones) X.col(a.p).setOnes();
}
template <class T, class I>
void dense_rows(const CscColumns<T, I>& a, const RowCopy& r, std::int64_t r0, std::int64_t rows,
                bool ones, Eigen::MatrixXd& X) {
  X.setZero(rows, a.p + (ones ? 1 : 0));
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t e = r.ptr[r0 + i]; e < r.ptr[r0 + i + 1]; ++e) X(i, r.col[e]) = r.val[e];
  if (ones) X.col(a.p).setOnes();
}

/// out (n x q, row-major) = A M with M (p x q, row-major).
template <class T>
void rows_times(const DenseColumns<T>& a, const RowCopy& r, const double* M, std::int64_t q,
                double* out, int nt) {
  const std::int64_t chunk = 256, nch = n_blocks(a.n, chunk);
  Eigen::Map<const RowMatD> Mm(M, a.p, q);
#pragma omp parallel num_threads(nt) if (nt > 1 && nch > 1)
  {
    Eigen::MatrixXd X;
#pragma omp for schedule(static)
    for (std::int64_t c = 0; c < nch; ++c) {
      const std::int64_t r0 = c * chunk, rows = std::min(chunk, a.n - r0);
      dense_rows(a, r, r0, rows, false, X);
      Eigen::Map<RowMatD> O(out + r0 * q, rows, q);
      O.noalias() = X * Mm;
    }
  }
}
template <class T, class I>
void rows_times(const CscColumns<T, I>& a, const RowCopy& r, const double* M, std::int64_t q,
                double* out, int nt) {
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(dynamic, 256)
  for (std::int64_t i = 0; i < a.n; ++i) {
    double* o = out + i * q;
    std::fill(o, o + q, 0.0);
    for (std::int64_t e = r.ptr[i]; e < r.ptr[i + 1]; ++e) {
      const double v = r.val[e];
      const double* m = M + r.col[e] * q;
      for (std::int64_t t = 0; t < q; ++t) o[t] += v * m[t];
    }
  }
}

/// out (p x q, row-major) = A^T R, or (A o A)^T R when `squared`; R is n x q row-major.
template <class T>
void cols_times(const DenseColumns<T>& a, const double* R, std::int64_t q, bool squared,
                double* out, int nt) {
  const std::int64_t tile = 32, nt_tiles = n_blocks(a.p, tile), chunk = 1024;
  Eigen::Map<const RowMatD> Rm(R, a.n, q);
#pragma omp parallel num_threads(nt) if (nt > 1 && nt_tiles > 1)
  {
    Eigen::MatrixXd X, acc;
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t t = 0; t < nt_tiles; ++t) {
      const std::int64_t c0 = t * tile, cw = std::min(tile, a.p - c0);
      acc.setZero(cw, q);
      for (std::int64_t r0 = 0; r0 < a.n; r0 += chunk) {
        const std::int64_t rows = std::min(chunk, a.n - r0);
        X.resize(rows, cw);
        for (std::int64_t s = 0; s < cw; ++s) {
          const T* col = a.data + (c0 + s) * a.ld + r0;
          for (std::int64_t i = 0; i < rows; ++i) {
            const double v = static_cast<double>(col[i]);
            X(i, s) = squared ? v * v : v;
          }
        }
        acc.noalias() += X.transpose() * Rm.middleRows(r0, rows);
      }
      Eigen::Map<RowMatD>(out + c0 * q, cw, q) = acc;
    }
  }
}
template <class T, class I>
void cols_times(const CscColumns<T, I>& a, const double* R, std::int64_t q, bool squared,
                double* out, int nt) {
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(dynamic, 64)
  for (std::int64_t j = 0; j < a.p; ++j) {
    double* o = out + j * q;
    std::fill(o, o + q, 0.0);
    for (auto e = static_cast<std::int64_t>(a.indptr[j]); e < a.indptr[j + 1]; ++e) {
      double v = static_cast<double>(a.values[e]);
      if (squared) v *= v;
      const double* rr = R + static_cast<std::int64_t>(a.indices[e]) * q;
      for (std::int64_t t = 0; t < q; ++t) o[t] += v * rr[t];
    }
  }
}

/// Entries s0 .. s1 of column j (dense: rows, zeros skipped; CSC: stored entries): f(i, v).
template <class T>
std::int64_t col_len(const DenseColumns<T>& a, std::int64_t) {
  return a.n;
}
template <class T, class I>
std::int64_t col_len(const CscColumns<T, I>& a, std::int64_t j) {
  return static_cast<std::int64_t>(a.indptr[j + 1] - a.indptr[j]);
}
template <class T, class F>
void col_range(const DenseColumns<T>& a, std::int64_t j, std::int64_t s0, std::int64_t s1, F&& f) {
  const T* col = a.data + j * a.ld;
  for (std::int64_t i = s0; i < s1; ++i) {
    const double v = static_cast<double>(col[i]);
    if (v != 0.0) f(i, v);
  }
}
template <class T, class I, class F>
void col_range(const CscColumns<T, I>& a, std::int64_t j, std::int64_t s0, std::int64_t s1, F&& f) {
  const auto base = static_cast<std::int64_t>(a.indptr[j]);
  for (std::int64_t e = base + s0; e < base + s1; ++e)
    f(static_cast<std::int64_t>(a.indices[e]), static_cast<double>(a.values[e]));
}

/// Solves the k x k block step: minimize g^T d + 1/2 d^T H d (+ w ||x + d||_1 when w > 0).
inline void softmax_block_step(Eigen::MatrixXd& H, const double* g, const double* x, double w,
                               double* d) {
  const std::int64_t k = H.rows();
  if (w > 0) {
    std::vector<double> wv(static_cast<std::size_t>(k), w);
    prox_newton_block(H, g, x, wv.data(), d);
    return;
  }
  Eigen::LLT<Eigen::MatrixXd> llt(H);
  Eigen::Map<const Eigen::VectorXd> gv(g, k);
  Eigen::Map<Eigen::VectorXd> dv(d, k);
  if (llt.info() == Eigen::Success) {
    dv = -llt.solve(gv);
  } else {
    dv = -H.ldlt().solve(gv);
  }
}

}  // namespace detail

/// Minimizes F(W, b) of the file comment. labels: n class indices in [0, k); W (p*k, row-major)
/// and b (k) are the start point and receive the solution (b centred to mean 0, which leaves
/// every probability unchanged).
template <class Design>
BcdGlmResult bcd_softmax(const Design& A, const std::int32_t* labels, std::int64_t k, double* W,
                         double* b, const BcdSoftmaxOptions& opt,
                         const std::function<bool(const BcdGlmProgress&)>& progress = nullptr) {
  using clock = std::chrono::steady_clock;
  const auto t_start = clock::now();
  const int nt = resolve_threads(opt.n_threads);
  const std::int64_t n = A.n, p = A.p;
  const bool icpt = opt.fit_intercept;
  const double l1 = opt.lambda1, l2 = opt.lambda2;
  if (k < 2) throw value_error("k: softmax needs at least 2 classes");
  if (!(l1 >= 0) || !(l2 >= 0)) throw value_error("lambda: must be >= 0");
  for (std::int64_t i = 0; i < n; ++i)
    if (labels[i] < 0 || labels[i] >= k) throw value_error("labels: must lie in [0, k)");
  const std::int64_t pk = checked_mul(p, k, "softmax weights");
  checked_mul(n, k, "softmax scores");
  const detail::RowCopy rows = detail::make_rows(A);
  if (!icpt) std::fill(b, b + k, 0.0);

  std::vector<double> Z(static_cast<std::size_t>(n * k)), P(Z.size()), Rg(Z.size());
  std::vector<double> G(static_cast<std::size_t>(pk)), Gb(static_cast<std::size_t>(k), 0.0);
  auto scores = [&](const double* Wm, const double* bv, double* out) {
    detail::rows_times(A, rows, Wm, k, out, nt);
    if (icpt)
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t c = 0; c < k; ++c) out[i * k + c] += bv[c];
  };
  // loss at scores zz; with `grad`, also P and Rg = P - Y
  auto loss_at = [&](const double* zz, bool grad) {
    return detail::ordered_sum(n, nt, [&](std::int64_t i) {
      const double* zi = zz + i * k;
      double mx = zi[0];
      for (std::int64_t c = 1; c < k; ++c) mx = std::max(mx, zi[c]);
      double s = 0.0;
      for (std::int64_t c = 0; c < k; ++c) s += std::exp(zi[c] - mx);
      if (grad) {
        double* pi = P.data() + i * k;
        double* ri = Rg.data() + i * k;
        for (std::int64_t c = 0; c < k; ++c) {
          pi[c] = std::exp(zi[c] - mx) / s;
          ri[c] = pi[c];
        }
        ri[labels[i]] -= 1.0;
      }
      return mx + std::log(s) - zi[labels[i]];
    });
  };
  auto gradient = [&](const double* Wm) {
    detail::cols_times(A, Rg.data(), k, false, G.data(), nt);
    for (std::int64_t t = 0; t < pk; ++t) G[t] += l2 * Wm[t];
    if (icpt)
      for (std::int64_t c = 0; c < k; ++c)
        Gb[c] = detail::ordered_sum(n, nt, [&](std::int64_t i) { return Rg[i * k + c]; });
  };
  auto max_kkt = [&](const double* Wm) {
    double v = 0.0;
    for (std::int64_t t = 0; t < pk; ++t) v = std::max(v, detail::kkt_violation(Wm[t], G[t], l1));
    for (std::int64_t c = 0; c < k && icpt; ++c) v = std::max(v, std::abs(Gb[c]));
    return v;
  };
  auto penalty = [&](const double* Wm) {
    double a = 0.0, q = 0.0;
    for (std::int64_t t = 0; t < pk; ++t) {
      a += std::abs(Wm[t]);
      q += Wm[t] * Wm[t];
    }
    return l1 * a + 0.5 * l2 * q;
  };

  // scale: the KKT violation at W = 0, b = 0
  double scale;
  {
    std::fill(Z.begin(), Z.end(), 0.0);
    loss_at(Z.data(), true);
    const std::vector<double> zero(static_cast<std::size_t>(pk), 0.0);
    gradient(zero.data());
    scale = max_kkt(zero.data());
    if (!(scale > 0)) scale = 1.0;
  }
  scores(W, b, Z.data());

  BcdGlmResult res;
  const std::int64_t kb = icpt ? k : 0;
  const std::int64_t N = pk + kb;  // model variables: W then b
  const bool use_explicit = N <= opt.explicit_max;
  std::vector<double> Dm(static_cast<std::size_t>(pk)), Db(static_cast<std::size_t>(k));
  std::vector<double> dZ(Z.size()), Zt(Z.size()), Wt(static_cast<std::size_t>(pk));
  std::vector<double> H, cq, wq, xq, gq, T;
  std::vector<std::int64_t> blk_ptr, blk_idx;
  const std::int64_t nq = k + k * (k + 1) / 2;  // Hessian statistics: p_c, then p_c p_d
  const bool use_stats = k <= 16;
  for (std::int64_t outer = 0;; ++outer) {
    const double loss = loss_at(Z.data(), true);
    gradient(W);
    const double primal = loss + penalty(W);
    const double kkt = max_kkt(W);
    res.primal = primal;
    res.measure = kkt / scale;
    res.outer = outer;
    std::int64_t support = 0;
    for (std::int64_t t = 0; t < pk; ++t) support += W[t] != 0.0;
    const double secs = std::chrono::duration<double>(clock::now() - t_start).count();
    res.history.push_back({outer, res.iterations, N, support, primal, res.measure, secs});
    if (progress && progress(res.history.back())) break;
    if (res.measure <= opt.tol) {
      res.converged = true;
      break;
    }
    if (outer >= opt.max_outer || res.iterations >= opt.max_iter) break;
    const double inner_tol = 0.05 * kkt;
    std::fill(Dm.begin(), Dm.end(), 0.0);
    std::fill(Db.begin(), Db.end(), 0.0);

    if (use_explicit) {
      // --- model Hessian, variables (j, c) -> j k + c with j = p the intercept ---
      const std::int64_t pt = p + (icpt ? 1 : 0);
      H.assign(static_cast<std::size_t>(N * N), 0.0);
      Eigen::Map<Eigen::MatrixXd> Hm(H.data(), N, N);
      std::vector<std::pair<std::int64_t, std::int64_t>> pairs;
      for (std::int64_t c = 0; c < k; ++c)
        for (std::int64_t d = c; d < k; ++d) pairs.emplace_back(c, d);
      const std::int64_t chunk = 1024;
      Eigen::MatrixXd X;
      for (std::int64_t r0 = 0; r0 < n; r0 += chunk) {
        const std::int64_t nr = std::min(chunk, n - r0);
        detail::dense_rows(A, rows, r0, nr, icpt, X);
#pragma omp parallel num_threads(nt) if (nt > 1 && pairs.size() > 1)
        {
          Eigen::MatrixXd Y, M;
#pragma omp for schedule(dynamic, 1)
          for (std::int64_t t = 0; t < static_cast<std::int64_t>(pairs.size()); ++t) {
            const auto [c, d] = pairs[static_cast<std::size_t>(t)];
            Y = X;
            for (std::int64_t i = 0; i < nr; ++i) {
              const double* pi = P.data() + (r0 + i) * k;
              Y.row(i) *= (c == d ? pi[c] : 0.0) - pi[c] * pi[d];
            }
            M.noalias() = X.transpose() * Y;
            for (std::int64_t jl = 0; jl < pt; ++jl)
              for (std::int64_t jr = 0; jr < pt; ++jr) {
                Hm(jl * k + c, jr * k + d) += M(jl, jr);
                if (c != d) Hm(jl * k + d, jr * k + c) += M(jl, jr);
              }
          }
        }
      }
      double md = 0.0;
      for (std::int64_t t = 0; t < pk; ++t) Hm(t, t) += l2;
      for (std::int64_t t = 0; t < N; ++t) md = std::max(md, Hm(t, t));
      for (std::int64_t t = 0; t < N; ++t) Hm(t, t) += 1e-10 * md;  // gauge direction floor
      xq.assign(W, W + pk);
      gq.assign(G.begin(), G.end());
      for (std::int64_t c = 0; c < kb; ++c) {
        xq.push_back(b[c]);
        gq.push_back(Gb[c]);
      }
      wq.assign(static_cast<std::size_t>(N), 0.0);
      std::fill(wq.begin(), wq.begin() + pk, l1);
      cq.resize(static_cast<std::size_t>(N));
      Eigen::Map<Eigen::VectorXd>(cq.data(), N) =
          Hm * Eigen::Map<const Eigen::VectorXd>(xq.data(), N) -
          Eigen::Map<const Eigen::VectorXd>(gq.data(), N);
      // blocks of features (all classes of each), the intercept its own block
      blk_ptr.assign(1, 0);
      blk_idx.clear();
      {
        std::vector<std::vector<std::int64_t>> members;
        if (opt.block_of) {
          std::int64_t nblk = 0;
          for (std::int64_t j = 0; j < p; ++j) nblk = std::max(nblk, opt.block_of[j] + 1);
          members.resize(static_cast<std::size_t>(nblk));
          for (std::int64_t j = 0; j < p; ++j)
            for (std::int64_t c = 0; c < k; ++c) members[opt.block_of[j]].push_back(j * k + c);
        } else {
          const std::int64_t bs = std::max<std::int64_t>(1, opt.inner.block_size);
          for (std::int64_t j0 = 0; j0 < p; j0 += bs) {
            members.emplace_back();
            for (std::int64_t j = j0; j < std::min(p, j0 + bs); ++j)
              for (std::int64_t c = 0; c < k; ++c) members.back().push_back(j * k + c);
          }
        }
        if (icpt) {
          members.emplace_back();
          for (std::int64_t c = 0; c < k; ++c) members.back().push_back(pk + c);
        }
        for (auto& mb : members) {
          if (mb.empty()) continue;
          blk_idx.insert(blk_idx.end(), mb.begin(), mb.end());
          blk_ptr.push_back(static_cast<std::int64_t>(blk_idx.size()));
        }
      }
      BcdQuadraticOptions in = opt.inner;
      if (in.variable_blocks) in.block_size = std::min(N, in.block_size * k);
      in.tol = inner_tol;
      in.max_iter = std::min<std::int64_t>(opt.max_iter - res.iterations,
                                           std::max<std::int64_t>(100, 20 * N));
      in.iter_offset = static_cast<std::uint64_t>(res.iterations);
      in.trace = nullptr;
      std::vector<double> xnew(xq);
      const BcdQuadraticResult ir = bcd_quadratic(
          H.data(), N, N, cq.data(), wq.data(), xnew.data(), gq.data(), blk_ptr.data(),
          blk_idx.data(), static_cast<std::int64_t>(blk_ptr.size()) - 1, in);
      res.iterations += ir.iterations;
      if (ir.active_set_iter >= 0 && res.active_set_iter < 0)
        res.active_set_iter = res.iterations - ir.iterations + ir.active_set_iter;
      res.newton_steps += ir.newton_steps;
      for (std::int64_t t = 0; t < pk; ++t) Dm[t] = xnew[t] - xq[t];
      for (std::int64_t c = 0; c < kb; ++c) Db[c] = xnew[pk + c] - xq[pk + c];
    } else {
      // --- data form: cyclic sweeps over features (and the intercept block) ---
      if (use_stats) {
        std::vector<double> S(static_cast<std::size_t>(n * nq));
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
        for (std::int64_t i = 0; i < n; ++i) {
          const double* pi = P.data() + i * k;
          double* si = S.data() + i * nq;
          std::int64_t t = 0;
          for (std::int64_t c = 0; c < k; ++c) si[t++] = pi[c];
          for (std::int64_t c = 0; c < k; ++c)
            for (std::int64_t d = c; d < k; ++d) si[t++] = pi[c] * pi[d];
        }
        T.resize(static_cast<std::size_t>(p * nq));
        detail::cols_times(A, S.data(), nq, true, T.data(), nt);
      }
      Eigen::MatrixXd Hb = Eigen::MatrixXd::Zero(k, k);  // intercept block: sum_i S_i
      if (icpt) {
        for (std::int64_t c = 0; c < k; ++c)
          for (std::int64_t d = c; d < k; ++d) {
            const double v = detail::ordered_sum(n, nt, [&](std::int64_t i) {
              const double* pi = P.data() + i * k;
              return (c == d ? pi[c] : 0.0) - pi[c] * pi[d];
            });
            Hb(c, d) = v;
            Hb(d, c) = v;
          }
        Hb.diagonal().array() += 1e-10 * std::max(Hb.diagonal().maxCoeff(), 1e-300);
      }
      if (l1 == 0.0 && !opt.data_cd) {
        // --- L2: the Newton system by CG, block-Jacobi preconditioned with the feature
        // blocks H_j (the blocks a cyclic sweep would invert, here applied all at once) ---
        std::vector<Eigen::LLT<Eigen::MatrixXd>> pre(static_cast<std::size_t>(p));
        Eigen::MatrixXd Hj(k, k);
        for (std::int64_t j = 0; j < p; ++j) {
          Hj.setZero();
          if (use_stats) {
            detail::hessian_from_stats(T.data() + j * nq, k, Hj);
          } else {
            detail::col_range(A, j, 0, detail::col_len(A, j), [&](std::int64_t i, double v) {
              const double* pi = P.data() + i * k;
              const double v2 = v * v;
              for (std::int64_t c = 0; c < k; ++c) {
                Hj(c, c) += v2 * pi[c];
                for (std::int64_t d = 0; d < k; ++d) Hj(c, d) -= v2 * pi[c] * pi[d];
              }
            });
          }
          const double dmax = Hj.diagonal().maxCoeff();
          Hj.diagonal().array() += l2 + 1e-10 * std::max(dmax, 1e-300) + 1e-300;
          pre[static_cast<std::size_t>(j)].compute(Hj);
        }
        Eigen::LLT<Eigen::MatrixXd> preb;
        if (icpt) preb.compute(Hb);
        const double ridge_b = icpt ? 1e-10 * std::max(Hb.diagonal().maxCoeff(), 1e-300) : 0.0;
        std::vector<double> U(Z.size()), Sv(Z.size());
        // out = H v over [W (pk), b (kb)]
        auto hess = [&](const double* v, double* out) {
          detail::rows_times(A, rows, v, k, U.data(), nt);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
          for (std::int64_t i = 0; i < n; ++i) {
            double* ui = U.data() + i * k;
            if (icpt)
              for (std::int64_t c = 0; c < k; ++c) ui[c] += v[pk + c];
            const double* pi = P.data() + i * k;
            double pu = 0.0;
            for (std::int64_t c = 0; c < k; ++c) pu += pi[c] * ui[c];
            double* si = Sv.data() + i * k;
            for (std::int64_t c = 0; c < k; ++c) si[c] = pi[c] * (ui[c] - pu);
          }
          detail::cols_times(A, Sv.data(), k, false, out, nt);
          for (std::int64_t t = 0; t < pk; ++t) out[t] += l2 * v[t];
          for (std::int64_t c = 0; c < kb; ++c)
            out[pk + c] = ridge_b * v[pk + c] +
                          detail::ordered_sum(n, nt, [&](std::int64_t i) { return Sv[i * k + c]; });
        };
        auto precond = [&](const double* r, double* z) {
          for (std::int64_t j = 0; j < p; ++j) {
            Eigen::Map<Eigen::VectorXd> zj(z + j * k, k);
            zj = pre[static_cast<std::size_t>(j)].solve(
                Eigen::Map<const Eigen::VectorXd>(r + j * k, k));
          }
          if (icpt) {
            Eigen::Map<Eigen::VectorXd>(z + pk, k) =
                preb.solve(Eigen::Map<const Eigen::VectorXd>(r + pk, k));
          }
        };
        std::vector<double> x(static_cast<std::size_t>(N), 0.0), r(x.size()), z(x.size()),
            d(x.size()), q(x.size());
        for (std::int64_t t = 0; t < pk; ++t) r[t] = -G[t];
        for (std::int64_t c = 0; c < kb; ++c) r[pk + c] = -Gb[c];
        auto dot = [&](const std::vector<double>& u, const std::vector<double>& w) {
          double s = 0.0;
          for (std::int64_t t = 0; t < N; ++t) s += u[t] * w[t];
          return s;
        };
        // forcing term (Eisenstat-Walker style): loose far away, tight near the solution
        const double rel = std::min(0.1, std::sqrt(res.measure));
        const double r0 = std::sqrt(dot(r, r));
        precond(r.data(), z.data());
        d = z;
        double rz = dot(r, z);
        const std::int64_t max_cg = std::max<std::int64_t>(10, std::min<std::int64_t>(N, 500));
        for (std::int64_t it = 0; it < max_cg && res.iterations < opt.max_iter; ++it) {
          hess(d.data(), q.data());
          const double dq = dot(d, q);
          if (!(dq > 0)) break;
          const double alpha = rz / dq;
          for (std::int64_t t = 0; t < N; ++t) {
            x[t] += alpha * d[t];
            r[t] -= alpha * q[t];
          }
          ++res.iterations;
          if (std::sqrt(dot(r, r)) <= rel * r0) break;
          precond(r.data(), z.data());
          const double rz_new = dot(r, z);
          const double beta = rz_new / rz;
          rz = rz_new;
          for (std::int64_t t = 0; t < N; ++t) d[t] = z[t] + beta * d[t];
        }
        std::copy(x.begin(), x.begin() + pk, Dm.begin());
        for (std::int64_t c = 0; c < kb; ++c) Db[c] = x[pk + c];
      } else {
        std::vector<double> R(Z.size(), 0.0);  // S_i (A D + d_b)_i
        const std::int64_t cchunk = 8192;
        std::vector<double> part, gj(static_cast<std::size_t>(k)), dj(static_cast<std::size_t>(k));
        std::vector<double> xj(static_cast<std::size_t>(k));
        Eigen::MatrixXd Hj(k, k);
        // R_i += v S_i d = v p_i o (d - p_i . d)
        auto apply = [&](std::int64_t i, double v, const double* d) {
          const double* pi = P.data() + i * k;
          double pd = 0.0;
          for (std::int64_t c = 0; c < k; ++c) pd += pi[c] * d[c];
          double* ri = R.data() + i * k;
          for (std::int64_t c = 0; c < k; ++c) ri[c] += v * pi[c] * (d[c] - pd);
        };
        const std::int64_t max_sweeps = 30;
        for (std::int64_t sweep = 0; sweep < max_sweeps && res.iterations < opt.max_iter; ++sweep) {
          double viol = 0.0;
          for (std::int64_t j = 0; j < p; ++j) {
            const std::int64_t len = detail::col_len(A, j);
            const std::int64_t nch = n_blocks(len, cchunk);
            part.assign(static_cast<std::size_t>(std::max<std::int64_t>(nch, 1) * k), 0.0);
            const bool par = nt > 1 && nch > 1;
            std::vector<double> hpart;
            if (!use_stats)
              hpart.assign(static_cast<std::size_t>(std::max<std::int64_t>(nch, 1) * k * k), 0.0);
#pragma omp parallel for num_threads(nt) if (par) schedule(static)
            for (std::int64_t ch = 0; ch < nch; ++ch) {
              double* pg = part.data() + ch * k;
              double* ph = use_stats ? nullptr : hpart.data() + ch * k * k;
              detail::col_range(A, j, ch * cchunk, std::min(len, (ch + 1) * cchunk),
                                [&](std::int64_t i, double v) {
                                  const double* ri = R.data() + i * k;
                                  for (std::int64_t c = 0; c < k; ++c) pg[c] += v * ri[c];
                                  if (ph) {
                                    const double* pi = P.data() + i * k;
                                    const double v2 = v * v;
                                    for (std::int64_t c = 0; c < k; ++c) {
                                      ph[c * k + c] += v2 * pi[c];
                                      for (std::int64_t d = 0; d < k; ++d)
                                        ph[c * k + d] -= v2 * pi[c] * pi[d];
                                    }
                                  }
                                });
            }
            const double* Wj = W + j * k;
            double* Dj = Dm.data() + j * k;
            for (std::int64_t c = 0; c < k; ++c) {
              double s = G[j * k + c] + l2 * Dj[c];
              for (std::int64_t ch = 0; ch < nch; ++ch) s += part[ch * k + c];
              gj[c] = s;
              xj[c] = Wj[c] + Dj[c];
              viol = std::max(viol, detail::kkt_violation(xj[c], gj[c], l1));
            }
            if (use_stats) {
              detail::hessian_from_stats(T.data() + j * nq, k, Hj);
            } else {
              Hj.setZero();
              for (std::int64_t ch = 0; ch < nch; ++ch)
                for (std::int64_t c = 0; c < k; ++c)
                  for (std::int64_t d = 0; d < k; ++d) Hj(c, d) += hpart[(ch * k + c) * k + d];
            }
            const double dmax = Hj.diagonal().maxCoeff();
            if (!(dmax > 0) && l2 == 0) continue;  // empty column
            Hj.diagonal().array() += l2 + 1e-10 * std::max(dmax, 1e-300);
            detail::softmax_block_step(Hj, gj.data(), xj.data(), l1, dj.data());
            bool any = false;
            for (std::int64_t c = 0; c < k; ++c) any |= dj[c] != 0.0;
            if (!any) continue;
            for (std::int64_t c = 0; c < k; ++c) Dj[c] += dj[c];
#pragma omp parallel for num_threads(nt) if (par) schedule(static)
            for (std::int64_t ch = 0; ch < nch; ++ch)
              detail::col_range(A, j, ch * cchunk, std::min(len, (ch + 1) * cchunk),
                                [&](std::int64_t i, double v) { apply(i, v, dj.data()); });
          }
          if (icpt) {
            for (std::int64_t c = 0; c < k; ++c)
              gj[c] =
                  Gb[c] + detail::ordered_sum(n, nt, [&](std::int64_t i) { return R[i * k + c]; });
            for (std::int64_t c = 0; c < k; ++c) viol = std::max(viol, std::abs(gj[c]));
            Eigen::MatrixXd Hc = Hb;
            detail::softmax_block_step(Hc, gj.data(), xj.data(), 0.0, dj.data());
            for (std::int64_t c = 0; c < k; ++c) Db[c] += dj[c];
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
            for (std::int64_t i = 0; i < n; ++i) apply(i, 1.0, dj.data());
          }
          res.iterations += p + (icpt ? 1 : 0);
          if (viol <= inner_tol) break;
        }
      }
    }

    // --- Armijo step on the true objective ---
    bool moved = false;
    double delta = 0.0;
    for (std::int64_t t = 0; t < pk; ++t) {
      moved |= Dm[t] != 0.0;
      delta += G[t] * Dm[t] + l1 * (std::abs(W[t] + Dm[t]) - std::abs(W[t]));
    }
    for (std::int64_t c = 0; c < kb; ++c) {
      moved |= Db[c] != 0.0;
      delta += Gb[c] * Db[c];
    }
    if (!moved) break;
    scores(Dm.data(), Db.data(), dZ.data());
    double step = 1.0;
    // slack for rounding in F: near the solution the model's decrease is below F's rounding
    // error, and the (then very accurate) Newton step would fail a strict Armijo test
    const double slack = 1e-12 * std::abs(primal);
    for (int ls = 0; ls < 40; ++ls) {
      for (std::size_t t = 0; t < Z.size(); ++t) Zt[t] = Z[t] + step * dZ[t];
      for (std::int64_t t = 0; t < pk; ++t) Wt[t] = W[t] + step * Dm[t];
      const double fnew = loss_at(Zt.data(), false) + penalty(Wt.data());
      if (fnew <= primal + 1e-2 * step * delta + slack) break;
      step *= 0.5;
      ++res.line_search_steps;
      if (step < 1e-10) {
        step = 0.0;
        break;
      }
    }
    if (step == 0.0) break;
    for (std::int64_t t = 0; t < pk; ++t) W[t] += step * Dm[t];
    for (std::int64_t c = 0; c < kb; ++c) b[c] += step * Db[c];
    for (std::size_t t = 0; t < Z.size(); ++t) Z[t] += step * dZ[t];
  }
  if (icpt) {  // gauge: probabilities depend on b only up to a constant
    double mean = 0.0;
    for (std::int64_t c = 0; c < k; ++c) mean += b[c];
    mean /= static_cast<double>(k);
    for (std::int64_t c = 0; c < k; ++c) b[c] -= mean;
  }
  return res;
}

}  // namespace sparsketch
