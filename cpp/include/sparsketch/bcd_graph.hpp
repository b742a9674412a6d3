#pragma once
/// \file bcd_graph.hpp
/// Graph label propagation by block coordinate descent (the paper's "quadratic labeling"
/// problem, dataset D; Nutini, Laradji & Schmidt, arXiv:1712.08859, sections 5 and 7), with
/// forest-structured blocks updated by message passing, and the same forest sweeps as a
/// preconditioner for conjugate gradients.
///
/// Problem: S (n x n) symmetric with non-negative weights and no diagonal, Y (n x k) the
/// one-hot labels of the labelled nodes (zero rows elsewhere), lab_i = 1 for labelled nodes:
///   F(X) = sum_{i<j} S_ij ||x_i - x_j||^2 + lambda sum_i lab_i ||x_i - y_i||^2
///        = tr(X^T M X) - 2 tr(C^T X) + const,  M = diag(S 1) - S + lambda diag(lab),
///   C = lambda diag(lab) Y.  The gradient is 2 (M X - C); the stopping measure is the relative
///   residual ||M X - C||_F / ||C||_F (scipy's CG convention).
/// Nodes in connected components without a labelled node have M singular there with C = 0;
/// every method keeps them at their start value (0 from a zero start: the minimum-norm
/// solution).
///
/// Blocks: a partition of the nodes. Forest blocks (`forest_blocks`) are grown greedily: a
/// node joins the current block when its neighbours already in the block lie in different
/// trees of it (so the block's induced subgraph stays acyclic); the nodes left over start the
/// next block. On a forest block, M_bb is tree-structured and M_bb z = r is solved by Gaussian
/// elimination leaves-to-root then back-substitution root-to-leaves: O(|b|) (message passing).
/// Other blocks use a dense Cholesky factor of M_bb (cached).
///
/// Rules (on blocks): cyclic, random, Lipschitz-proportional, GS (||g_b||^2), GSL
/// (||g_b||^2 / L_b), GSD (sum g_i^2 / D_i) and GSQ (g_b^T M_bb^{-1} g_b, by message passing on
/// forest blocks), with L_b and D the Gershgorin bounds: D_i = M_ii + sum_{j in b} S_ij
/// (M_bb <= diag(D)), L_b = max_{i in b} D_i. Greedy rules keep the gradient up to date
/// (only the block and its neighbours change) and the block scores in a tournament tree.
/// Updates: gradient (X_b -= G_b / L_b) or Newton (exact block minimization).
/// Cyclic Newton sweeps over forest blocks skip the gradient bookkeeping and solve the trees
/// of a block in parallel (they do not interact within the block).
///
/// Results do not depend on the number of threads.

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
#include <numeric>
#include <type_traits>
#include <vector>

#include "sparsketch/bcd.hpp"

