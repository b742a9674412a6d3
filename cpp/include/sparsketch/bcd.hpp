#pragma once
/// \file bcd.hpp
/// Block coordinate descent (BCD) with greedy block rules, matrix (Newton) block updates and
/// active-set Newton steps, after Nutini, Laradji & Schmidt, "Let's Make Block Coordinate
/// Descent Converge Faster: Faster Greedy Rules, Message-Passing, Active-Set Complexity, and
/// Superlinear Convergence" (JMLR 2022, arXiv:1712.08859).
///
/// Two layers:
///  * `bcd_quadratic`: BCD on F(x) = 1/2 x^T Q x - c^T x + sum_j w_j |x_j| with a dense
///    symmetric positive semidefinite Q. The gradient g = Q x - c is kept up to date after each
///    block update (g += Q[:, B] dx_B, O(p |B|)), so the greedy rules (GS, GSL, GSD, GSQ and
///    their proximal versions) cost one O(p) scoring pass per iteration, like cyclic CD with
///    covariance updates.
///  * `bcd_glm`: generalized linear models (squared loss: least squares, Lasso, elastic net;
///    logistic loss: L2/L1 logistic regression) on dense column-major or CSC data. An outer
///    loop computes the full gradient and the certificate (duality gap or KKT violation) in one
///    pass over A, picks a working set of coordinates greedily by KKT violation (a variable
///    block chosen by the Gauss-Southwell rule), forms the block's (weighted) Gram matrix and
///    runs `bcd_quadratic` on the block's quadratic model: exact for the squared loss, a
///    proximal Newton model with an Armijo line search for the logistic loss.
///
/// Everything is computed in double, whatever the storage type of A (float32 data is promoted
/// on the fly). Results do not depend on the number of threads: parallel loops write disjoint
/// outputs or reduce over fixed blocks, and the random rules draw from a counter-based stream.

// clang-format off
// Eigen's configuration first (no Eigen-internal threading, MPL-2.0 only)
#include "sparsketch/detail/eigen.hpp"
// clang-format on
#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "sparsketch/common.hpp"
#include "sparsketch/parallel.hpp"
#include "sparsketch/random.hpp"