namespace sparsketch {

/// Symmetric graph in CSR form (both directions stored, no self loops, weights >= 0).
struct GraphCsr {
  std::int64_t n = 0;
  const std::int64_t* ptr = nullptr;
  const std::int64_t* idx = nullptr;
  const double* w = nullptr;
};

struct LabelPropOptions {
  BcdRule rule = BcdRule::cyclic;
  BcdUpdate update = BcdUpdate::newton;
  double lambda = 1.0;
  double tol = 1e-6;                ///< on ||M X - C||_F / ||C||_F
  std::int64_t max_iter = 1000000;  ///< block updates (BCD) or iterations (CG)
  std::uint64_t seed = 0;
  int n_threads = 0;
};

/// Greedy forest partition: block id per node (ids 0, 1, ... in creation order).
inline std::vector<std::int64_t> forest_blocks(const GraphCsr& g) {
  const std::int64_t n = g.n;
  std::vector<std::int64_t> block(static_cast<std::size_t>(n), -1), parent(block.size()),
      left(block.size());
  std::iota(left.begin(), left.end(), 0);
  auto find = [&](std::int64_t a) {
    while (parent[a] != a) {
      parent[a] = parent[parent[a]];
      a = parent[a];
    }
    return a;
  };
  std::vector<std::int64_t> roots;
  for (std::int64_t b = 0; !left.empty(); ++b) {
    std::vector<std::int64_t> rest;
    for (std::int64_t v : left) {
      roots.clear();
      bool ok = true;
      for (std::int64_t e = g.ptr[v]; e < g.ptr[v + 1] && ok; ++e) {
        const std::int64_t u = g.idx[e];
        if (block[u] != b || g.w[e] == 0.0) continue;
        const std::int64_t r = find(u);
        ok = std::find(roots.begin(), roots.end(), r) == roots.end();
        roots.push_back(r);
      }
      if (!ok) {
        rest.push_back(v);
        continue;
      }
      block[v] = b;
      parent[v] = v;
      for (std::int64_t r : roots) parent[r] = v;
    }
    left.swap(rest);
  }
  return block;
}

namespace detail {

/// The trees of one forest block in depth-first preorder (order[t], trees in [tree_ptr[s],
/// tree_ptr[s+1])), with the tree's LDL^T factor precomputed (it does not depend on the
/// right-hand side): parent position ppos[t] (-1 at a root), coupling m[t] = M(v, parent),
/// elimination multiplier fac[t] and inverse pivot invd[t] (0 for a singular pivot: a tree
/// that is a whole unlabelled component). Each node's neighbours outside the block are kept
/// in the same order (off_ptr/off_idx/off_w; those in earlier blocks first, up to off_mid)
/// for the Gauss-Seidel sweeps. flags: bit 0 = the node has children, bit 1 = it is the child
/// of its parent visited first by a leaves-to-root pass (the last one in preorder).
struct ForestBlock {
  std::vector<std::int64_t> order, ppos, tree_ptr, off_ptr, off_mid, off_idx;
  std::vector<double> m, fac, invd, off_w;
  std::vector<unsigned char> flags;
  std::vector<std::int64_t> chunk_ptr;  ///< trees grouped into parallel work items
};

/// Smallest work item (nodes) of a parallel forest sweep, and the piece size the CG
/// preconditioner cuts big trees into.
constexpr std::int64_t kForestChunk = 2048, kPrecondPiece = 4096;

/// Depth-first preorder of the trees of block b (parents before children, each subtree
/// contiguous), starting from its nodes in the order given; calls visit(v, parent position or
/// -1, coupling -w) for each node and appends each tree's end to tree_ptr. `seen` marks
/// visited nodes. max_piece > 0 cuts trees larger than that into pieces (subtrees of at least
/// max_piece nodes are split off, leaves first) that are reported as separate trees; the cut
/// edges are dropped (used by the preconditioner, so that big trees can run in parallel; the
/// pieces do not depend on the number of threads).
template <class Visit>
void forest_dfs(const GraphCsr& g, const std::vector<std::int64_t>& nodes,
                const std::vector<std::int64_t>& block_of, std::int64_t b, std::vector<char>& seen,
                Visit&& visit, std::vector<std::int64_t>& tree_ptr, std::int64_t max_piece = 0) {
  struct Item {
    std::int64_t v, parent;
    double m;
  };
  std::vector<Item> stack, tree;
  std::vector<std::int64_t> size, newpos;
  std::vector<char> cut;
  std::int64_t count = 0;
  for (std::int64_t s : nodes) {
    if (seen[s]) continue;
    seen[s] = 1;
    stack.push_back({s, -1, 0.0});
    tree.clear();
    while (!stack.empty()) {
      const Item it = stack.back();
      stack.pop_back();
      const std::int64_t t = static_cast<std::int64_t>(tree.size());
      tree.push_back(it);
      // neighbours pushed in reverse so that they are visited in CSR order
      for (std::int64_t e = g.ptr[it.v + 1] - 1; e >= g.ptr[it.v]; --e) {
        const std::int64_t u = g.idx[e];
        if (block_of[u] != b || seen[u] || g.w[e] == 0.0) continue;
        seen[u] = 1;
        stack.push_back({u, t, -g.w[e]});
      }
    }
    const std::int64_t sz = static_cast<std::int64_t>(tree.size());
    if (max_piece <= 0 || sz <= max_piece) {
      for (const Item& it : tree) visit(it.v, it.parent < 0 ? -1 : count + it.parent, it.m);
      count += sz;
      tree_ptr.push_back(count);
      continue;
    }
    // subtree sizes and pending (uncut) sizes, leaves first; cut where pending >= max_piece
    size.assign(static_cast<std::size_t>(sz), 1);
    std::vector<std::int64_t> pending(static_cast<std::size_t>(sz), 1);
    cut.assign(static_cast<std::size_t>(sz), 0);
    for (std::int64_t t = sz - 1; t > 0; --t) {
      const std::int64_t p = tree[t].parent;
      size[p] += size[t];
      if (pending[t] >= max_piece) {
        cut[t] = 1;
      } else {
        pending[p] += pending[t];
      }
    }
    cut[0] = 1;
    // emit each piece (in order of its root) in preorder, skipping nested pieces
    newpos.assign(static_cast<std::size_t>(sz), -1);
    for (std::int64_t r = 0; r < sz; ++r) {
      if (!cut[r]) continue;
      for (std::int64_t t = r; t < r + size[r];) {
        if (t != r && cut[t]) {
          t += size[t];
          continue;
        }
        newpos[t] = count;
        const Item& it = tree[t];
        if (t == r)
          visit(it.v, -1, 0.0);
        else
          visit(it.v, newpos[it.parent], it.m);
        ++count;
        ++t;
      }
      tree_ptr.push_back(count);
    }
  }
}

inline ForestBlock make_forest_block(const GraphCsr& g, const std::vector<std::int64_t>& nodes,
                                     const std::vector<std::int64_t>& block_of, std::int64_t b,
                                     std::vector<char>& seen, const double* diag,
                                     std::int64_t max_piece = 0) {
  ForestBlock f;
  f.tree_ptr.push_back(0);
  forest_dfs(
      g, nodes, block_of, b, seen,
      [&](std::int64_t v, std::int64_t parent, double m) {
        f.order.push_back(v);
        f.ppos.push_back(parent);
        f.m.push_back(m);
      },
      f.tree_ptr, max_piece);
  const std::int64_t sz = static_cast<std::int64_t>(f.order.size());
  f.fac.assign(static_cast<std::size_t>(sz), 0.0);
  f.invd.assign(static_cast<std::size_t>(sz), 0.0);
  std::vector<double> dd(static_cast<std::size_t>(sz));
  for (std::int64_t t = 0; t < sz; ++t) dd[t] = diag[f.order[t]];
  for (std::int64_t t = sz - 1; t >= 0; --t) {  // children come after their parents
    const double d0 = diag[f.order[t]];
    const bool ok = dd[t] > 1e-13 * d0;
    if (ok) f.invd[t] = 1.0 / dd[t];
    if (f.ppos[t] >= 0 && ok) {
      f.fac[t] = f.m[t] / dd[t];
      dd[f.ppos[t]] -= f.fac[t] * f.m[t];
    }
  }
  f.off_ptr.assign(1, 0);
  for (std::int64_t t = 0; t < sz; ++t) {
    const std::int64_t v = f.order[t];
    for (int pass = 0; pass < 2; ++pass) {  // earlier blocks, then later ones
      for (std::int64_t e = g.ptr[v]; e < g.ptr[v + 1]; ++e) {
        const std::int64_t bu = block_of[g.idx[e]];
        if (bu != b && g.w[e] != 0.0 && (pass == 0) == (bu < b)) {
          f.off_idx.push_back(g.idx[e]);
          f.off_w.push_back(g.w[e]);
        }
      }
      if (pass == 0) f.off_mid.push_back(static_cast<std::int64_t>(f.off_idx.size()));
    }
    f.off_ptr.push_back(static_cast<std::int64_t>(f.off_idx.size()));
  }
  f.chunk_ptr.assign(1, 0);
  const std::int64_t ntree = static_cast<std::int64_t>(f.tree_ptr.size()) - 1;
  for (std::int64_t q = 0; q < ntree; ++q)
    if (f.tree_ptr[q + 1] - f.tree_ptr[f.chunk_ptr.back()] >= kForestChunk || q + 1 == ntree)
      f.chunk_ptr.push_back(q + 1);
  f.flags.assign(static_cast<std::size_t>(sz), 0);
  for (std::int64_t t = sz - 1; t >= 0; --t) {
    const std::int64_t p = f.ppos[t];
    if (p < 0) continue;
    if (!(f.flags[p] & 1)) f.flags[t] |= 2;  // the parent has no child seen yet
    f.flags[p] |= 1;
  }
  return f;
}

/// Solves M_bb Z = R on tree s of a forest block (elimination towards the root, then back
/// substitution). R (rows indexed by node, k columns) is overwritten by Z.
template <int KC = 0>
void tree_solve(const ForestBlock& f, std::int64_t s, std::int64_t k_in, double* R) {
  const std::int64_t k = KC > 0 ? KC : k_in;
  const std::int64_t t0 = f.tree_ptr[s], t1 = f.tree_ptr[s + 1];
  for (std::int64_t t = t1 - 1; t > t0; --t) {
    const double r = f.fac[t];
    if (r == 0.0) continue;
    const double* rv = R + f.order[t] * k;
    double* ru = R + f.order[f.ppos[t]] * k;
    for (std::int64_t c = 0; c < k; ++c) ru[c] -= r * rv[c];
  }
  for (std::int64_t t = t0; t < t1; ++t) {
    double* rv = R + f.order[t] * k;
    const double inv = f.invd[t];
    if (t > t0) {
      const double m = f.m[t];
      const double* xu = R + f.order[f.ppos[t]] * k;
      for (std::int64_t c = 0; c < k; ++c) rv[c] = (rv[c] - m * xu[c]) * inv;
    } else {
      for (std::int64_t c = 0; c < k; ++c) rv[c] *= inv;
    }
  }
}

/// Tournament tree for argmax over block scores (ties: lowest index).
struct MaxTree {
  std::int64_t size = 1;
  std::vector<double> val;
  std::vector<std::int64_t> arg;
  explicit MaxTree(std::int64_t n) {
    while (size < n) size *= 2;
    val.assign(static_cast<std::size_t>(2 * size), -1.0);
    arg.assign(static_cast<std::size_t>(2 * size), 0);
    for (std::int64_t i = 0; i < size; ++i) arg[size + i] = i;
  }
  void set(std::int64_t i, double v) {
    std::int64_t t = size + i;
    val[t] = v;
    for (t /= 2; t >= 1; t /= 2) {
      const std::int64_t l = 2 * t, r = l + 1;
      const bool right = val[r] > val[l];
      val[t] = right ? val[r] : val[l];
      arg[t] = right ? arg[r] : arg[l];
    }
  }
  void build() {
    for (std::int64_t t = size - 1; t >= 1; --t) {
      const std::int64_t l = 2 * t, r = l + 1;
      const bool right = val[r] > val[l];
      val[t] = right ? val[r] : val[l];
      arg[t] = right ? arg[r] : arg[l];
    }
  }
  std::int64_t best() const { return arg[1]; }
};

/// Shared state of the label propagation solvers.
struct GraphProblem {
  GraphCsr g;
  std::int64_t k = 1;
  std::vector<double> diag;   ///< M_ii
  const double* C = nullptr;  ///< n x k right-hand side
  int nt = 1;

  /// out = M X - C (rows i0..i1 when parallel over all)
  template <int KC = 0>
  void residual(const double* X, double* out) const {
    const std::int64_t n = g.n, k = KC > 0 ? KC : this->k;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static, 4096)
    for (std::int64_t i = 0; i < n; ++i) {
      double* o = out + i * k;
      const double* xi = X + i * k;
      for (std::int64_t c = 0; c < k; ++c) o[c] = diag[i] * xi[c] - C[i * k + c];
      for (std::int64_t e = g.ptr[i]; e < g.ptr[i + 1]; ++e) {
        const double w = g.w[e];
        const double* xj = X + g.idx[e] * k;
        for (std::int64_t c = 0; c < k; ++c) o[c] -= w * xj[c];
      }
    }
  }
  template <int KC = 0>
  void matvec(const double* X, double* out) const {
    const std::int64_t n = g.n, k = KC > 0 ? KC : this->k;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static, 4096)
    for (std::int64_t i = 0; i < n; ++i) {
      double* o = out + i * k;
      const double* xi = X + i * k;
      for (std::int64_t c = 0; c < k; ++c) o[c] = diag[i] * xi[c];
      for (std::int64_t e = g.ptr[i]; e < g.ptr[i + 1]; ++e) {
        const double w = g.w[e];
        const double* xj = X + g.idx[e] * k;
        for (std::int64_t c = 0; c < k; ++c) o[c] -= w * xj[c];
      }
    }
  }
  double dot(const double* a, const double* b) const {
    const std::int64_t nk = g.n * k;
    return ordered_sum(nk, nt, [&](std::int64_t t) { return a[t] * b[t]; });
  }
};

/// The shared state of a solve: graph, k, right-hand side and M's diagonal.
inline GraphProblem make_graph_problem(const GraphCsr& g, const double* C, const double* lab,
                                       std::int64_t k, const LabelPropOptions& opt) {
  GraphProblem P;
  P.g = g;
  P.k = k;
  P.C = C;
  P.nt = resolve_threads(opt.n_threads);
  P.diag.assign(static_cast<std::size_t>(g.n), 0.0);
  for (std::int64_t i = 0; i < g.n; ++i) {
    double s = opt.lambda * lab[i];
    for (std::int64_t e = g.ptr[i]; e < g.ptr[i + 1]; ++e) s += g.w[e];
    P.diag[i] = s;
  }
  return P;
}