namespace sparsketch {

/// Block selection rules (paper section 3).
enum class BcdRule : int {
  cyclic = 0,     ///< blocks in order
  random = 1,     ///< uniform random block
  lipschitz = 2,  ///< random block with probability proportional to L_b
  gs = 3,         ///< Gauss-Southwell: max ||g_b|| (proximal: min-norm subgradient)
  gsl = 4,        ///< Gauss-Southwell-Lipschitz: max ||g_b||^2 / L_b (proximal: progress bound)
  gsd = 5,        ///< diagonal quadratic bound: max sum_j g_j^2 / d_j, Q_bb <= diag(d)
  gsq = 6,        ///< quadratic bound: max g_b^T Q_bb^{-1} g_b (the Newton step's progress)
};

/// Block update rules (paper section 4).
enum class BcdUpdate : int {
  gradient = 0,  ///< x_b -= g_b / L_b (proximal: soft-thresholded)
  newton = 1,    ///< x_b -= Q_bb^{-1} g_b (proximal: exact block minimization)
};

/// Options of `bcd_quadratic`.
struct BcdQuadraticOptions {
  BcdRule rule = BcdRule::gsl;
  BcdUpdate update = BcdUpdate::newton;
  /// Variable blocks: each iteration the block is the `block_size` coordinates with the best
  /// coordinate scores (greedy rules only). Otherwise the fixed partition passed in.
  bool variable_blocks = false;
  std::int64_t block_size = 1;
  std::int64_t max_iter = 1000;         ///< block updates
  double tol = 0.0;                     ///< stop when max_j KKT violation_j <= tol (absolute)
  bool active_set_newton = true;        ///< L1 only: Newton steps on a stable support (section 6)
  std::int64_t max_newton_size = 4096;  ///< largest support a Newton step factorizes
  std::uint64_t seed = 0;
  std::uint64_t iter_offset = 0;         ///< counter offset of the random rules (continuing runs)
  std::vector<double>* trace = nullptr;  ///< if set, F(x) after every iteration is appended
};

/// Diagnostics of `bcd_quadratic`.
struct BcdQuadraticResult {
  std::int64_t iterations = 0;
  double kkt = 0.0;  ///< max_j KKT violation at the end
  bool converged = false;
  std::int64_t active_set_iter = -1;  ///< iteration of the first accepted active-set Newton step
  std::int64_t newton_steps = 0;      ///< accepted active-set Newton steps
  double objective = 0.0;             ///< F(x) at the end (tracked incrementally)
};

namespace detail {

inline double soft_threshold(double v, double t) noexcept {
  return v > t ? v - t : (v < -t ? v + t : 0.0);
}

/// Distance of -g to w * subdifferential(|x|): the coordinate's KKT violation.
inline double kkt_violation(double x, double g, double w) noexcept {
  if (w == 0.0) return std::abs(g);
  if (x > 0) return std::abs(g + w);
  if (x < 0) return std::abs(g - w);
  return std::max(std::abs(g) - w, 0.0);
}

/// The proximal-gradient step x+ = soft(x - g/L, w/L) of one coordinate with curvature L and
/// the decrease of its quadratic upper bound, -(g d + L/2 d^2 + w (|x+| - |x|)) with d = x+ - x
/// (the proximal GS-q score of Nutini et al. 2015, GSL with L = L_j).
inline double prox_progress(double x, double g, double w, double L,
                            double* step = nullptr) noexcept {
  const double xn = soft_threshold(x - g / L, w / L);
  const double d = xn - x;
  if (step) *step = d;
  return -(g * d + 0.5 * L * d * d + w * (std::abs(xn) - std::abs(x)));
}

inline int sign_of(double v) noexcept {
  return (v > 0) - (v < 0);
}

/// Column-major dense symmetric matrix accessor.
struct SymView {
  const double* q;
  std::int64_t ld;
  double operator()(std::int64_t i, std::int64_t j) const noexcept { return q[i + j * ld]; }
  const double* col(std::int64_t j) const noexcept { return q + j * ld; }
};

/// Exact minimization of g^T d + 1/2 d^T H d + sum_j w_j |x_j + d_j| over d (H = Q_bb, b x b)
/// by cyclic coordinate sweeps on the block (each sweep O(b^2)); used for proximal Newton
/// block updates, where the block subproblem has no closed form.
inline void prox_newton_block(const Eigen::MatrixXd& H, const double* g, const double* x,
                              const double* w, double* d) {
  const std::int64_t b = H.rows();
  std::vector<double> h(g, g + b);  // h = g + H d, d = 0
  std::fill(d, d + b, 0.0);
  double scale = 0.0;
  for (std::int64_t j = 0; j < b; ++j) scale = std::max(scale, std::abs(x[j]));
  for (int sweep = 0; sweep < 200; ++sweep) {
    double delta = 0.0;
    for (std::int64_t j = 0; j < b; ++j) {
      const double hjj = H(j, j);
      if (!(hjj > 0)) continue;
      const double cur = x[j] + d[j];
      const double nxt = soft_threshold(cur - h[j] / hjj, w[j] / hjj);
      const double step = nxt - cur;
      if (step == 0.0) continue;
      d[j] += step;
      for (std::int64_t i = 0; i < b; ++i) h[i] += H(i, j) * step;  // h += H[:, j] * step
      delta = std::max(delta, std::abs(step));
    }
    if (delta <= 1e-14 * (1.0 + scale)) break;
  }
}

}  // namespace detail

/// Block coordinate descent on F(x) = 1/2 x^T Q x - c^T x + sum_j w_j |x_j|.
///
/// Q: p x p symmetric PSD, column-major with leading dimension ldq. c, w (w >= 0; nullptr means
/// no L1 term): length p. x: start point, overwritten with the result; g: must hold Q x - c on
/// entry and holds it on exit. Blocks: the fixed partition is blk_ptr/blk_idx (block b is
/// blk_idx[blk_ptr[b] .. blk_ptr[b+1])); ignored with variable blocks.
///
/// Rules score every block from the maintained gradient in one O(p) pass (GSQ: O(sum b^2) with
/// each block's Cholesky factor computed once). Each iteration then updates one block
/// (O(p |B|) for the gradient). With an L1 term and `active_set_newton`, once the sign pattern
/// has not changed for max(10, |support|) iterations the Newton step on the support,
/// Q_SS x_S = c_S - w_S sign(x_S), is tried and kept when it keeps the sign pattern and does not
/// increase F (the paper's superlinear phase; on the right support it is the exact solution).
/// Serial: the caller parallelizes across problems or over data passes.
inline BcdQuadraticResult bcd_quadratic(const double* Q, std::int64_t ldq, std::int64_t p,
                                        const double* c, const double* w, double* x, double* g,
                                        const std::int64_t* blk_ptr, const std::int64_t* blk_idx,
                                        std::int64_t n_fixed_blocks,
                                        const BcdQuadraticOptions& opt) {
  using detail::kkt_violation;
  using detail::prox_progress;
  BcdQuadraticResult res;
  const detail::SymView q{Q, ldq};
  const bool l1 = w != nullptr && std::any_of(w, w + p, [](double v) { return v > 0; });
  auto wj = [&](std::int64_t j) { return w ? w[j] : 0.0; };
  const bool greedy = opt.rule == BcdRule::gs || opt.rule == BcdRule::gsl ||
                      opt.rule == BcdRule::gsd || opt.rule == BcdRule::gsq;
  if (opt.variable_blocks && !greedy)
    throw value_error("rule: variable blocks need a greedy rule (gs, gsl, gsd or gsq)");
  if (p == 0) {
    res.converged = true;
    return res;
  }

  // Objective F = 1/2 x^T (g - c) + sum w |x| (since Q x = g + c), tracked incrementally.
  double f = 0.0;
  for (std::int64_t j = 0; j < p; ++j) f += 0.5 * x[j] * (g[j] - c[j]) + wj(j) * std::abs(x[j]);

  // Fixed blocks: Lipschitz constant L_b = lambda_max(Q_bb), Gershgorin diagonal bound d_j =
  // sum_{k in b} |Q_jk| (Q_bb <= diag(d)), and a Cholesky factor of Q_bb (+ a tiny ridge for
  // singular blocks) when the update or the rule needs one.
  const std::int64_t nb = opt.variable_blocks ? 0 : n_fixed_blocks;
  std::vector<double> Lb(nb), dgs(p, 0.0);
  std::vector<Eigen::LLT<Eigen::MatrixXd>> chol;
  const bool need_chol = opt.update == BcdUpdate::newton || opt.rule == BcdRule::gsq;
  double max_diag = 0.0;
  for (std::int64_t j = 0; j < p; ++j) max_diag = std::max(max_diag, q(j, j));
  const double ridge = 1e-12 * std::max(max_diag, 1e-300);
  auto block_matrix = [&](const std::int64_t* idx, std::int64_t b) {
    Eigen::MatrixXd H(b, b);
    for (std::int64_t s = 0; s < b; ++s)
      for (std::int64_t t = 0; t < b; ++t) H(t, s) = q(idx[t], idx[s]);
    return H;
  };
  auto lambda_max = [&](const Eigen::MatrixXd& H) -> double {
    if (H.rows() == 1) return H(0, 0);
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(H, Eigen::EigenvaluesOnly);
    return es.eigenvalues().maxCoeff();
  };
  if (!opt.variable_blocks) {
    if (need_chol) chol.resize(static_cast<std::size_t>(nb));
    for (std::int64_t bk = 0; bk < nb; ++bk) {
      const std::int64_t* idx = blk_idx + blk_ptr[bk];
      const std::int64_t b = blk_ptr[bk + 1] - blk_ptr[bk];
      const Eigen::MatrixXd H = block_matrix(idx, b);
      Lb[bk] = lambda_max(H);
      for (std::int64_t t = 0; t < b; ++t) dgs[idx[t]] = H.col(t).cwiseAbs().sum();
      if (need_chol && b > 1) {
        chol[bk].compute(H + ridge * Eigen::MatrixXd::Identity(b, b));
      }
    }
  } else {
    for (std::int64_t j = 0; j < p; ++j) dgs[j] = q(j, j);
  }
  std::vector<double> cumL;  // Lipschitz sampling
  if (opt.rule == BcdRule::lipschitz) {
    cumL.resize(static_cast<std::size_t>(nb));
    double s = 0.0;
    for (std::int64_t bk = 0; bk < nb; ++bk) cumL[bk] = (s += std::max(Lb[bk], 0.0));
  }
  const CounterRng rng(opt.seed, StreamTag::bcd_rule);

  // Score of a coordinate or block from the current gradient.
  auto coord_score = [&](std::int64_t j, double L) -> double {
    if (!(L > 0)) return 0.0;
    const double wv = wj(j);
    if (opt.rule == BcdRule::gs) {
      const double v = kkt_violation(x[j], g[j], wv);
      return v * v;
    }
    if (wv == 0.0) return g[j] * g[j] / L;
    return prox_progress(x[j], g[j], wv, L);
  };
  std::vector<double> tmp;
  auto block_score = [&](std::int64_t bk) -> double {
    const std::int64_t* idx = blk_idx + blk_ptr[bk];
    const std::int64_t b = blk_ptr[bk + 1] - blk_ptr[bk];
    if (b == 1) return coord_score(idx[0], Lb[bk]);  // L_b = Q_jj: GSL = GSD = GSQ
    double s = 0.0;
    switch (opt.rule) {
      case BcdRule::gs:
        for (std::int64_t t = 0; t < b; ++t) s += coord_score(idx[t], 1.0);
        return s;
      case BcdRule::gsl:
        for (std::int64_t t = 0; t < b; ++t) s += coord_score(idx[t], Lb[bk]);
        return s;
      case BcdRule::gsq:
        if (!l1) {  // g_b^T Q_bb^{-1} g_b
          Eigen::VectorXd gb(b);
          for (std::int64_t t = 0; t < b; ++t) gb[t] = g[idx[t]];
          return gb.dot(chol[bk].solve(gb));
        }
        // proximal GSQ on blocks has no closed form: use the diagonal bound (GSD)
        // fallthrough
      default:
        for (std::int64_t t = 0; t < b; ++t) s += coord_score(idx[t], dgs[idx[t]]);
        return s;
    }
  };

  // Active-set bookkeeping (L1 only).
  // (a start point with a support gets a Newton attempt after the first update)
  std::int64_t last_change = -(std::int64_t{1} << 40), last_try = -(std::int64_t{1} << 41);
  std::int64_t support = 0;
  for (std::int64_t j = 0; j < p; ++j) support += x[j] != 0.0;

  std::vector<std::int64_t> vblk;
  std::vector<double> dx, xb, gb, wb;
  Eigen::MatrixXd Hv;
  std::int64_t t = 0;
  auto current_kkt = [&]() {
    double m = 0.0;
    for (std::int64_t j = 0; j < p; ++j) m = std::max(m, kkt_violation(x[j], g[j], wj(j)));
    return m;
  };
  double kkt = current_kkt();
  for (; t < opt.max_iter; ++t) {
    if (kkt <= opt.tol) break;
    // --- choose the block ---
    const std::int64_t* idx = nullptr;
    std::int64_t b = 0, bk = -1;
    if (opt.variable_blocks) {
      const std::int64_t bs = std::min(opt.block_size, p);
      vblk.resize(static_cast<std::size_t>(p));
      tmp.resize(static_cast<std::size_t>(p));
      for (std::int64_t j = 0; j < p; ++j) {
        vblk[j] = j;
        tmp[j] = coord_score(j, q(j, j));
      }
      auto better = [&](std::int64_t a, std::int64_t bb) {
        return tmp[a] > tmp[bb] || (tmp[a] == tmp[bb] && a < bb);
      };
      std::nth_element(vblk.begin(), vblk.begin() + (bs - 1), vblk.end(), better);
      std::sort(vblk.begin(), vblk.begin() + bs);
      idx = vblk.data();
      b = bs;
    } else {
      switch (opt.rule) {
        case BcdRule::cyclic:
          bk = static_cast<std::int64_t>((opt.iter_offset + t) % static_cast<std::uint64_t>(nb));
          break;
        case BcdRule::random:
          bk = std::min<std::int64_t>(
              nb - 1, static_cast<std::int64_t>(rng.uniform(opt.iter_offset + t) * nb));
          break;
        case BcdRule::lipschitz: {
          const double u = rng.uniform(opt.iter_offset + t) * cumL.back();
          bk = std::min<std::int64_t>(nb - 1,
                                      std::upper_bound(cumL.begin(), cumL.end(), u) - cumL.begin());
          break;
        }
        default: {
          double best = -1.0;
          for (std::int64_t k = 0; k < nb; ++k) {
            const double s = block_score(k);
            if (s > best) {
              best = s;
              bk = k;
            }
          }
        }
      }
      idx = blk_idx + blk_ptr[bk];
      b = blk_ptr[bk + 1] - blk_ptr[bk];
    }
    // --- the update dx on the block ---
    dx.assign(static_cast<std::size_t>(b), 0.0);
    xb.resize(static_cast<std::size_t>(b));
    gb.resize(static_cast<std::size_t>(b));
    wb.resize(static_cast<std::size_t>(b));
    for (std::int64_t s = 0; s < b; ++s) {
      xb[s] = x[idx[s]];
      gb[s] = g[idx[s]];
      wb[s] = wj(idx[s]);
    }
    double L = 0.0;
    const Eigen::LLT<Eigen::MatrixXd>* fac = nullptr;
    Eigen::LLT<Eigen::MatrixXd> vfac;
    if (b == 1) {
      L = opt.update == BcdUpdate::gradient && !opt.variable_blocks ? Lb[bk] : q(idx[0], idx[0]);
    } else if (opt.variable_blocks) {
      Hv = block_matrix(idx, b);
      if (opt.update == BcdUpdate::gradient)
        L = lambda_max(Hv);
      else if (!l1) {
        vfac.compute(Hv + ridge * Eigen::MatrixXd::Identity(b, b));
        fac = &vfac;
      }
    } else {
      L = Lb[bk];
      if (need_chol) fac = &chol[bk];
    }
    if (b == 1 || opt.update == BcdUpdate::gradient) {
      if (L > 0)
        for (std::int64_t s = 0; s < b; ++s) {
          double d;
          if (wb[s] > 0)
            prox_progress(xb[s], gb[s], wb[s], L, &d);
          else
            d = -gb[s] / L;
          dx[s] = d;
        }
    } else if (!l1) {
      Eigen::Map<const Eigen::VectorXd> gv(gb.data(), b);
      Eigen::Map<Eigen::VectorXd>(dx.data(), b) = -fac->solve(gv);  // dx = -Q_bb^{-1} g_b
    } else {
      if (!opt.variable_blocks) Hv = block_matrix(idx, b);
      detail::prox_newton_block(Hv, gb.data(), xb.data(), wb.data(), dx.data());
    }
    // --- apply: F change, x, g, sign pattern ---
    double df = 0.0;
    for (std::int64_t s = 0; s < b; ++s) {
      if (dx[s] == 0.0) continue;
      const double* qc = q.col(idx[s]);
      double qd = 0.0;  // (Q_bb dx)_s
      for (std::int64_t r = 0; r < b; ++r) qd += qc[idx[r]] * dx[r];
      df += gb[s] * dx[s] + 0.5 * dx[s] * qd;
    }
    for (std::int64_t s = 0; s < b; ++s) {
      if (dx[s] == 0.0) continue;
      const std::int64_t j = idx[s];
      const double xn = xb[s] + dx[s];
      df += wb[s] * (std::abs(xn) - std::abs(xb[s]));
      if (detail::sign_of(xn) != detail::sign_of(xb[s])) {
        last_change = t;
        support += (xn != 0.0) - (xb[s] != 0.0);
      }
      x[j] = xn;
      const double* qc = q.col(j);
      const double d = dx[s];
      for (std::int64_t i = 0; i < p; ++i) g[i] += qc[i] * d;  // g += Q[:, j] * dx_j
    }
    f += df;
    // --- active-set Newton step (L1) ---
    // tried on the start point's support (warm starts), then each time the sign pattern has
    // been stable for min(support, 10) iterations since the last change
    // been stable for min(support, 10) iterations since the last change, and when the
    // factorization (support^3 / 3 flops) costs at most as much as the BCD work since the last
    // attempt (~2 p per iteration) times 8: amortized, Newton steps at most ~8x the BCD work
    const double newton_cost = static_cast<double>(support) * support * support / 3.0;
    if (l1 && opt.active_set_newton && support > 0 && support <= opt.max_newton_size &&
        last_try < last_change && t - last_change >= std::min<std::int64_t>(10, support) &&
        newton_cost <= 16.0 * static_cast<double>(p) *
                           static_cast<double>(t - std::max<std::int64_t>(last_try, -1))) {
      last_try = t;
      std::vector<std::int64_t> S;
      for (std::int64_t j = 0; j < p; ++j)
        if (x[j] != 0.0) S.push_back(j);
      const auto m = static_cast<std::int64_t>(S.size());
      Eigen::MatrixXd H = block_matrix(S.data(), m);
      Eigen::VectorXd rhs(m);
      for (std::int64_t s = 0; s < m; ++s) rhs[s] = c[S[s]] - wj(S[s]) * detail::sign_of(x[S[s]]);
      Eigen::LLT<Eigen::MatrixXd> llt(H + ridge * Eigen::MatrixXd::Identity(m, m));
      if (llt.info() == Eigen::Success) {
        const Eigen::VectorXd y = llt.solve(rhs);
        bool keep = y.allFinite();
        for (std::int64_t s = 0; s < m && keep; ++s)
          keep = detail::sign_of(y[s]) == detail::sign_of(x[S[s]]);
        if (keep) {
          std::vector<double> gn(g, g + p);
          for (std::int64_t s = 0; s < m; ++s) {
            const double d = y[s] - x[S[s]];
            if (d == 0.0) continue;
            const double* qc = q.col(S[s]);
            for (std::int64_t i = 0; i < p; ++i) gn[i] += qc[i] * d;
          }
          double fn = 0.0;
          for (std::int64_t j = 0; j < p; ++j) {
            const double xj = x[j];
            double xv = xj;
            // position of j in S (S sorted)
            if (xj != 0.0) xv = y[std::lower_bound(S.begin(), S.end(), j) - S.begin()];
            fn += 0.5 * xv * (gn[j] - c[j]) + wj(j) * std::abs(xv);
          }
          if (fn <= f + 1e-12 * std::abs(f)) {
            for (std::int64_t s = 0; s < m; ++s) x[S[s]] = y[s];
            std::copy(gn.begin(), gn.end(), g);
            f = fn;
            ++res.newton_steps;
            if (res.active_set_iter < 0) res.active_set_iter = t;
          }
        }
      }
    }
    kkt = current_kkt();
    if (opt.trace) opt.trace->push_back(f);
  }
  res.iterations = t;
  res.kkt = kkt;
  res.converged = kkt <= opt.tol;
  res.objective = f;
  return res;
}

// ------------------------------------------------------------------------------------------
// Generalized linear models on data.
// ------------------------------------------------------------------------------------------

enum class BcdLoss : int {
  squared = 0,   ///< 1/2 (y_i - z_i)^2
  logistic = 1,  ///< log(1 + exp(-y_i z_i)), y_i in {-1, +1}
};

/// Dense column-major design: column j at data + j * ld (n rows).
template <class T>
struct DenseColumns {
  static constexpr bool is_dense = true;
  const T* data = nullptr;
  std::int64_t n = 0, p = 0, ld = 0;
};

/// Compressed sparse columns: column j holds rows indices[indptr[j] .. indptr[j+1]).
template <class T, class I>
struct CscColumns {
  static constexpr bool is_dense = false;
  const I* indptr = nullptr;
  const I* indices = nullptr;
  const T* values = nullptr;
  std::int64_t n = 0, p = 0;
};

struct BcdGlmOptions {
  BcdQuadraticOptions inner;  ///< rule, update, blocks, seed (tol and max_iter set per call)
  BcdLoss loss = BcdLoss::squared;
  double lambda1 = 0.0;  ///< L1 weight (not on the intercept)
  double lambda2 = 0.0;  ///< L2 weight (not on the intercept)
  bool fit_intercept = false;
  double tol = 1e-6;               ///< on the relative certificate (see BcdGlmResult::measure)
  std::int64_t max_iter = 100000;  ///< total block updates
  std::int64_t max_outer = 500;
  bool all_coordinates = false;  ///< one block holding every coordinate (no working sets)
  std::int64_t ws_min = 32;      ///< first working-set size
  /// Working sets up to this size are solved by greedy BCD on their Gram matrix (ws_max^2
  /// doubles); larger ones by cyclic coordinate descent in data form.
  std::int64_t ws_max = 4096;
  /// Fixed partition of the coordinates 0..p-1 into blocks (block id per coordinate, -1 =
  /// automatic contiguous blocks of inner.block_size); used with all_coordinates.
  const std::int64_t* block_of = nullptr;
  int n_threads = 0;
};

struct BcdGlmProgress {
  std::int64_t outer, iterations, ws_size, support;
  double primal, measure, seconds;
};

struct BcdGlmResult {
  std::int64_t iterations = 0;  ///< block updates (all inner runs)
  std::int64_t outer = 0;       ///< outer iterations (passes over A computing the gradient)
  double primal = 0.0;          ///< objective at the solution
  double gap = std::numeric_limits<double>::quiet_NaN();  ///< duality gap (L1 without intercept
                                                          ///< for logistic), else NaN
  double measure = 0.0;  ///< gap / P(0) for L1 problems with a dual, else KKT / KKT(0)
  bool measure_is_gap = false;
  bool converged = false;
  std::int64_t active_set_iter = -1;  ///< global iteration of the first active-set Newton step
  std::int64_t newton_steps = 0;
  std::int64_t line_search_steps = 0;
  std::vector<double> trace;            ///< objective per block update (when inner.trace requested)
  std::vector<BcdGlmProgress> history;  ///< one entry per outer iteration
};

namespace detail {

// Column operations of the two designs, in double.
template <class T>
double col_dot(const DenseColumns<T>& a, std::int64_t j, const double* v) {
  const T* col = a.data + j * a.ld;
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::int64_t i = 0;
  for (; i + 4 <= a.n; i += 4) {
    s0 += static_cast<double>(col[i]) * v[i];
    s1 += static_cast<double>(col[i + 1]) * v[i + 1];
    s2 += static_cast<double>(col[i + 2]) * v[i + 2];
    s3 += static_cast<double>(col[i + 3]) * v[i + 3];
  }
  for (; i < a.n; ++i) s0 += static_cast<double>(col[i]) * v[i];
  return (s0 + s1) + (s2 + s3);
}
template <class T, class I>
double col_dot(const CscColumns<T, I>& a, std::int64_t j, const double* v) {
  double s = 0;
  for (std::int64_t k = a.indptr[j]; k < static_cast<std::int64_t>(a.indptr[j + 1]); ++k)
    s += static_cast<double>(a.values[k]) * v[a.indices[k]];
  return s;
}
template <class T>
void col_axpy(const DenseColumns<T>& a, std::int64_t j, double alpha, double* v) {
  const T* col = a.data + j * a.ld;
  for (std::int64_t i = 0; i < a.n; ++i) v[i] += alpha * static_cast<double>(col[i]);
}
template <class T, class I>
void col_axpy(const CscColumns<T, I>& a, std::int64_t j, double alpha, double* v) {
  for (std::int64_t k = a.indptr[j]; k < static_cast<std::int64_t>(a.indptr[j + 1]); ++k)
    v[a.indices[k]] += alpha * static_cast<double>(a.values[k]);
}

template <class T>
const T* dense_col_ptr(const DenseColumns<T>& a, std::int64_t j) {
  return a.data + j * a.ld;
}
template <class T, class I>
const T* dense_col_ptr(const CscColumns<T, I>&, std::int64_t) {
  return nullptr;  // not used (dense designs only)
}
/// sum_{i0 <= i < i1} col_i v_i (col = nullptr: a column of ones), 4 accumulators.
template <class T>
double part_dot(const T* col, const double* v, std::int64_t i0, std::int64_t i1) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::int64_t i = i0;
  if (col == nullptr) {
    for (; i + 4 <= i1; i += 4) {
      s0 += v[i];
      s1 += v[i + 1];
      s2 += v[i + 2];
      s3 += v[i + 3];
    }
    for (; i < i1; ++i) s0 += v[i];
  } else {
    for (; i + 4 <= i1; i += 4) {
      s0 += static_cast<double>(col[i]) * v[i];
      s1 += static_cast<double>(col[i + 1]) * v[i + 1];
      s2 += static_cast<double>(col[i + 2]) * v[i + 2];
      s3 += static_cast<double>(col[i + 3]) * v[i + 3];
    }
    for (; i < i1; ++i) s0 += static_cast<double>(col[i]) * v[i];
  }
  return (s0 + s1) + (s2 + s3);
}
/// v_i += alpha D_i col_i on [i0, i1) (D = nullptr: unit weights; col = nullptr: ones).
template <class T>
void part_axpy(const T* col, const double* D, double alpha, double* v, std::int64_t i0,
               std::int64_t i1) {
  if (col == nullptr) {
    if (D == nullptr)
      for (std::int64_t i = i0; i < i1; ++i) v[i] += alpha;
    else
      for (std::int64_t i = i0; i < i1; ++i) v[i] += alpha * D[i];
  } else if (D == nullptr) {
    for (std::int64_t i = i0; i < i1; ++i) v[i] += alpha * static_cast<double>(col[i]);
  } else {
    for (std::int64_t i = i0; i < i1; ++i) v[i] += alpha * D[i] * static_cast<double>(col[i]);
  }
}

template <class T>
std::int64_t col_nnz(const DenseColumns<T>& a, std::int64_t) {
  return a.n;
}
template <class T, class I>
std::int64_t col_nnz(const CscColumns<T, I>& a, std::int64_t j) {
  return static_cast<std::int64_t>(a.indptr[j + 1]) - static_cast<std::int64_t>(a.indptr[j]);
}
template <class T>
double col_weighted_sq(const DenseColumns<T>& a, std::int64_t j, const double* D) {
  const T* col = a.data + j * a.ld;
  double s = 0;
  for (std::int64_t i = 0; i < a.n; ++i) s += D[i] * static_cast<double>(col[i]) * col[i];
  return s;
}
template <class T, class I>
double col_weighted_sq(const CscColumns<T, I>& a, std::int64_t j, const double* D) {
  double s = 0;
  for (std::int64_t k = a.indptr[j]; k < static_cast<std::int64_t>(a.indptr[j + 1]); ++k) {
    const double v = static_cast<double>(a.values[k]);
    s += D[a.indices[k]] * v * v;
  }
  return s;
}
template <class T>
void col_axpy_weighted(const DenseColumns<T>& a, std::int64_t j, double alpha, const double* D,
                       double* v) {
  const T* col = a.data + j * a.ld;
  for (std::int64_t i = 0; i < a.n; ++i) v[i] += alpha * D[i] * static_cast<double>(col[i]);
}
template <class T, class I>
void col_axpy_weighted(const CscColumns<T, I>& a, std::int64_t j, double alpha, const double* D,
                       double* v) {
  for (std::int64_t k = a.indptr[j]; k < static_cast<std::int64_t>(a.indptr[j + 1]); ++k)
    v[a.indices[k]] += alpha * D[a.indices[k]] * static_cast<double>(a.values[k]);
}

/// Q[s, t] = sum_i D_i a_{i,W[s]} a_{i,W[t]} for the m columns W (D = nullptr: unit weights),
/// dense design: row chunks gathered as double (scaled by sqrt(D)) and multiplied tile by tile
/// (each Q tile summed over chunks in order: deterministic).
template <class T>
void weighted_gram(const DenseColumns<T>& a, const std::vector<std::int64_t>& W, const double* D,
                   double* Q, std::int64_t ldq, int nt) {
  const auto m = static_cast<std::int64_t>(W.size());
  for (std::int64_t t = 0; t < m; ++t) std::fill(Q + t * ldq, Q + t * ldq + m, 0.0);
  if (m == 0) return;
  const std::int64_t chunk = 1024;
  Eigen::MatrixXd X(std::min<std::int64_t>(chunk, a.n), m);
  Eigen::Map<Eigen::MatrixXd, 0, Eigen::OuterStride<>> Qm(Q, m, m, Eigen::OuterStride<>(ldq));
  const std::int64_t tile = 64, n_tiles = n_blocks(m, tile);
  for (std::int64_t r0 = 0; r0 < a.n; r0 += chunk) {
    const std::int64_t rows = std::min(chunk, a.n - r0);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (std::int64_t s = 0; s < m; ++s) {
      const T* col = a.data + W[s] * a.ld + r0;
      for (std::int64_t i = 0; i < rows; ++i)
        X(i, s) = static_cast<double>(col[i]) * (D ? std::sqrt(D[r0 + i]) : 1.0);
    }
    const auto Xc = X.topRows(rows);
#pragma omp parallel for num_threads(nt) if (nt > 1 && m >= 128) schedule(dynamic, 1)
    for (std::int64_t tt = 0; tt < n_tiles; ++tt) {
      const std::int64_t c0 = tt * tile, cw = std::min(tile, m - c0);
      Qm.middleCols(c0, cw).noalias() += Xc.transpose() * Xc.middleCols(c0, cw);
    }
  }
}

/// Same for CSC: rows of A_W gathered once (counting sort), then column t of Q is
/// sum over the entries (i, v) of column W[t] of D_i v A_W[i, :] (one writer per column).
template <class T, class I>
void weighted_gram(const CscColumns<T, I>& a, const std::vector<std::int64_t>& W, const double* D,
                   double* Q, std::int64_t ldq, int nt) {
  const auto m = static_cast<std::int64_t>(W.size());
  std::vector<std::int64_t> rp(static_cast<std::size_t>(a.n + 1), 0);
  for (std::int64_t s = 0; s < m; ++s)
    for (std::int64_t k = a.indptr[W[s]]; k < static_cast<std::int64_t>(a.indptr[W[s] + 1]); ++k)
      ++rp[a.indices[k] + 1];
  for (std::int64_t i = 0; i < a.n; ++i) rp[i + 1] += rp[i];
  std::vector<std::int64_t> rc(static_cast<std::size_t>(rp[a.n]));
  std::vector<double> rv(rc.size());
  std::vector<std::int64_t> pos(rp.begin(), rp.end() - 1);
  for (std::int64_t s = 0; s < m; ++s)
    for (std::int64_t k = a.indptr[W[s]]; k < static_cast<std::int64_t>(a.indptr[W[s] + 1]); ++k) {
      const std::int64_t i = a.indices[k];
      rc[pos[i]] = s;
      rv[pos[i]++] = static_cast<double>(a.values[k]);
    }
#pragma omp parallel for num_threads(nt) if (nt > 1 && m >= 64) schedule(dynamic, 8)
  for (std::int64_t t = 0; t < m; ++t) {
    double* qc = Q + t * ldq;
    std::fill(qc, qc + m, 0.0);
    const std::int64_t j = W[t];
    for (std::int64_t k = a.indptr[j]; k < static_cast<std::int64_t>(a.indptr[j + 1]); ++k) {
      const std::int64_t i = a.indices[k];
      const double v = static_cast<double>(a.values[k]) * (D ? D[i] : 1.0);
      for (std::int64_t e = rp[i]; e < rp[i + 1]; ++e) qc[rc[e]] += v * rv[e];
    }
  }
}

/// z += A[:, W] d (dense: parallel over row chunks; CSC: serial scatter).
template <class T>
void add_columns(const DenseColumns<T>& a, const std::vector<std::int64_t>& W, const double* d,
                 double* z, int nt) {
  const std::int64_t chunk = 4096, nch = n_blocks(a.n, chunk);
#pragma omp parallel for num_threads(nt) if (nt > 1 && a.n >= 2 * chunk) schedule(static)
  for (std::int64_t cb = 0; cb < nch; ++cb) {
    const std::int64_t r0 = cb * chunk, r1 = std::min(a.n, r0 + chunk);
    for (std::size_t s = 0; s < W.size(); ++s) {
      if (d[s] == 0.0) continue;
      const T* col = a.data + W[s] * a.ld;
      for (std::int64_t i = r0; i < r1; ++i) z[i] += d[s] * static_cast<double>(col[i]);
    }
  }
}
template <class T, class I>
void add_columns(const CscColumns<T, I>& a, const std::vector<std::int64_t>& W, const double* d,
                 double* z, int) {
  for (std::size_t s = 0; s < W.size(); ++s)
    if (d[s] != 0.0) col_axpy(a, W[s], d[s], z);
}

/// log(1 + exp(-m)) without overflow.
inline double log1pexp_neg(double m) noexcept {
  return m > 0 ? std::log1p(std::exp(-m)) : -m + std::log1p(std::exp(m));
}
/// 1 / (1 + exp(-t)).
inline double sigmoid(double t) noexcept {
  if (t >= 0) return 1.0 / (1.0 + std::exp(-t));
  const double e = std::exp(t);
  return e / (1.0 + e);
}
/// u log u + (1 - u) log(1 - u) on [0, 1] (0 at the ends): the conjugate of the logistic loss.
inline double binary_entropy_neg(double u) noexcept {
  double s = 0.0;
  if (u > 0) s += u * std::log(u);
  if (u < 1) s += (1 - u) * std::log1p(-u);
  return s;
}

/// Sum over fixed blocks of f(i), combined in block order (thread-count independent).
template <class F>
double ordered_sum(std::int64_t n, int nt, F&& f) {
  const std::int64_t blk = 8192, nb = n_blocks(n, blk);
  std::vector<double> part(static_cast<std::size_t>(nb), 0.0);
#pragma omp parallel for num_threads(nt) if (nt > 1 && nb > 1) schedule(static)
  for (std::int64_t b = 0; b < nb; ++b) {
    double s = 0.0;
    for (std::int64_t i = b * blk, e = std::min(n, (b + 1) * blk); i < e; ++i) s += f(i);
    part[b] = s;
  }
  double s = 0.0;
  for (double v : part) s += v;
  return s;
}

}  // namespace detail

/// Minimizes  sum_i loss(y_i, z_i) + lambda1 ||x||_1 + lambda2/2 ||x||^2,  z = A x + x0
/// (x0 the unpenalized intercept when fit_intercept), over x (length p, in/out: the start
/// point) and x0 (in/out).
///
/// Outer loop (one gradient pass over A each): loss derivatives at z, full gradient, primal
/// objective and the certificate; stop when the relative certificate <= tol. Certificates:
/// for lambda1 > 0 the duality gap (squared loss: dual point theta = r, centred when there is an
/// intercept, scaled into the dual feasible set; logistic without intercept: u = sigmoid(-y z)
/// scaled likewise) divided by P(0); otherwise the largest KKT violation divided by the
/// largest gradient entry at x = 0. The working set holds the support plus the coordinates with
/// the largest KKT violations (at least ws_min, at least twice the support, never shrinking,
/// at most p); its quadratic model (Q = A_W^T D A_W + lambda2 I, D = loss'') is minimized
/// by `bcd_quadratic` (working sets of at most ws_max coordinates; larger ones by cyclic
/// coordinate descent on the model in data form) to a KKT tolerance a fraction of the current
/// violation; the logistic step is then accepted by Armijo backtracking on the true objective.
template <class Design>
BcdGlmResult bcd_glm(const Design& A, const double* y, double* x, double* x0,
                     const BcdGlmOptions& opt,
                     const std::function<bool(const BcdGlmProgress&)>& progress = nullptr) {
  using clock = std::chrono::steady_clock;
  const auto t_start = clock::now();
  const int nt = resolve_threads(opt.n_threads);
  const std::int64_t n = A.n, p = A.p;
  const bool sq = opt.loss == BcdLoss::squared;
  const bool icpt = opt.fit_intercept;
  const double l1 = opt.lambda1, l2 = opt.lambda2;
  if (!(l1 >= 0) || !(l2 >= 0)) throw value_error("lambda: must be >= 0");
  if (!sq)
    for (std::int64_t i = 0; i < n; ++i)
      if (y[i] != 1.0 && y[i] != -1.0) throw value_error("y: logistic labels must be -1 or +1");
  BcdGlmResult res;
  const std::int64_t pe = p + (icpt ? 1 : 0);  // coordinates, intercept last

  // z = A x + x0
  std::vector<double> z(static_cast<std::size_t>(n), icpt ? *x0 : 0.0);
  {
    std::vector<std::int64_t> all;
    std::vector<double> xs;
    for (std::int64_t j = 0; j < p; ++j)
      if (x[j] != 0.0) {
        all.push_back(j);
        xs.push_back(x[j]);
      }
    detail::add_columns(A, all, xs.data(), z.data(), nt);
  }
  std::vector<double> lp(static_cast<std::size_t>(n)), D(static_cast<std::size_t>(n));
  std::vector<double> G(static_cast<std::size_t>(pe));
  // loss derivatives at z; returns sum of losses
  auto derivatives = [&](const std::vector<double>& zz, bool want_D) {
    return detail::ordered_sum(n, nt, [&](std::int64_t i) {
      if (sq) {
        const double r = y[i] - zz[i];
        lp[i] = -r;
        if (want_D) D[i] = 1.0;
        return 0.5 * r * r;
      }
      const double m = y[i] * zz[i];
      const double s = detail::sigmoid(-m);  // sigma(-y z)
      lp[i] = -y[i] * s;
      if (want_D) D[i] = s * (1.0 - s);
      return detail::log1pexp_neg(m);
    });
  };
  auto loss_at = [&](const std::vector<double>& zz) {
    return detail::ordered_sum(n, nt, [&](std::int64_t i) {
      if (sq) {
        const double r = y[i] - zz[i];
        return 0.5 * r * r;
      }
      return detail::log1pexp_neg(y[i] * zz[i]);
    });
  };
  auto full_gradient = [&]() {
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(dynamic, 64)
    for (std::int64_t j = 0; j < p; ++j) G[j] = detail::col_dot(A, j, lp.data()) + l2 * x[j];
    if (icpt) G[p] = detail::ordered_sum(n, nt, [&](std::int64_t i) { return lp[i]; });
  };
  auto penalty = [&]() {
    double a = 0.0, b = 0.0;
    for (std::int64_t j = 0; j < p; ++j) {
      a += std::abs(x[j]);
      b += x[j] * x[j];
    }
    return l1 * a + 0.5 * l2 * b;
  };
  auto wcoord = [&](std::int64_t j) { return j < p ? l1 : 0.0; };
  auto xcoord = [&](std::int64_t j) -> double& { return j < p ? x[j] : *x0; };

  // Scale of the certificate: P(0) (gap) or the largest |gradient| at x = 0 (KKT).
  const bool has_gap = l1 > 0 && (sq || !icpt);
  res.measure_is_gap = has_gap;
  double scale = 0.0;
  std::vector<double> colsum;
  if (sq && icpt) {  // column sums, to centre the dual point
    colsum.resize(static_cast<std::size_t>(p));
    std::vector<double> ones(static_cast<std::size_t>(n), 1.0);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(dynamic, 64)
    for (std::int64_t j = 0; j < p; ++j) colsum[j] = detail::col_dot(A, j, ones.data());
  }
  {
    std::vector<double> z0(static_cast<std::size_t>(n), 0.0);
    if (has_gap) {
      if (sq && icpt) {
        const double ybar = detail::ordered_sum(n, nt, [&](std::int64_t i) { return y[i]; }) / n;
        scale = detail::ordered_sum(
            n, nt, [&](std::int64_t i) { return 0.5 * (y[i] - ybar) * (y[i] - ybar); });
      } else {
        scale = loss_at(z0);
      }
    } else {
      derivatives(z0, false);
      std::vector<double> xsave(x, x + p);
      std::fill(x, x + p, 0.0);
      full_gradient();
      std::copy(xsave.begin(), xsave.end(), x);
      for (std::int64_t j = 0; j < pe; ++j) scale = std::max(scale, std::abs(G[j]));
    }
    if (!(scale > 0)) scale = 1.0;
  }

  std::vector<std::int64_t> Wl;  // working set (coordinates, intercept = p)
  std::vector<double> Q, c, w, xw, gw, dw, Ad(static_cast<std::size_t>(n)), zt;
  std::vector<std::int64_t> blk_ptr, blk_idx;
  std::int64_t ws_size = opt.ws_min;
  std::vector<std::int64_t> gram_W;
  for (std::int64_t outer = 0;; ++outer) {
    const double loss = derivatives(z, !sq);
    full_gradient();
    const double primal = loss + penalty();
    res.primal = primal;
    // certificate
    double kkt_max = 0.0;
    for (std::int64_t j = 0; j < pe; ++j)
      kkt_max = std::max(kkt_max, detail::kkt_violation(xcoord(j), G[j], wcoord(j)));
    double measure;
    if (has_gap) {
      // a_j^T theta for theta = -lp (squared: the residual; logistic: y * sigma(-y z))
      double shift = 0.0;
      if (sq && icpt) shift = -G[p] / n;  // mean of the residual r = -lp
      double amax = 0.0, pen2 = 0.0;
      std::vector<double> at(static_cast<std::size_t>(p));
      for (std::int64_t j = 0; j < p; ++j) {
        at[j] = -(G[j] - l2 * x[j]) - (sq && icpt ? shift * colsum[j] : 0.0);
        amax = std::max(amax, std::abs(at[j]));
        const double e = std::max(std::abs(at[j]) - l1, 0.0);
        pen2 += e * e;
      }
      auto dual_at = [&](double s) {  // D(s * theta)
        if (sq)
          return detail::ordered_sum(n, nt, [&](std::int64_t i) {
            const double th = s * (-lp[i] - shift);
            return 0.5 * y[i] * y[i] - 0.5 * (y[i] - th) * (y[i] - th);
          });
        return -detail::ordered_sum(
            n, nt, [&](std::int64_t i) { return detail::binary_entropy_neg(s * std::abs(lp[i])); });
      };
      double dual = dual_at(amax > l1 ? l1 / amax : 1.0);
      if (l2 > 0) dual = std::max(dual, dual_at(1.0) - pen2 / (2 * l2));
      res.gap = std::max(primal - dual, 0.0);
      measure = res.gap / scale;
    } else {
      measure = kkt_max / scale;
    }
    res.measure = measure;
    res.outer = outer;
    std::int64_t support = 0;
    for (std::int64_t j = 0; j < p; ++j) support += x[j] != 0.0;
    const double secs = std::chrono::duration<double>(clock::now() - t_start).count();
    res.history.push_back({outer, res.iterations, static_cast<std::int64_t>(Wl.size()), support,
                           primal, measure, secs});
    if (progress && progress(res.history.back())) break;
    if (measure <= opt.tol) {
      res.converged = true;
      break;
    }
    if (outer >= opt.max_outer || res.iterations >= opt.max_iter) break;

    // --- working set ---
    std::vector<std::int64_t> newW;
    if (opt.all_coordinates || pe <= opt.ws_min) {
      newW.resize(static_cast<std::size_t>(pe));
      std::iota(newW.begin(), newW.end(), 0);
    } else {
      ws_size = std::min<std::int64_t>(pe, std::max({ws_size, 2 * support, opt.ws_min}));
      std::vector<std::int64_t> cand;
      std::vector<double> v(static_cast<std::size_t>(pe));
      for (std::int64_t j = 0; j < pe; ++j) {
        v[j] = detail::kkt_violation(xcoord(j), G[j], wcoord(j));
        if (xcoord(j) != 0.0 || j == p)
          newW.push_back(j);
        else if (v[j] > 0)
          cand.push_back(j);
      }
      const auto room = std::max<std::int64_t>(0, ws_size - static_cast<std::int64_t>(newW.size()));
      if (static_cast<std::int64_t>(cand.size()) > room) {
        auto better = [&](std::int64_t a, std::int64_t b) {
          return v[a] > v[b] || (v[a] == v[b] && a < b);
        };
        std::nth_element(cand.begin(), cand.begin() + room, cand.end(), better);
        cand.resize(static_cast<std::size_t>(room));
      }
      newW.insert(newW.end(), cand.begin(), cand.end());
      std::sort(newW.begin(), newW.end());
    }
    Wl = newW;
    const auto m = static_cast<std::int64_t>(Wl.size());
    const std::int64_t mp = (icpt && Wl.back() == p) ? m - 1 : m;  // data columns in W
    std::vector<std::int64_t> Wd(Wl.begin(), Wl.begin() + mp);
    xw.resize(static_cast<std::size_t>(m));
    gw.resize(static_cast<std::size_t>(m));
    w.resize(static_cast<std::size_t>(m));
    c.resize(static_cast<std::size_t>(m));
    for (std::int64_t s = 0; s < m; ++s) {
      xw[s] = xcoord(Wl[s]);
      gw[s] = G[Wl[s]];
      w[s] = wcoord(Wl[s]);
    }
    double kkt_w = 0.0;
    for (std::int64_t s = 0; s < m; ++s)
      kkt_w = std::max(kkt_w, detail::kkt_violation(xw[s], gw[s], w[s]));
    std::vector<double> xnew(xw);
    bool inner_converged = false;
    // Gram form for small working sets (m <= 256), and on sparse data for working sets up to
    // ws_max whose columns are long (m <= 8 x average column nnz: an update's O(m) gradient
    // refresh is then not much dearer than a data-form update's O(nnz of a column)). Dense
    // working sets above 256 use the data form: their Gram matrix costs n m^2 flops per
    // working set, the work of m data-form epochs (see DEVNOTES).
    std::int64_t w_nnz = 0;
    for (std::int64_t s = 0; s < mp; ++s) w_nnz += detail::col_nnz(A, Wd[s]);
    constexpr bool dense_design = Design::is_dense;
    const bool use_gram =
        m <= std::min<std::int64_t>(opt.ws_max, 256) ||
        (!dense_design && m <= opt.ws_max && m <= 8 * (w_nnz / std::max<std::int64_t>(mp, 1)));
    // inner tolerance: a fraction of the violation now (the outer loop certifies). In the Gram
    // form an inner sweep costs O(m^2), far below the outer pass over A that each extra outer
    // iteration costs, so the model is solved more tightly there (dense 20000 x 5000 path:
    // 20 -> 14 outer passes over the small-support points).
    const double inner_tol = (use_gram ? 0.001 : 0.05) * kkt_max;
    if (use_gram) {  // Gram matrix of the working set, greedy BCD
      // --- quadratic model on W ---
      const std::int64_t ldq = m;
      if (!sq || gram_W != Wl) {
        Q.assign(static_cast<std::size_t>(checked_mul(m, m, "working-set Gram matrix")), 0.0);
        detail::weighted_gram(A, Wd, sq ? nullptr : D.data(), Q.data(), ldq, nt);
        if (icpt && mp < m) {  // intercept row/column: sum_i D_i a_ij, sum_i D_i
          std::vector<double> ones(static_cast<std::size_t>(n), 1.0);
          const double* dv = sq ? ones.data() : D.data();
          for (std::int64_t s = 0; s < mp; ++s) {
            const double v = detail::col_dot(A, Wd[s], dv);
            Q[s + mp * ldq] = v;
            Q[mp + s * ldq] = v;
          }
          Q[mp + mp * ldq] = detail::ordered_sum(n, nt, [&](std::int64_t i) { return dv[i]; });
        }
        for (std::int64_t s = 0; s < mp; ++s) Q[s + s * ldq] += l2;
        if (!sq) {  // curvature floor for (near-)separable data
          double md = 0.0;
          for (std::int64_t s = 0; s < m; ++s) md = std::max(md, Q[s + s * ldq]);
          for (std::int64_t s = 0; s < m; ++s)
            Q[s + s * ldq] = std::max(Q[s + s * ldq], 1e-10 * md);
        }
        gram_W = Wl;
      }
      for (std::int64_t s = 0; s < m; ++s) {  // c = Q x_W - g_W
        double acc = 0.0;
        for (std::int64_t r = 0; r < m; ++r) acc += Q[r + s * ldq] * xw[r];
        c[s] = acc - gw[s];
      }
      // blocks over the working set
      blk_ptr.assign(1, 0);
      blk_idx.clear();
      if (!opt.inner.variable_blocks) {
        if (opt.block_of && opt.all_coordinates) {
          std::int64_t nblk = 0;
          for (std::int64_t j = 0; j < p; ++j) nblk = std::max(nblk, opt.block_of[j] + 1);
          std::vector<std::vector<std::int64_t>> members(static_cast<std::size_t>(nblk));
          for (std::int64_t j = 0; j < p; ++j) members[opt.block_of[j]].push_back(j);
          if (icpt) members.push_back({p});
          for (auto& mb : members) {
            if (mb.empty()) continue;
            blk_idx.insert(blk_idx.end(), mb.begin(), mb.end());
            blk_ptr.push_back(static_cast<std::int64_t>(blk_idx.size()));
          }
        } else {
          const std::int64_t bs = std::max<std::int64_t>(1, opt.inner.block_size);
          for (std::int64_t s = 0; s < m; ++s) {
            blk_idx.push_back(s);
            if ((s + 1) % bs == 0 || s + 1 == m) blk_ptr.push_back(s + 1);
          }
        }
      }
      const std::int64_t nblk = static_cast<std::int64_t>(blk_ptr.size()) - 1;
      BcdQuadraticOptions in = opt.inner;
      in.tol = inner_tol;
      in.max_iter = opt.max_iter - res.iterations;
      if (!sq)
        in.max_iter = std::min<std::int64_t>(in.max_iter, std::max<std::int64_t>(100, 20 * m));
      in.iter_offset = static_cast<std::uint64_t>(res.iterations);
      const double trace_base = primal;
      std::vector<double> tr;
      if (opt.inner.trace) in.trace = &tr;
      const BcdQuadraticResult ir =
          bcd_quadratic(Q.data(), ldq, m, c.data(), w.data(), xnew.data(), gw.data(),
                        blk_ptr.data(), blk_idx.data(), nblk, in);
      // gw now holds the model gradient at xnew; x_W moves along d = xnew - xw
      if (ir.active_set_iter >= 0 && res.active_set_iter < 0)
        res.active_set_iter = res.iterations + ir.active_set_iter;
      res.newton_steps += ir.newton_steps;
      res.iterations += ir.iterations;
      if (opt.inner.trace) {
        // f_model(x) - f_model(x_W) + primal: exact for the squared loss
        double f0 = 0.0;
        for (std::int64_t s = 0; s < m; ++s)
          f0 += 0.5 * xw[s] * (G[Wl[s]] - c[s]) + w[s] * std::abs(xw[s]);
        for (double v : tr) res.trace.push_back(v - f0 + trace_base);
      }
      inner_converged = ir.converged;
    } else {
      // Large working set: no Gram matrix. Cyclic coordinate descent on the same quadratic
      // model in data form: v = D * (A_W d) is kept up to date, so coordinate j's model
      // gradient is g_j + a_j^T v + lambda2 d_j and its curvature h_j = a_j^T D a_j + lambda2
      // (greedy rules would need every gradient after each update: the Gram matrix).
      std::vector<double> h(static_cast<std::size_t>(m)), v(static_cast<std::size_t>(n), 0.0);
      std::vector<double> dcur(static_cast<std::size_t>(m), 0.0), ones;
      const double* dv = sq ? nullptr : D.data();
      if (dv == nullptr) {
        ones.assign(static_cast<std::size_t>(n), 1.0);
        dv = ones.data();
      }
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(dynamic, 64)
      for (std::int64_t s = 0; s < m; ++s) {
        const std::int64_t j = Wl[s];
        if (j == p) {
          double acc = 0.0;
          for (std::int64_t i = 0; i < n; ++i) acc += dv[i];
          h[s] = acc;
        } else {
          h[s] = detail::col_weighted_sq(A, j, dv) + l2;
        }
      }
      const std::int64_t max_sweeps = sq ? 100000 : 50;
      inner_converged = false;
      // Dense designs with many rows: the rows are cut into fixed parts of kCdPartRows; each
      // coordinate's model gradient is the in-order sum of the parts' dots (the same
      // arithmetic for any number of threads), computed by the threads that own the parts,
      // and each thread updates v on its own parts: one barrier per coordinate.
      constexpr std::int64_t kCdPartRows = 8192;
      const std::int64_t nparts = n_blocks(n, kCdPartRows);
      if (Design::is_dense && nparts >= 2) {
        const bool unit = sq;  // D = 1: plain dot/axpy
        std::vector<double> slot(static_cast<std::size_t>(2 * nparts));
        std::int64_t iters_out = res.iterations;
        bool conv_out = false;
        std::vector<double> dcur_out;
        const int team = static_cast<int>(std::min<std::int64_t>(nt, nparts));
#pragma omp parallel num_threads(team) if (team > 1)
        {
          const std::int64_t tid = thread_id(), tn = team_size();
          const std::int64_t q0 = tid * nparts / tn, q1 = (tid + 1) * nparts / tn;
          std::vector<double> dc(static_cast<std::size_t>(m), 0.0);
          std::int64_t iters = res.iterations, step = 0;
          bool conv = false;
          for (std::int64_t sweep = 0; sweep < max_sweeps && iters < opt.max_iter; ++sweep) {
            double viol = 0.0;
            for (std::int64_t s = 0; s < m; ++s) {
              const std::int64_t j = Wl[s];
              if (!(h[s] > 0)) continue;
              double* sl = slot.data() + (step & 1) * nparts;
              ++step;
              const auto* col = j == p ? nullptr : detail::dense_col_ptr(A, j);
              for (std::int64_t q = q0; q < q1; ++q) {
                const std::int64_t i0 = q * kCdPartRows, i1 = std::min(n, i0 + kCdPartRows);
                sl[q] = detail::part_dot(col, v.data(), i0, i1);
              }
#pragma omp barrier
              double gj = gw[s];
              for (std::int64_t q = 0; q < nparts; ++q) gj += sl[q];
              if (j != p) gj += l2 * dc[s];
              const double xj = xw[s] + dc[s];
              viol = std::max(viol, detail::kkt_violation(xj, gj, w[s]));
              const double dd = detail::soft_threshold(xj - gj / h[s], w[s] / h[s]) - xj;
              if (dd == 0.0) continue;
              dc[s] += dd;
              for (std::int64_t q = q0; q < q1; ++q) {
                const std::int64_t i0 = q * kCdPartRows, i1 = std::min(n, i0 + kCdPartRows);
                detail::part_axpy(col, unit ? nullptr : dv, dd, v.data(), i0, i1);
              }
            }
            iters += m;
            if (viol <= inner_tol) {
              conv = true;
              break;
            }
          }
          if (tid == 0) {
            iters_out = iters;
            conv_out = conv;
            dcur_out.swap(dc);
          }
        }
        res.iterations = iters_out;
        inner_converged = conv_out;
        dcur.swap(dcur_out);
      } else {
        for (std::int64_t sweep = 0; sweep < max_sweeps && res.iterations < opt.max_iter; ++sweep) {
          double viol = 0.0;
          for (std::int64_t s = 0; s < m; ++s) {
            const std::int64_t j = Wl[s];
            if (!(h[s] > 0)) continue;
            double gj = gw[s];
            if (j == p) {
              for (std::int64_t i = 0; i < n; ++i) gj += v[i];
            } else {
              gj += detail::col_dot(A, j, v.data()) + l2 * dcur[s];
            }
            const double xj = xw[s] + dcur[s];
            viol = std::max(viol, detail::kkt_violation(xj, gj, w[s]));
            const double dd = detail::soft_threshold(xj - gj / h[s], w[s] / h[s]) - xj;
            if (dd == 0.0) continue;
            dcur[s] += dd;
            if (j == p) {
              for (std::int64_t i = 0; i < n; ++i) v[i] += dd * dv[i];
            } else {
              detail::col_axpy_weighted(A, j, dd, dv, v.data());
            }
          }
          res.iterations += m;
          if (viol <= inner_tol) {
            inner_converged = true;
            break;
          }
        }
      }
      for (std::int64_t s = 0; s < m; ++s) xnew[s] = xw[s] + dcur[s];
    }
    dw.resize(static_cast<std::size_t>(m));
    bool moved = false;
    for (std::int64_t s = 0; s < m; ++s) {
      dw[s] = xnew[s] - xw[s];
      moved |= dw[s] != 0.0;
    }
    if (!moved) {
      if (inner_converged && kkt_w <= inner_tol && ws_size >= pe) break;
      ws_size = std::min<std::int64_t>(pe, 2 * ws_size);
      continue;
    }
    // A_W d (+ intercept)
    std::fill(Ad.begin(), Ad.end(), (icpt && mp < m) ? dw[mp] : 0.0);
    detail::add_columns(A, Wd, dw.data(), Ad.data(), nt);
    double step = 1.0;
    if (!sq) {  // Armijo: F(x + t d) <= F(x) + 0.01 t Delta
      double delta = 0.0;
      for (std::int64_t s = 0; s < m; ++s)
        delta += G[Wl[s]] * dw[s] + w[s] * (std::abs(xnew[s]) - std::abs(xw[s]));
      zt.resize(static_cast<std::size_t>(n));
      double out_l1 = 0.0, out_l2 = 0.0;  // penalty of the coordinates outside W
      for (std::int64_t j = 0; j < p; ++j) {
        out_l1 += std::abs(x[j]);
        out_l2 += x[j] * x[j];
      }
      for (std::int64_t s = 0; s < mp; ++s) {
        out_l1 -= std::abs(xw[s]);
        out_l2 -= xw[s] * xw[s];
      }
      for (int ls = 0; ls < 40; ++ls) {
        for (std::int64_t i = 0; i < n; ++i) zt[i] = z[i] + step * Ad[i];
        double l1n = out_l1, l2n = out_l2;
        for (std::int64_t s = 0; s < mp; ++s) {
          const double xv = xw[s] + step * dw[s];
          l1n += std::abs(xv);
          l2n += xv * xv;
        }
        const double pen = l1 * l1n + 0.5 * l2 * l2n;
        const double fnew = loss_at(zt) + pen;
        if (fnew <= primal + 1e-2 * step * delta) break;
        step *= 0.5;
        ++res.line_search_steps;
        if (step < 1e-10) {  // no decrease along d: rounding floor reached
          step = 0.0;
          break;
        }
      }
      if (step == 0.0) break;
    }
    for (std::int64_t s = 0; s < m; ++s) xcoord(Wl[s]) = xw[s] + step * dw[s];
    for (std::int64_t i = 0; i < n; ++i) z[i] += step * Ad[i];
  }
  return res;
}

}  // namespace sparsketch