/// The objective's constant term lambda sum_i lab_i ||y_i||^2 (y_i = C_i / (lambda lab_i)).
inline double label_constant(const double* C, const double* lab, std::int64_t n, std::int64_t k,
                             double lambda) {
  double cconst = 0.0;
  for (std::int64_t i = 0; i < n; ++i)
    if (lab[i] > 0)
      for (std::int64_t c = 0; c < k; ++c) {
        const double y = C[i * k + c] / (lambda * lab[i]);
        cconst += lambda * lab[i] * y * y;
      }
  return cconst;
}

/// Nodes of each block, in increasing order.
inline std::vector<std::vector<std::int64_t>> block_members(
    const std::vector<std::int64_t>& block_of) {
  std::int64_t nb = 0;
  for (std::int64_t v : block_of) nb = std::max(nb, v + 1);
  std::vector<std::vector<std::int64_t>> members(static_cast<std::size_t>(nb));
  for (std::size_t i = 0; i < block_of.size(); ++i)
    members[static_cast<std::size_t>(block_of[i])].push_back(static_cast<std::int64_t>(i));
  return members;
}

/// Block Gauss-Seidel pass over forest blocks: for each block, the rows of its nodes are set
/// to the exact block minimizer of tr(X^T M X) - 2 tr(R^T X) with the other blocks fixed.
/// mode 0: forward over all blocks; 1: forward from X = 0 (only earlier blocks' values are
/// read, so X need not be cleared first); 2: backward, skipping the last block (the second
/// half of a symmetric sweep: that block was just solved against the same values). Each tree
/// is solved in two passes: leaves to root (gathering the right-hand side and the off-block
/// terms and eliminating towards the root, accumulating into the parent's row), then root to
/// leaves (back substitution). Trees of a block run in parallel.
template <int KC = 0>
void forest_sweep(const GraphProblem& P, const std::vector<ForestBlock>& fb, const double* R,
                  double* X, int mode) {
  const std::int64_t k = KC > 0 ? KC : P.k, nb = static_cast<std::int64_t>(fb.size());
  const bool backward = mode == 2, lo_only = mode == 1;
  for (std::int64_t q = backward ? 1 : 0; q < nb; ++q) {
    const ForestBlock& f = fb[static_cast<std::size_t>(backward ? nb - 1 - q : q)];
    const std::int64_t nchunk = static_cast<std::int64_t>(f.chunk_ptr.size()) - 1;
#pragma omp parallel num_threads(P.nt) if (P.nt > 1 && nchunk > 1)
    {
      double val[KC > 0 ? KC : 1];
      std::vector<double> dyn(KC > 0 ? 0 : static_cast<std::size_t>(k));
      double* a = KC > 0 ? val : dyn.data();
#pragma omp for schedule(dynamic, 1)
      for (std::int64_t ch = 0; ch < nchunk; ++ch)
        for (std::int64_t s = f.chunk_ptr[ch]; s < f.chunk_ptr[ch + 1]; ++s) {
          const std::int64_t t0 = f.tree_ptr[s], t1 = f.tree_ptr[s + 1];
          for (std::int64_t t = t1 - 1; t >= t0; --t) {
            const std::int64_t v = f.order[t];
            const double* rv = R + v * k;
            double* xv = X + v * k;
            if (f.flags[t] & 1) {
              for (std::int64_t c = 0; c < k; ++c) a[c] = rv[c] + xv[c];
            } else {
              for (std::int64_t c = 0; c < k; ++c) a[c] = rv[c];
            }
            const std::int64_t e1 = lo_only ? f.off_mid[t] : f.off_ptr[t + 1];
            for (std::int64_t e = f.off_ptr[t]; e < e1; ++e) {
              const double w = f.off_w[e];
              const double* xu = X + f.off_idx[e] * k;
              for (std::int64_t c = 0; c < k; ++c) a[c] += w * xu[c];
            }
            for (std::int64_t c = 0; c < k; ++c) xv[c] = a[c];
            if (t > t0) {
              double* xp = X + f.order[f.ppos[t]] * k;
              const double r = f.fac[t];
              if (f.flags[t] & 2) {
                for (std::int64_t c = 0; c < k; ++c) xp[c] = -r * a[c];
              } else {
                for (std::int64_t c = 0; c < k; ++c) xp[c] -= r * a[c];
              }
            }
          }
          {
            double* xv = X + f.order[t0] * k;
            const double inv = f.invd[t0];
            for (std::int64_t c = 0; c < k; ++c) xv[c] *= inv;
          }
          for (std::int64_t t = t0 + 1; t < t1; ++t) {
            double* xv = X + f.order[t] * k;
            const double* xp = X + f.order[f.ppos[t]] * k;
            const double m = f.m[t], inv = f.invd[t];
            for (std::int64_t c = 0; c < k; ++c) xv[c] = (xv[c] - m * xp[c]) * inv;
          }
        }
    }
  }
}

}  // namespace detail

/// Implementation of `label_propagation_bcd` (KC: k fixed at compile time, 0 = runtime k).
template <int KC>
BcdGlmResult label_propagation_bcd_impl(
    const GraphCsr& g, const double* C, const double* lab, std::int64_t k_in, double* X,
    const std::vector<std::int64_t>& block_of, bool forest, const LabelPropOptions& opt,
    const std::function<bool(const BcdGlmProgress&)>& progress = nullptr) {
  const std::int64_t k = KC > 0 ? KC : k_in;
  using clock = std::chrono::steady_clock;
  const auto t_start = clock::now();
  const std::int64_t n = g.n;
  const detail::GraphProblem P = detail::make_graph_problem(g, C, lab, k, opt);
  const std::vector<std::vector<std::int64_t>> members = detail::block_members(block_of);
  const std::int64_t nb = static_cast<std::int64_t>(members.size());
  // Gershgorin bounds
  std::vector<double> Dg(static_cast<std::size_t>(n)), Lb(static_cast<std::size_t>(nb), 0.0);
  for (std::int64_t i = 0; i < n; ++i) {
    double s = P.diag[i];
    for (std::int64_t e = g.ptr[i]; e < g.ptr[i + 1]; ++e)
      if (block_of[g.idx[e]] == block_of[i]) s += g.w[e];
    Dg[i] = s;
    Lb[block_of[i]] = std::max(Lb[block_of[i]], s);
  }
  std::vector<detail::ForestBlock> fb;
  std::vector<Eigen::LLT<Eigen::MatrixXd>> chol;
  std::vector<char> have_chol;
  if (forest) {
    std::vector<char> seen(static_cast<std::size_t>(n), 0);
    for (std::int64_t b = 0; b < nb; ++b)
      fb.push_back(detail::make_forest_block(g, members[b], block_of, b, seen, P.diag.data()));
    for (std::int64_t b = 0; b < nb; ++b)  // verify acyclicity: edges inside = nodes - trees
    {
      std::int64_t inside = 0;
      for (std::int64_t v : members[b])
        for (std::int64_t e = g.ptr[v]; e < g.ptr[v + 1]; ++e)
          inside += block_of[g.idx[e]] == b && g.w[e] != 0.0;
      const std::int64_t trees = static_cast<std::int64_t>(fb[b].tree_ptr.size()) - 1;
      if (inside / 2 != static_cast<std::int64_t>(members[b].size()) - trees)
        throw value_error("blocks: a forest block's induced subgraph has a cycle");
    }
  } else {
    chol.resize(static_cast<std::size_t>(nb));
    have_chol.assign(static_cast<std::size_t>(nb), 0);
  }
  const double cnorm = std::sqrt(P.dot(C, C));
  const double scale = cnorm > 0 ? cnorm : 1.0;
  std::vector<double> G(static_cast<std::size_t>(n * k)),
      work(static_cast<std::size_t>(n * k), 0.0);
  // F(X) - const = tr(X^T (M X - C)) - tr(C^T X) = <X, G> - <C, X>;  const = lambda ||Y_lab||^2
  const double cconst = detail::label_constant(C, lab, n, k, opt.lambda);
  auto objective = [&]() { return P.dot(X, G.data()) - P.dot(C, X) + cconst; };
  BcdGlmResult res;
  auto record = [&](std::int64_t epoch) {
    res.measure = std::sqrt(P.dot(G.data(), G.data())) / scale;
    res.primal = objective();
    res.outer = epoch;
    const double secs = std::chrono::duration<double>(clock::now() - t_start).count();
    res.history.push_back({epoch, res.iterations, nb, n, res.primal, res.measure, secs});
    return progress && progress(res.history.back());
  };
  P.template residual<KC>(X, G.data());
  if (record(0)) return res;
  if (res.measure <= opt.tol) {
    res.converged = true;
    return res;
  }
  const bool fast = forest && opt.rule == BcdRule::cyclic && opt.update == BcdUpdate::newton;
  if (fast) {
    for (std::int64_t epoch = 1; res.iterations < opt.max_iter; ++epoch) {
      detail::forest_sweep<KC>(P, fb, C, X, 0);
      res.iterations += nb;
      P.template residual<KC>(X, G.data());
      if (record(epoch)) break;
      if (res.measure <= opt.tol) {
        res.converged = true;
        break;
      }
    }
    return res;
  }

  // --- general path: gradient kept up to date ---
  auto block_dense = [&](std::int64_t b) {
    const auto& mb = members[b];
    const std::int64_t m = static_cast<std::int64_t>(mb.size());
    Eigen::MatrixXd H = Eigen::MatrixXd::Zero(m, m);
    for (std::int64_t a = 0; a < m; ++a) {
      const std::int64_t v = mb[a];
      H(a, a) = P.diag[v];
      for (std::int64_t e = g.ptr[v]; e < g.ptr[v + 1]; ++e) {
        const std::int64_t u = g.idx[e];
        if (block_of[u] != b) continue;
        const auto it = std::lower_bound(mb.begin(), mb.end(), u);
        H(a, it - mb.begin()) -= g.w[e];
      }
    }
    const double md = std::max(H.diagonal().maxCoeff(), 1e-300);
    H.diagonal().array() += 1e-13 * md;  // singular blocks (unlabelled components)
    chol[b].compute(H);
    have_chol[b] = 1;
  };
  // Z (rows of block b in `work`) = M_bb^{-1} G_b
  auto block_inverse = [&](std::int64_t b) {
    const auto& mb = members[b];
    for (std::int64_t v : mb)
      for (std::int64_t c = 0; c < k; ++c) work[v * k + c] = G[v * k + c];
    if (forest) {
      const auto& f = fb[b];
      for (std::int64_t s = 0; s + 1 < static_cast<std::int64_t>(f.tree_ptr.size()); ++s)
        detail::tree_solve<KC>(f, s, k, work.data());
    } else {
      if (!have_chol[b]) block_dense(b);
      const std::int64_t m = static_cast<std::int64_t>(mb.size());
      Eigen::MatrixXd R(m, k);
      for (std::int64_t a = 0; a < m; ++a)
        for (std::int64_t c = 0; c < k; ++c) R(a, c) = work[mb[a] * k + c];
      R = chol[b].solve(R);
      for (std::int64_t a = 0; a < m; ++a)
        for (std::int64_t c = 0; c < k; ++c) work[mb[a] * k + c] = R(a, c);
    }
  };
  auto score = [&](std::int64_t b) {
    double s = 0.0;
    const auto& mb = members[b];
    switch (opt.rule) {
      case BcdRule::gs:
      case BcdRule::gsl:
        for (std::int64_t v : mb)
          for (std::int64_t c = 0; c < k; ++c) s += G[v * k + c] * G[v * k + c];
        if (opt.rule == BcdRule::gsl) s = Lb[b] > 0 ? s / Lb[b] : 0.0;
        break;
      case BcdRule::gsd:
        for (std::int64_t v : mb)
          if (Dg[v] > 0)
            for (std::int64_t c = 0; c < k; ++c) s += G[v * k + c] * G[v * k + c] / Dg[v];
        break;
      default:  // gsq
        block_inverse(b);
        for (std::int64_t v : mb)
          for (std::int64_t c = 0; c < k; ++c) s += G[v * k + c] * work[v * k + c];
        break;
    }
    return s;
  };
  const bool greedy = opt.rule == BcdRule::gs || opt.rule == BcdRule::gsl ||
                      opt.rule == BcdRule::gsd || opt.rule == BcdRule::gsq;
  detail::MaxTree tree(std::max<std::int64_t>(nb, 1));
  if (greedy) {
    for (std::int64_t b = 0; b < nb; ++b) tree.val[tree.size + b] = score(b);
    tree.build();
  }
  std::vector<double> cumL;
  if (opt.rule == BcdRule::lipschitz) {
    double s = 0.0;
    for (std::int64_t b = 0; b < nb; ++b) cumL.push_back(s += Lb[b]);
  }
  const CounterRng rng(opt.seed, StreamTag::bcd_rule);
  std::vector<std::int64_t> stamp(static_cast<std::size_t>(nb), -1), touched;
  std::int64_t epoch = 0;
  for (std::int64_t it = 0; it < opt.max_iter; ++it) {
    std::int64_t b;
    switch (opt.rule) {
      case BcdRule::cyclic:
        b = it % nb;
        break;
      case BcdRule::random:
        b = std::min(nb - 1, static_cast<std::int64_t>(rng.uniform(static_cast<std::uint64_t>(it)) *
                                                       static_cast<double>(nb)));
        break;
      case BcdRule::lipschitz: {
        const double u = rng.uniform(static_cast<std::uint64_t>(it)) * cumL.back();
        b = std::min<std::int64_t>(nb - 1,
                                   std::upper_bound(cumL.begin(), cumL.end(), u) - cumL.begin());
        break;
      }
      default:
        b = tree.best();
    }
    const auto& mb = members[b];
    // step Z (in work rows of b): X_b -= Z
    if (opt.update == BcdUpdate::newton) {
      block_inverse(b);
    } else {
      const double inv = Lb[b] > 0 ? 1.0 / Lb[b] : 0.0;
      for (std::int64_t v : mb)
        for (std::int64_t c = 0; c < k; ++c) work[v * k + c] = G[v * k + c] * inv;
    }
    ++res.iterations;
    touched.clear();
    for (std::int64_t v : mb) {
      const double* z = work.data() + v * k;
      for (std::int64_t c = 0; c < k; ++c) {
        X[v * k + c] -= z[c];
        G[v * k + c] -= P.diag[v] * z[c];
      }
      if (stamp[b] != it) {
        stamp[b] = it;
        touched.push_back(b);
      }
      for (std::int64_t e = g.ptr[v]; e < g.ptr[v + 1]; ++e) {
        const std::int64_t u = g.idx[e];
        const double w = g.w[e];
        for (std::int64_t c = 0; c < k; ++c) G[u * k + c] += w * z[c];
        const std::int64_t bu = block_of[u];
        if (stamp[bu] != it) {
          stamp[bu] = it;
          touched.push_back(bu);
        }
      }
    }
    if (greedy) {
      std::sort(touched.begin(), touched.end());
      for (std::int64_t t : touched) tree.set(t, score(t));
    }
    if ((it + 1) % nb == 0 || it + 1 == opt.max_iter) {
      ++epoch;
      bool stop = record(epoch);
      if (!stop && res.measure <= opt.tol) {
        P.template residual<KC>(X, G.data());  // confirm on a fresh residual (the kept one drifts)
        res.measure = std::sqrt(P.dot(G.data(), G.data())) / scale;
        res.history.back().measure = res.measure;
        if (res.measure <= opt.tol) {
          res.converged = true;
          stop = true;
        } else if (greedy) {
          for (std::int64_t t = 0; t < nb; ++t) tree.val[tree.size + t] = score(t);
          tree.build();
        }
      }
      if (stop) break;
    }
  }
  return res;
}

/// Implementation of `label_propagation_cg` (KC as above).
template <int KC>
BcdGlmResult label_propagation_cg_impl(
    const GraphCsr& g, const double* C, const double* lab, std::int64_t k_in, double* X,
    const std::vector<std::int64_t>& block_of, int precond, const LabelPropOptions& opt,
    const std::function<bool(const BcdGlmProgress&)>& progress = nullptr) {
  const std::int64_t k = KC > 0 ? KC : k_in;
  using clock = std::chrono::steady_clock;
  const auto t_start = clock::now();
  const std::int64_t n = g.n, nk = n * k;
  const detail::GraphProblem P = detail::make_graph_problem(g, C, lab, k, opt);
  std::vector<detail::ForestBlock> fb;
  if (precond == 2) {
    const std::vector<std::vector<std::int64_t>> members = detail::block_members(block_of);
    const std::int64_t nb = static_cast<std::int64_t>(members.size());
    std::vector<char> seen(static_cast<std::size_t>(n), 0);
    for (std::int64_t b = 0; b < nb; ++b)
      fb.push_back(detail::make_forest_block(g, members[b], block_of, b, seen, P.diag.data(),
                                             detail::kPrecondPiece));
  }
  const double cnorm = std::sqrt(P.dot(C, C));
  const double scale = cnorm > 0 ? cnorm : 1.0;
  std::vector<double> R(static_cast<std::size_t>(nk)), Z(R.size()), D(R.size()), Q(R.size());
  auto apply_prec = [&](const double* r, double* z) {
    if (precond == 2) {
      detail::forest_sweep<KC>(P, fb, r, z, 1);
      detail::forest_sweep<KC>(P, fb, r, z, 2);
    } else if (precond == 1) {
#pragma omp parallel for num_threads(P.nt) if (P.nt > 1) schedule(static, 4096)
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t c = 0; c < k; ++c)
          z[i * k + c] = P.diag[i] > 0 ? r[i * k + c] / P.diag[i] : 0.0;
    } else {
      std::copy(r, r + nk, z);
    }
  };
  // q sums over rows, f(i0, i1, acc) adding rows [i0, i1) into acc[0..q); chunks combined in
  // order (thread-count independent)
  const std::int64_t chunk = 8192, nch = n_blocks(n, chunk);
  std::vector<double> part;
  auto reduce = [&](std::int64_t q, std::vector<double>& out, auto&& f) {
    part.assign(static_cast<std::size_t>(nch * q), 0.0);
#pragma omp parallel for num_threads(P.nt) if (P.nt > 1 && nch > 1) schedule(static)
    for (std::int64_t ch = 0; ch < nch; ++ch)
      f(ch * chunk, std::min(n, (ch + 1) * chunk), part.data() + ch * q);
    out.assign(static_cast<std::size_t>(q), 0.0);
    for (std::int64_t ch = 0; ch < nch; ++ch)
      for (std::int64_t t = 0; t < q; ++t) out[t] += part[ch * q + t];
  };
  auto coldot = [&](const double* a, const double* b, std::vector<double>& out) {
    reduce(k, out, [&](std::int64_t i0, std::int64_t i1, double* acc) {
      for (std::int64_t i = i0; i < i1; ++i)
        for (std::int64_t c = 0; c < k; ++c) acc[c] += a[i * k + c] * b[i * k + c];
    });
  };
  const double cconst = detail::label_constant(C, lab, n, k, opt.lambda);
  BcdGlmResult res;
  // sums = {<R, R>, <X, R>, <C, X>} with R = C - M X:  F - const = -<X, R> - <C, X>
  auto record = [&](std::int64_t iter, const std::vector<double>& sums) {
    res.measure = std::sqrt(sums[0]) / scale;
    res.primal = -sums[1] - sums[2] + cconst;
    res.outer = iter;
    res.iterations = iter;
    const double secs = std::chrono::duration<double>(clock::now() - t_start).count();
    res.history.push_back({iter, iter, 1, n, res.primal, res.measure, secs});
    return progress && progress(res.history.back());
  };
  auto fresh_sums = [&](std::vector<double>& sums) {
    P.template residual<KC>(X, R.data());
    reduce(3, sums, [&](std::int64_t i0, std::int64_t i1, double* acc) {
      for (std::int64_t t = i0 * k; t < i1 * k; ++t) {
        R[t] = -R[t];
        acc[0] += R[t] * R[t];
        acc[1] += X[t] * R[t];
        acc[2] += C[t] * X[t];
      }
    });
  };
  std::vector<double> sums;
  fresh_sums(sums);
  if (record(0, sums)) return res;
  if (res.measure <= opt.tol) {
    res.converged = true;
    return res;
  }
  apply_prec(R.data(), Z.data());
  D = Z;
  std::vector<double> rz, dq, rz_new;
  coldot(R.data(), Z.data(), rz);
  std::vector<double> alpha(static_cast<std::size_t>(k)), beta(alpha.size());
  for (std::int64_t it = 1; it <= opt.max_iter; ++it) {
    // Q = M D and <D, Q> per column in one pass
    reduce(k, dq, [&](std::int64_t i0, std::int64_t i1, double* acc) {
      for (std::int64_t i = i0; i < i1; ++i) {
        double* o = Q.data() + i * k;
        const double* di = D.data() + i * k;
        for (std::int64_t c = 0; c < k; ++c) o[c] = P.diag[i] * di[c];
        for (std::int64_t e = g.ptr[i]; e < g.ptr[i + 1]; ++e) {
          const double w = g.w[e];
          const double* dj = D.data() + g.idx[e] * k;
          for (std::int64_t c = 0; c < k; ++c) o[c] -= w * dj[c];
        }
        for (std::int64_t c = 0; c < k; ++c) acc[c] += di[c] * o[c];
      }
    });
    for (std::int64_t c = 0; c < k; ++c) alpha[c] = dq[c] > 0 ? rz[c] / dq[c] : 0.0;
    reduce(3, sums, [&](std::int64_t i0, std::int64_t i1, double* acc) {
      for (std::int64_t i = i0; i < i1; ++i)
        for (std::int64_t c = 0; c < k; ++c) {
          const std::int64_t t = i * k + c;
          X[t] += alpha[c] * D[t];
          R[t] -= alpha[c] * Q[t];
          acc[0] += R[t] * R[t];
          acc[1] += X[t] * R[t];
          acc[2] += C[t] * X[t];
        }
    });
    const bool stop = record(it, sums);
    if (res.measure <= opt.tol) {
      fresh_sums(sums);  // confirm on a fresh residual (the recursive one drifts)
      res.measure = std::sqrt(sums[0]) / scale;
      res.primal = -sums[1] - sums[2] + cconst;
      res.history.back().measure = res.measure;
      res.history.back().primal = res.primal;
      if (res.measure <= opt.tol) {
        res.converged = true;
        break;
      }
    }
    if (stop) break;
    apply_prec(R.data(), Z.data());
    coldot(R.data(), Z.data(), rz_new);
    for (std::int64_t c = 0; c < k; ++c) beta[c] = rz[c] > 0 ? rz_new[c] / rz[c] : 0.0;
    rz = rz_new;
#pragma omp parallel for num_threads(P.nt) if (P.nt > 1) schedule(static, 4096)
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t c = 0; c < k; ++c) D[i * k + c] = Z[i * k + c] + beta[c] * D[i * k + c];
  }
  return res;
}

namespace detail {
/// Runs f on the problem renumbered so that each forest block's trees are contiguous, in
/// depth-first preorder (blocks one after another): every tree solve then walks memory in
/// order, and neighbours in the graph tend to be near in memory (a Cuthill-McKee-like
/// ordering); max_piece as in forest_dfs. f(g', C', lab', X', block_of') works in place on
/// X'; X is copied back.
template <class F>
BcdGlmResult with_forest_order(const GraphCsr& g, const double* C, const double* lab,
                               std::int64_t k, double* X, const std::vector<std::int64_t>& block_of,
                               std::int64_t max_piece, F&& f) {
  const std::int64_t n = g.n;
  const std::vector<std::vector<std::int64_t>> members = detail::block_members(block_of);
  const std::int64_t nb = static_cast<std::int64_t>(members.size());
  std::vector<std::int64_t> perm, inv(static_cast<std::size_t>(n)), trees;
  perm.reserve(static_cast<std::size_t>(n));
  std::vector<char> seen(static_cast<std::size_t>(n), 0);
  for (std::int64_t b = 0; b < nb; ++b)
    forest_dfs(
        g, members[b], block_of, b, seen,
        [&](std::int64_t v, std::int64_t, double) { perm.push_back(v); }, trees, max_piece);
  for (std::int64_t t = 0; t < n; ++t) inv[perm[t]] = t;
  const std::int64_t nnz = g.ptr[n];
  std::vector<std::int64_t> ptr(static_cast<std::size_t>(n + 1)),
      idx(static_cast<std::size_t>(nnz)), bo(static_cast<std::size_t>(n));
  std::vector<double> w(static_cast<std::size_t>(nnz)), Cp(static_cast<std::size_t>(n * k)),
      labp(static_cast<std::size_t>(n)), Xp(static_cast<std::size_t>(n * k));
  ptr[0] = 0;
  for (std::int64_t t = 0; t < n; ++t) {
    const std::int64_t v = perm[t];
    ptr[t + 1] = ptr[t] + g.ptr[v + 1] - g.ptr[v];
    for (std::int64_t e = g.ptr[v], o = ptr[t]; e < g.ptr[v + 1]; ++e, ++o) {
      idx[o] = inv[g.idx[e]];
      w[o] = g.w[e];
    }
    bo[t] = block_of[v];
    labp[t] = lab[v];
    std::copy(C + v * k, C + (v + 1) * k, Cp.data() + t * k);
    std::copy(X + v * k, X + (v + 1) * k, Xp.data() + t * k);
  }
  GraphCsr gp;
  gp.n = n;
  gp.ptr = ptr.data();
  gp.idx = idx.data();
  gp.w = w.data();
  BcdGlmResult res = f(gp, Cp.data(), labp.data(), Xp.data(), bo);
  for (std::int64_t t = 0; t < n; ++t)
    std::copy(Xp.data() + t * k, Xp.data() + (t + 1) * k, X + perm[t] * k);
  return res;
}

template <class F>
BcdGlmResult dispatch_k(std::int64_t k, F&& f) {
  switch (k) {
    case 1:
      return f(std::integral_constant<int, 1>{});
    case 2:
      return f(std::integral_constant<int, 2>{});
    case 3:
      return f(std::integral_constant<int, 3>{});
    case 4:
      return f(std::integral_constant<int, 4>{});
    case 5:
      return f(std::integral_constant<int, 5>{});
    case 6:
      return f(std::integral_constant<int, 6>{});
    case 8:
      return f(std::integral_constant<int, 8>{});
    case 10:
      return f(std::integral_constant<int, 10>{});
    default:
      return f(std::integral_constant<int, 0>{});
  }
}
}  // namespace detail

/// BCD for label propagation. X (n x k, row-major) holds the start and receives the result;
/// block_of gives each node's block (e.g. from `forest_blocks`), `forest` says the blocks are
/// acyclic (message passing) rather than general (dense Cholesky).
inline BcdGlmResult label_propagation_bcd(
    const GraphCsr& g, const double* C, const double* lab, std::int64_t k, double* X,
    const std::vector<std::int64_t>& block_of, bool forest, const LabelPropOptions& opt,
    const std::function<bool(const BcdGlmProgress&)>& progress = nullptr) {
  auto run = [&](const GraphCsr& g2, const double* C2, const double* lab2, double* X2,
                 const std::vector<std::int64_t>& bo2) {
    return detail::dispatch_k(k, [&](auto kc) {
      return label_propagation_bcd_impl<decltype(kc)::value>(g2, C2, lab2, k, X2, bo2, forest, opt,
                                                             progress);
    });
  };
  // the fast cyclic path is the one that walks whole blocks in order; the greedy rules touch
  // one block at a time and keep their own bookkeeping in the given order
  if (forest && opt.rule == BcdRule::cyclic && opt.update == BcdUpdate::newton)
    return detail::with_forest_order(g, C, lab, k, X, block_of, 0, run);
  return run(g, C, lab, X, block_of);
}

/// Conjugate gradients on M X = C (k right-hand sides solved together, one step length per
/// column), preconditioned by a symmetric forest Gauss-Seidel sweep (forward then backward
/// over the forest blocks; `precond` = 2), Jacobi (1) or nothing (0).
inline BcdGlmResult label_propagation_cg(
    const GraphCsr& g, const double* C, const double* lab, std::int64_t k, double* X,
    const std::vector<std::int64_t>& block_of, int precond, const LabelPropOptions& opt,
    const std::function<bool(const BcdGlmProgress&)>& progress = nullptr) {
  auto run = [&](const GraphCsr& g2, const double* C2, const double* lab2, double* X2,
                 const std::vector<std::int64_t>& bo2) {
    return detail::dispatch_k(k, [&](auto kc) {
      return label_propagation_cg_impl<decltype(kc)::value>(g2, C2, lab2, k, X2, bo2, precond, opt,
                                                            progress);
    });
  };
  if (precond == 2)
    return detail::with_forest_order(g, C, lab, k, X, block_of, detail::kPrecondPiece, run);
  return run(g, C, lab, X, block_of);
}

}  // namespace sparsketch
